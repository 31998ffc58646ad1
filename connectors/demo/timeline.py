"""When each source row was written, and so which version of its person it holds.

A row written before a person moved (or changed email) still shows the old value; a row written
after shows the new one. Every person with rows on both sides of a change therefore gives the
hub a conflict whose newest value is the right one. Consent works the other way round: for a
share of app users the app holds a choice newer than anything web or CRM recorded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.demo.population import REFERENCE_TIME, SYSTEMS

DUPLICATE_RATE = {"billing": 0.04, "web": 0.03, "app": 0.025, "crm": 0.045}
# How far back each system's oldest rows go, in days.
_HISTORY_DAYS = {"billing": 3650, "web": 2900, "app": 1800, "crm": 2200}
ADDRESS_SYSTEMS = ("billing", "web", "crm")
APP_CONSENT_CHANGE_SHARE = 0.2  # of app users also known to web or crm
_NOW = int(REFERENCE_TIME.astype(np.int64))
_WEEK = 7 * 86400


def records(rng: np.random.Generator, people: pd.DataFrame) -> pd.DataFrame:
    """One row per source row: person, system, whether it is a second entry, and its times.

    Times are epoch seconds: `created`, `modified` (the source's last-modified time) and
    `consent_at` (when the consent held by the row was recorded).
    """
    parts = []
    for system in SYSTEMS:
        members = np.flatnonzero(people[f"in_{system}"].to_numpy())
        again = rng.choice(members, round(DUPLICATE_RATE[system] * len(members)), replace=False)
        parts.append(
            pd.DataFrame(
                {
                    "person_id": np.concatenate([members, again]),
                    "system": system,
                    "duplicate": np.arange(len(members) + len(again)) >= len(members),
                }
            )
        )
    rec = pd.concat(parts, ignore_index=True)
    n = len(rec)
    history = rec["system"].map(_HISTORY_DAYS).to_numpy() * 86400
    age = (_WEEK + rng.random(n) * (history - _WEEK)).astype(np.int64)
    created = _NOW - age
    modified = created + (rng.random(n) * age).astype(np.int64)
    consent_at = created + (rng.random(n) * (modified - created)).astype(np.int64)
    rec["created"], rec["modified"], rec["consent_at"] = created, modified, consent_at
    _app_consent_changes(rng, people, rec)
    rec["new_address"] = _after_change(rng, rec, people["moved"].to_numpy(), ADDRESS_SYSTEMS)
    rec["new_email"] = _after_change(rng, rec, people["old_email"].notna().to_numpy(), SYSTEMS)
    return rec


def _app_consent_changes(rng: np.random.Generator, people: pd.DataFrame, rec: pd.DataFrame) -> None:
    """Flip email consent in the app after every other row of the person was last written."""
    pid = rec["person_id"].to_numpy()
    known_elsewhere = (people["in_web"] | people["in_crm"]).to_numpy()[pid]
    is_app = (rec["system"] == "app").to_numpy() & ~rec["duplicate"].to_numpy()
    changed = is_app & known_elsewhere & (rng.random(len(rec)) < APP_CONSENT_CHANGE_SHARE)
    # Changed people have rows in web or crm, so every one has a latest other row.
    latest = rec["modified"].where(~changed).groupby(pid).transform("max").to_numpy()[changed].astype(np.int64)
    consent_at = latest + ((_NOW - latest) * rng.uniform(0.1, 0.9, len(latest))).astype(np.int64)
    rec.loc[changed, "consent_at"] = consent_at
    rec.loc[changed, "modified"] = consent_at + ((_NOW - consent_at) * rng.random(len(latest))).astype(np.int64)
    rec["consent_changed"] = changed


def _after_change(
    rng: np.random.Generator, rec: pd.DataFrame, changed_people: np.ndarray, systems: tuple[str, ...]
) -> np.ndarray:
    """True where a row holds the current value: its person never changed it, or it was written after.

    The change happens between the person's oldest and newest row in `systems`, so a person
    with two or more such rows has at least one old and one new value.
    """
    pid = rec["person_id"].to_numpy()
    modified = rec["modified"].where(rec["system"].isin(systems))
    by_person = modified.groupby(pid)
    low = by_person.transform("min").to_numpy()
    high = by_person.transform("max").to_numpy()
    share = rng.uniform(0.05, 0.95, len(changed_people))[pid]
    changed_at = low + (high - low) * share
    return ~(changed_people[pid] & (rec["modified"].to_numpy() < changed_at))


def facts(people: pd.DataFrame, rec: pd.DataFrame) -> pd.DataFrame:
    """What each row of `rec` says about its person: the values as of the row's own time."""
    pid = rec["person_id"].to_numpy()
    p = people.iloc[pid].reset_index(drop=True)
    out = rec.reset_index(drop=True).copy()
    for column in (
        "country",
        "first_name",
        "last_name",
        "dob",
        "phone_index",
        "preferred_channel",
        "consent_sms",
        "consent_phone",
        "consent_post",
    ):
        out[column] = p[column].to_numpy()
    out["email"] = np.where(out["new_email"], p["email"], p["old_email"])
    for column in ("street", "street2", "city", "region", "postcode"):
        out[column] = np.where(out["new_address"], p[column], p[f"old_{column}"])
    out["consent_email"] = p["consent_email"].to_numpy() ^ out["consent_changed"].to_numpy()
    return out
