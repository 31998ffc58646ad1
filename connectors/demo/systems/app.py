"""The mobile app's backend (UK only, or the flavour's app countries): profiles keyed by UUID, no postal address.

One display name, the mobile as bare digits with the country code, US-style dates, opt-in
flags as 'true'/'false' and epoch times. Its consent choices are often the newest anywhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.demo import bad_rows, formats, identifiers, noise, phones
from connectors.demo.flavours import DEFAULT, Flavour
from connectors.demo.store import Table
from connectors.demo.systems.common import NOW, SourceBuild, events, in_creation_order, truth

# Exported from a document store, so the key column carries no constraint and can be empty.
PROFILES = """CREATE TABLE profiles (
    profile_uuid       TEXT,
    display_name       TEXT,
    email              TEXT,
    mobile             TEXT,     -- digits with country code, e.g. 447700900123
    dob                TEXT,     -- MM/DD/YYYY
    email_opt_in       TEXT NOT NULL,
    sms_opt_in         TEXT NOT NULL,
    push_opt_in        TEXT NOT NULL,
    consent_updated_at INTEGER NOT NULL,  -- epoch seconds
    preferred_channel  TEXT,     -- E email, S sms, P phone, M post
    app_version        TEXT,
    last_modified_ms   INTEGER NOT NULL   -- epoch milliseconds
)"""

DEVICES = """CREATE TABLE devices (
    device_id    TEXT PRIMARY KEY,
    profile_uuid TEXT NOT NULL,
    platform     TEXT NOT NULL,
    push_token   TEXT,
    last_seen    INTEGER NOT NULL  -- epoch seconds
)"""

_VERSIONS = {"4.8.2": 0.1, "5.0.1": 0.15, "5.1.0": 0.25, "5.2.3": 0.5}


def build(rng: np.random.Generator, facts: pd.DataFrame, flavour: Flavour = DEFAULT) -> SourceBuild:
    f = in_creation_order(facts)
    n, dup = len(f), f["duplicate"].to_numpy()

    first = noise.nicknames(rng, f["first_name"], noise.per_row(dup, 0.2, factor=1.5))
    first = noise.typos(rng, first, noise.per_row(dup, 0.02))
    last = noise.typos(rng, f["last_name"], noise.per_row(dup, 0.02))
    first, last = noise.swap(rng, first, last, 0.005)
    display = noise.stray_spaces(rng, noise.recase(rng, first + " " + last, lower=0.06), 0.02)

    mobile = noise.blank(rng, phones.render(f["country"].to_numpy(), f["phone_index"].to_numpy(), "digits"), 0.10)
    dob = noise.blank(rng, formats.render(f["dob"].to_numpy(), "%m/%d/%Y"), 0.25)
    reasons = bad_rows.spoil(
        rng, (bad_rows.MISSING_KEY, bad_rows.BAD_DATE, bad_rows.BAD_PHONE), dob, f["dob"].to_numpy(), "%m/%d/%Y", mobile
    )
    keys = identifiers.uuid4(rng, n)
    has_key = bad_rows.drop_keys(keys, reasons)

    push = rng.random(n) < 0.55
    profiles = pd.DataFrame(
        {
            "profile_uuid": keys,
            "display_name": display,
            "email": noise.blank(rng, noise.email_noise(rng, f["email"], 0.05), 0.02),
            "mobile": mobile,
            "dob": dob,
            "email_opt_in": np.where(f["consent_email"], "true", "false"),
            "sms_opt_in": np.where(f["consent_sms"], "true", "false"),
            "push_opt_in": np.where(push, "true", "false"),
            "consent_updated_at": f["consent_at"].to_numpy(),
            "preferred_channel": noise.blank(rng, f["preferred_channel"], 0.05),
            "app_version": rng.choice(list(_VERSIONS), n, p=list(_VERSIONS.values())),
            "last_modified_ms": f["modified"].to_numpy() * 1000 + rng.integers(0, 1000, n),
        }
    )

    owners = np.flatnonzero(has_key)
    parent, first_seen = events(rng, f["created"].to_numpy()[owners], mean=1.3, cap=3, least=1)
    seen = first_seen + (rng.random(len(parent)) * (NOW - first_seen)).astype(np.int64)
    devices = pd.DataFrame(
        {
            "device_id": identifiers.uuid4(rng, len(parent)),
            "profile_uuid": keys[owners][parent],
            "platform": np.where(rng.random(len(parent)) < 0.55, "ios", "android"),
            "push_token": np.where(  # type: ignore[call-overload]  # numpy stubs lack None as a fill value
                push[owners][parent], identifiers.random_text(rng, len(parent), 64, identifiers.HEX), None
            ),
            "last_seen": seen,
        }
    ).sort_values("device_id", ignore_index=True)
    return SourceBuild(
        tables=[
            Table(
                "profiles",
                PROFILES,
                profiles,
                (
                    "CREATE UNIQUE INDEX ux_profiles_uuid ON profiles (profile_uuid)",
                    "CREATE INDEX ix_profiles_email ON profiles (email)",
                ),
            ),
            Table("devices", DEVICES, devices, ("CREATE INDEX ix_devices_profile ON devices (profile_uuid)",)),
        ],
        truth=truth(keys, f, reasons),
    )
