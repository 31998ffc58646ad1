"""The web shop: a typical web-framework users table.

Split names, international phone numbers, ISO dates, one free-text street line, alpha-2
country codes and a newsletter flag (email consent) with the time it last changed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.demo import bad_rows, formats, identifiers, noise, phones
from connectors.demo import vocabulary as vocab
from connectors.demo.emails import make_unique
from connectors.demo.flavours import DEFAULT, Flavour
from connectors.demo.store import Table
from connectors.demo.systems.common import SourceBuild, events, in_creation_order, truth

USERS = """CREATE TABLE users (
    id                    INTEGER PRIMARY KEY,
    username              TEXT NOT NULL,
    email                 TEXT NOT NULL,
    first_name            TEXT,
    last_name             TEXT,
    phone                 TEXT,
    birthday              TEXT,     -- YYYY-MM-DD
    street_address        TEXT,
    city                  TEXT,
    state                 TEXT,
    zip                   TEXT,
    country_code          TEXT,
    newsletter            INTEGER NOT NULL,
    newsletter_changed_at TEXT,     -- YYYY-MM-DDTHH:MM:SS
    password_hash         TEXT NOT NULL,
    last_login_ip         TEXT,
    created_at            TEXT NOT NULL,
    updated_at            TEXT NOT NULL
)"""

SESSIONS = """CREATE TABLE sessions (
    session_id TEXT PRIMARY KEY,
    user_id    INTEGER NOT NULL REFERENCES users (id),
    started_at TEXT NOT NULL,
    user_agent TEXT
)"""

_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_DOC_NETWORKS = np.array(["192.0.2.", "198.51.100.", "203.0.113."], dtype=object)  # RFC 5737


def build(rng: np.random.Generator, facts: pd.DataFrame, flavour: Flavour = DEFAULT) -> SourceBuild:
    f = in_creation_order(facts)
    n, dup = len(f), f["duplicate"].to_numpy()
    country = f["country"].to_numpy()

    first = noise.nicknames(rng, f["first_name"], noise.per_row(dup, 0.08))
    first = noise.typos(rng, first, noise.per_row(dup, 0.015))
    last = noise.typos(rng, f["last_name"], noise.per_row(dup, 0.015))
    first, last = noise.swap(rng, first, last, 0.01)
    lower = np.where(rng.random(n) < 0.04, 1.0, 0.0)  # people who type everything in lower case
    first, last = noise.recase(rng, first, lower=lower), noise.recase(rng, last, lower=lower)

    phone = noise.blank(rng, phones.render(country, f["phone_index"].to_numpy(), "international"), 0.35)
    birthday = noise.blank(rng, formats.render(f["dob"].to_numpy(), "%Y-%m-%d"), 0.30)
    reasons = bad_rows.spoil(
        rng, (bad_rows.BAD_DATE, bad_rows.BAD_PHONE), birthday, f["dob"].to_numpy(), "%Y-%m-%d", phone
    )

    no_address = np.where(rng.random(n) < 0.2, 1.0, 0.0)  # the address form is optional
    street, street2 = f["street"].astype(object), f["street2"].astype(object)
    # "Flat 3, 12 Oak Road" where the British way is usual; elsewhere the unit follows the street.
    with_unit = np.where(np.isin(country, ("GB", "IE", "AU")), street2 + ", " + street, street + " " + street2)
    one_line = street.where(street2.isna(), with_unit)
    postcode = noise.recase(rng, f["postcode"], lower=0.03)
    postcode = pd.Series(np.where(rng.random(n) < 0.03, postcode.str.replace(" ", ""), postcode), dtype=object)

    users = pd.DataFrame(
        {
            "id": 1 + np.cumsum(rng.integers(1, 3, n)),
            "username": _usernames(rng, first, last),
            "email": noise.email_noise(rng, f["email"], noise.per_row(dup, 0.08, factor=5)),
            "first_name": noise.blank(rng, noise.stray_spaces(rng, first, 0.02), 0.01),
            "last_name": noise.blank(rng, noise.stray_spaces(rng, last, 0.02), 0.01),
            "phone": phone,
            "birthday": birthday,
            "street_address": noise.blank(rng, one_line, no_address),
            "city": noise.blank(rng, f["city"], no_address),
            "state": noise.blank(rng, f["region"], no_address),
            "zip": noise.blank(rng, postcode, no_address),
            "country_code": noise.recase(rng, f["country"], lower=0.01),
            "newsletter": f["consent_email"].astype(np.int64),
            "newsletter_changed_at": formats.render(f["consent_at"].to_numpy(), "%Y-%m-%dT%H:%M:%S"),
            "password_hash": "$2b$12$" + identifiers.random_text(rng, n, 53, _BCRYPT_ALPHABET),
            "last_login_ip": noise.blank(
                rng, rng.choice(_DOC_NETWORKS, n) + rng.integers(1, 255, n).astype(str).astype(object), 0.1
            ),
            "created_at": formats.render(f["created"].to_numpy(), "%Y-%m-%dT%H:%M:%S"),
            "updated_at": formats.render(f["modified"].to_numpy(), "%Y-%m-%dT%H:%M:%S"),
        }
    )

    parent, started = events(rng, f["created"].to_numpy(), mean=1.5, cap=6)
    sessions = pd.DataFrame(
        {
            "session_id": identifiers.random_text(rng, len(parent), 32, identifiers.HEX),
            "user_id": users["id"].to_numpy()[parent],
            "started_at": formats.render(started, "%Y-%m-%dT%H:%M:%S"),
            "user_agent": rng.choice(vocab.USER_AGENTS, len(parent)),
        }
    ).sort_values("session_id", ignore_index=True)
    return SourceBuild(
        tables=[
            Table("users", USERS, users, ("CREATE INDEX ix_users_email ON users (email)",)),
            Table("sessions", SESSIONS, sessions, ("CREATE INDEX ix_sessions_user ON sessions (user_id)",)),
        ],
        truth=truth(users["id"].astype(str), f, reasons),
    )


def _usernames(rng: np.random.Generator, first: pd.Series, last: pd.Series) -> np.ndarray:
    """'jsmith', 'jsmith84': initial and surname, made unique the way sign-up forms insist."""
    initial = first.str.lower().str.replace(r"[^a-z]", "", regex=True).str[:1]
    surname = last.str.lower().str.replace(r"[^a-z]", "", regex=True)
    return make_unique(rng, (initial + surname).to_numpy(dtype=object))
