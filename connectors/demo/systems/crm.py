"""The CRM: a Salesforce-style Contact export.

18-character ids, phones typed by sales staff in any format, a multi-line street, alpha-3
countries, and an *opt-out* email flag (1 = no email consent) plus DoNotCall.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.demo import bad_rows, formats, identifiers, noise, phones
from connectors.demo import vocabulary as vocab
from connectors.demo.flavours import DEFAULT, Flavour
from connectors.demo.store import Table
from connectors.demo.systems.common import SourceBuild, country_column, events, in_creation_order, truth

# An export, so `Id` carries no constraint: a few rows lost their id on the way.
CONTACTS = """CREATE TABLE contacts (
    Id                 TEXT,
    FirstName          TEXT,
    LastName           TEXT,
    Email              TEXT,
    Phone              TEXT,
    Birthdate          TEXT,     -- YYYY-MM-DD
    MailingStreet      TEXT,     -- street, then a line break and the flat / unit
    MailingCity        TEXT,
    MailingState       TEXT,
    MailingPostalCode  TEXT,
    MailingCountry     TEXT,     -- ISO alpha-3
    HasOptedOutOfEmail INTEGER NOT NULL,
    DoNotCall          INTEGER NOT NULL,
    OwnerId            TEXT NOT NULL,
    LeadSource         TEXT,
    CreatedDate        TEXT NOT NULL,
    LastModifiedDate   TEXT NOT NULL,  -- YYYY-MM-DDTHH:MM:SS.000+0000
    Master_Id__c       TEXT      -- the hub writes its golden id here
)"""

ACTIVITIES = """CREATE TABLE activities (
    Id           TEXT PRIMARY KEY,
    WhoId        TEXT NOT NULL,
    Subject      TEXT NOT NULL,
    ActivityDate TEXT NOT NULL
)"""

_LEAD_SOURCES = np.array(["Web", "Phone Inquiry", "Partner Referral", "Trade Show", "Other", None], dtype=object)
_SUBJECTS = np.array(["Call", "Email", "Follow-up", "Meeting", "Send Quote", "Renewal reminder"], dtype=object)
_SF_TIME = "%Y-%m-%dT%H:%M:%S.000+0000"


def build(rng: np.random.Generator, facts: pd.DataFrame, flavour: Flavour = DEFAULT) -> SourceBuild:
    f = in_creation_order(facts)
    n, dup = len(f), f["duplicate"].to_numpy()
    country = f["country"].to_numpy()

    first = noise.nicknames(rng, f["first_name"], noise.per_row(dup, 0.06))
    first = noise.typos(rng, first, noise.per_row(dup, 0.015))
    last = noise.typos(rng, f["last_name"], noise.per_row(dup, 0.015))
    first, last = noise.swap(rng, first, last, 0.015)

    style = np.empty(n, dtype=object)
    for code in flavour.countries:
        rows = np.flatnonzero(country == code)
        style[rows] = rng.choice(np.array(phones.loose_styles(code, flavour.home), dtype=object), len(rows))
    phone = noise.blank(rng, phones.render(country, f["phone_index"].to_numpy(), style), 0.12)
    birthdate = noise.blank(rng, formats.render(f["dob"].to_numpy(), "%Y-%m-%d"), 0.45)
    reasons = bad_rows.spoil(
        rng,
        (bad_rows.MISSING_KEY, bad_rows.BAD_DATE, bad_rows.BAD_PHONE),
        birthdate,
        f["dob"].to_numpy(),
        "%Y-%m-%d",
        phone,
    )
    keys = identifiers.salesforce_ids(rng, n, "0035g0000")
    has_key = bad_rows.drop_keys(keys, reasons)

    no_address = np.where(rng.random(n) < 0.1, 1.0, 0.0)
    street = f["street"].astype(object)
    street = street.where(f["street2"].isna(), street + "\n" + f["street2"].astype(object))
    # Copies: a column with no text at all (no US rows) is object dtype, whose to_numpy is a read-only view.
    state = f["region"].to_numpy(dtype=object, na_value=None, copy=True)  # type: ignore[call-overload]  # stubs lack na_value=None
    spelled = pd.notna(state) & (rng.random(n) < 0.2)  # state picklist off: some typed the full name
    spelled_names = {"US": vocab.US_STATE_NAMES, "AU": vocab.AU_STATE_NAMES}
    state[spelled] = [spelled_names[c][s] for c, s in zip(country[spelled], state[spelled], strict=True)]
    postcode = f["postcode"].to_numpy(dtype=object, copy=True)
    zip4 = (country == "US") & (rng.random(n) < 0.1)
    if zip4.any():  # np.char.zfill cannot size an empty array
        postcode[zip4] = postcode[zip4] + "-" + np.char.zfill(rng.integers(1, 9999, zip4.sum()).astype(str), 4)

    owners = identifiers.salesforce_ids(rng, 12, "0055g0000")
    contacts = pd.DataFrame(
        {
            "Id": keys,
            "FirstName": noise.blank(rng, noise.stray_spaces(rng, first, 0.02), 0.01),
            "LastName": noise.recase(rng, noise.stray_spaces(rng, last, 0.02), upper=0.01),
            "Email": noise.blank(rng, noise.email_noise(rng, f["email"], 0.05), 0.08),
            "Phone": phone,
            "Birthdate": birthdate,
            "MailingStreet": noise.blank(rng, street, no_address),
            "MailingCity": noise.blank(rng, noise.recase(rng, f["city"], upper=0.02), no_address),
            "MailingState": noise.blank(rng, state, no_address),
            "MailingPostalCode": noise.blank(rng, postcode, no_address),
            "MailingCountry": country_column(country, "alpha_3"),
            "HasOptedOutOfEmail": (~f["consent_email"].to_numpy()).astype(np.int64),
            "DoNotCall": (~f["consent_phone"].to_numpy()).astype(np.int64),
            "OwnerId": rng.choice(owners, n),
            "LeadSource": rng.choice(_LEAD_SOURCES, n),
            "CreatedDate": formats.render(f["created"].to_numpy(), _SF_TIME),
            "LastModifiedDate": formats.render(f["modified"].to_numpy(), _SF_TIME),
            "Master_Id__c": None,
        }
    )

    with_id = np.flatnonzero(has_key)
    parent, when = events(rng, f["created"].to_numpy()[with_id], mean=1.5, cap=6)
    activities = pd.DataFrame(
        {
            "Id": identifiers.salesforce_ids(rng, len(parent), "00T5g0000"),
            "WhoId": keys[with_id][parent],
            "Subject": rng.choice(_SUBJECTS, len(parent)),
            "ActivityDate": formats.render(when, "%Y-%m-%d"),
        }
    )
    return SourceBuild(
        tables=[
            Table(
                "contacts",
                CONTACTS,
                contacts,
                (
                    "CREATE UNIQUE INDEX ux_contacts_id ON contacts (Id)",
                    "CREATE INDEX ix_contacts_email ON contacts (Email)",
                ),
            ),
            Table(
                "activities",
                ACTIVITIES,
                activities,
                ("CREATE INDEX ix_activities_who ON activities (WhoId)",),
            ),
        ],
        truth=truth(keys, f, reasons),
    )
