"""The billing system: a UK accounts database from before anyone thought about customer data.

One holder name column ('SMITH, John'), UK-style dates, phones in national format (foreign
numbers in international format), country names, and a paperless flag that doubles as post consent.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.demo import bad_rows, formats, noise, phones
from connectors.demo.flavours import DEFAULT, Flavour
from connectors.demo.store import Table
from connectors.demo.systems.common import SourceBuild, country_column, events, in_creation_order, truth

ACCOUNTS = """CREATE TABLE accounts (
    account_no       INTEGER PRIMARY KEY,
    holder_name      TEXT,
    email_address    TEXT,
    phone            TEXT,
    billing_street   TEXT,
    billing_street2  TEXT,
    billing_city     TEXT,
    billing_postcode TEXT,
    billing_country  TEXT,
    date_of_birth    TEXT,       -- DD/MM/YYYY
    paperless        TEXT NOT NULL,  -- 'Y': statements by email only (no post)
    credit_limit     INTEGER,
    account_status   TEXT NOT NULL,
    opened_on        TEXT NOT NULL,
    modified_on      TEXT NOT NULL,  -- YYYY-MM-DD HH:MM:SS
    hub_customer_id  TEXT        -- the hub writes its golden id here
)"""

INVOICES = """CREATE TABLE invoices (
    invoice_id INTEGER PRIMARY KEY,
    account_no INTEGER NOT NULL REFERENCES accounts (account_no),
    amount     REAL NOT NULL,
    issued_on  TEXT NOT NULL
)"""


def build(rng: np.random.Generator, facts: pd.DataFrame, flavour: Flavour = DEFAULT) -> SourceBuild:
    f = in_creation_order(facts)
    n, dup = len(f), f["duplicate"].to_numpy()
    country = f["country"].to_numpy()

    first = noise.nicknames(rng, f["first_name"], noise.per_row(dup, 0.03))
    first = noise.typos(rng, first, noise.per_row(dup, 0.012))
    last = noise.typos(rng, f["last_name"], noise.per_row(dup, 0.012))
    first, last = noise.swap(rng, first, last, 0.004)
    # A system older than accented letters: names, streets and towns in ASCII ("WAEHNER, Inès" -> "WAEHNER, Ines").
    first, last = noise.ascii_only(first), noise.ascii_only(last)
    holder = noise.stray_spaces(rng, last.str.upper() + ", " + first, 0.02)

    home = np.where(country == flavour.home, "national", "international")
    phone = phones.render(country, f["phone_index"].to_numpy(), home)
    phone = noise.blank(rng, phone, 0.10)
    dob = noise.blank(rng, formats.render(f["dob"].to_numpy(), "%d/%m/%Y"), 0.06)

    reasons = bad_rows.spoil(rng, (bad_rows.BAD_DATE, bad_rows.BAD_PHONE), dob, f["dob"].to_numpy(), "%d/%m/%Y", phone)

    country_name = country_column(country, "name")
    closed = rng.random(n) < np.where(dup, 0.5, 0.06)  # a second account is often the closed old one
    accounts = pd.DataFrame(
        {
            "account_no": 100_000 + np.cumsum(rng.integers(1, 4, n)),
            "holder_name": holder,
            "email_address": noise.blank(rng, noise.email_noise(rng, f["email"], 0.06), 0.04),
            "phone": phone,
            "billing_street": noise.blank(rng, noise.stray_spaces(rng, noise.ascii_only(f["street"]), 0.01), 0.01),
            "billing_street2": noise.ascii_only(f["street2"]),
            "billing_city": noise.blank(rng, noise.recase(rng, noise.ascii_only(f["city"]), upper=0.05), 0.01),
            "billing_postcode": noise.blank(rng, f["postcode"], 0.015),
            "billing_country": noise.recase(rng, pd.Series(country_name, dtype=object), upper=0.03),
            "date_of_birth": dob,
            "paperless": np.where(f["consent_post"], "N", "Y"),
            "credit_limit": rng.choice(np.array([250, 500, 1000, 1500, 2500, 5000]), n),
            "account_status": np.where(closed, "closed", np.where(rng.random(n) < 0.03, "suspended", "active")),
            "opened_on": formats.render(f["created"].to_numpy(), "%Y-%m-%d"),
            "modified_on": formats.render(f["modified"].to_numpy(), "%Y-%m-%d %H:%M:%S"),
            "hub_customer_id": None,
        }
    )

    parent, issued = events(rng, f["created"].to_numpy(), mean=1.9, cap=3, least=1)
    invoices = pd.DataFrame(
        {
            "invoice_id": 5_000_001 + np.arange(len(parent)),
            "account_no": accounts["account_no"].to_numpy()[parent],
            "amount": np.round(rng.lognormal(3.6, 0.6, len(parent)), 2),
            "issued_on": formats.render(issued, "%Y-%m-%d"),
        }
    )
    return SourceBuild(
        tables=[
            Table(
                "accounts",
                ACCOUNTS,
                accounts,
                ("CREATE INDEX ix_accounts_email ON accounts (email_address)",),
            ),
            Table("invoices", INVOICES, invoices, ("CREATE INDEX ix_invoices_account ON invoices (account_no)",)),
        ],
        truth=truth(accounts["account_no"].astype(str), f, reasons),
    )
