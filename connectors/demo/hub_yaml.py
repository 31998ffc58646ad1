"""The hub.yaml written next to the demo databases: a worked example of mapping four schemas."""

from __future__ import annotations

from pathlib import Path

import pycountry

from connectors.demo.flavours import DEFAULT, Flavour

HUB_YAML = """\
# Written by `hub demo init`: the four demo source systems mapped to the canonical model.
# Relative paths and sqlite URLs are resolved against this file's folder. A consent field without
# its own *_at column counts as recorded at the row's updated_at time.
workspace: .hub/workspace.duckdb
serving_store: sqlite:///.hub/serving.db
# `hub run`, `hub review apply` and the runs `hub serve` starts are recorded in this Dagster instance:
# `DAGSTER_HOME=<this folder>/.dagster dagster dev` shows them all.
pipeline:
  dagster_home: .dagster

sources:
  billing:
    kind: sql
    url: sqlite:///billing.db
    table: accounts
    primary_key: account_no
    updated_at: modified_on
    updated_at_format: "%Y-%m-%d %H:%M:%S"
    default_region: GB
    fields:
      first_name: {column: holder_name, transform: split_name, order: last_comma_first, part: first}
      last_name: {column: holder_name, transform: split_name, order: last_comma_first, part: last}
      email: email_address
      # National format for UK numbers; the few foreign ones are stored with their +1.
      phone: {column: phone, transform: phone, write_format: national}
      date_of_birth: {column: date_of_birth, transform: date, format: "%d/%m/%Y"}
      address_line1: billing_street
      address_line2: billing_street2
      city: billing_city
      postal_code: billing_postcode
      country: {column: billing_country, transform: country, write_format: name}
      # Paperless billing means the customer declined post.
      consent_post: {column: paperless, transform: consent, granted: ["N"], denied: ["Y"]}
    accepts: [first_name, last_name, email, phone, date_of_birth, address_line1, address_line2, city,
              postal_code, country]
    golden_id: {column: hub_customer_id}

  web:
    kind: sql
    url: sqlite:///web.db
    table: users
    primary_key: id
    updated_at: updated_at
    updated_at_format: "%Y-%m-%dT%H:%M:%S"
    default_region: GB
    fields:
      first_name: first_name
      last_name: last_name
      email: email
      phone: {column: phone, transform: phone, write_format: international}
      date_of_birth: {column: birthday, transform: date, format: "%Y-%m-%d"}
      # One free-text line: "Flat 3, 12 Oak Road".
      address_line1: street_address
      city: city
      region: state
      postal_code: zip
      country: {column: country_code, transform: country, write_format: alpha2}
      consent_email: {column: newsletter, transform: consent, granted: ["1"], denied: ["0"]}
      consent_email_at: {column: newsletter_changed_at, transform: timestamp, format: iso}
    accepts: [first_name, last_name, email, phone, date_of_birth, address_line1, city, region, postal_code,
              country, consent_email, consent_email_at]
    # The users table has no spare column: the golden id goes to a side table.
    golden_id: {table: hub_golden_ids}

  app:
    kind: sql
    url: sqlite:///app.db
    table: profiles
    primary_key: profile_uuid
    updated_at: last_modified_ms
    updated_at_format: epoch_ms
    default_region: GB
    fields:
      first_name: {column: display_name, transform: split_name, order: first_last, part: first}
      last_name: {column: display_name, transform: split_name, order: first_last, part: last}
      email: email
      # Digits with the country code (447700900123).
      phone: {column: mobile, transform: phone, write_format: digits}
      date_of_birth: {column: dob, transform: date, format: "%m/%d/%Y"}
      consent_email: {column: email_opt_in, transform: consent, granted: ["true"], denied: ["false"]}
      consent_email_at: {column: consent_updated_at, transform: timestamp, format: epoch}
      consent_sms: {column: sms_opt_in, transform: consent, granted: ["true"], denied: ["false"]}
      consent_sms_at: {column: consent_updated_at, transform: timestamp, format: epoch}
      preferred_channel:
        column: preferred_channel
        transform: map
        values: {E: email, S: sms, P: phone, M: post}
    # No postal fields here. The app keeps its own consent: both times live in one column.
    accepts: [first_name, last_name, email, phone, date_of_birth]

  crm:
    kind: sql
    url: sqlite:///crm.db
    table: contacts
    primary_key: Id
    updated_at: LastModifiedDate
    updated_at_format: "%Y-%m-%dT%H:%M:%S.%f%z"
    default_region: GB
    fields:
      first_name: FirstName
      last_name: LastName
      email: Email
      phone: {column: Phone, transform: phone, write_format: international}
      date_of_birth: {column: Birthdate, transform: date, format: "%Y-%m-%d"}
      # Street and flat on separate lines of one field.
      address_line1: MailingStreet
      city: MailingCity
      region: MailingState
      postal_code: MailingPostalCode
      country: {column: MailingCountry, transform: country, write_format: alpha3}
      # An opt-OUT flag: 1 means no email consent.
      consent_email: {column: HasOptedOutOfEmail, transform: consent, granted: ["0"], denied: ["1"]}
      # Not being on the do-not-call list is no recorded choice.
      consent_phone: {column: DoNotCall, transform: consent, granted: [], denied: ["1"], unknown: ["0"]}
    accepts: [first_name, last_name, email, phone, date_of_birth, address_line1, city, region, postal_code,
              country, consent_email]
    golden_id: {column: Master_Id__c}
"""


def hub_yaml(flavour: Flavour = DEFAULT) -> str:
    """The default flavour's file as it always was; another flavour's company reads phone numbers
    without a country code in its own country."""
    if flavour.home == DEFAULT.home:
        return HUB_YAML
    home = pycountry.countries.lookup(flavour.home).name
    text = HUB_YAML.replace("default_region: GB", f"default_region: {flavour.home}")
    text = text.replace(
        "# National format for UK numbers; the few foreign ones are stored with their +1.",
        f"# National format for numbers in {home}; foreign ones are stored with their country code.",
    )
    return text.replace("# Written by `hub demo init`:", f"# Written by `hub demo init --flavour {flavour.name}`:")


def write_hub_yaml(directory: Path, flavour: Flavour = DEFAULT) -> Path:
    path = directory / "hub.yaml"
    path.write_text(hub_yaml(flavour))
    return path
