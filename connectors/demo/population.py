"""The true people behind the demo: who they are and which systems know them.

Every source row is derived from one of these people, so the population is the ground truth
the hub's matching is scored against.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from connectors.demo import phones
from connectors.demo import vocabulary as vocab
from connectors.demo.addresses import addresses
from connectors.demo.emails import emails, make_unique
from connectors.demo.flavours import DEFAULT, Flavour

# The demo world's "now": every timestamp is derived from it, never from the clock.
REFERENCE_TIME = np.datetime64("2026-01-01T00:00:00", "s")

SYSTEMS = ("billing", "web", "app", "crm")

# How many systems a person is in, and how strongly each system attracts people; together they
# give about billing 60%, web 55%, app 45%, crm 50%, with ~70% of people in two or more.
_SYSTEM_COUNT_P = (0.28, 0.40, 0.24, 0.08)
_SYSTEM_WEIGHT = {"billing": 1.25, "web": 1.1, "app": 1.3, "crm": 0.95}

MOVER_SHARE = 0.12  # people whose address changed: some systems still hold the old one
EMAIL_CHANGER_SHARE = 0.10
CONSENT_P = {"email": 0.62, "sms": 0.40, "phone": 0.30, "post": 0.55}
PREFERRED_CHANNEL_P = {"E": 0.5, "S": 0.2, "P": 0.1, "M": 0.2}


def population(rng: np.random.Generator, size: int, flavour: Flavour = DEFAULT) -> pd.DataFrame:
    """One row per person (index = person_id) with their current and former details."""
    country = flavour.pick_countries(rng, size)
    female = rng.random(size) < 0.5
    first, last = _names(rng, country, female, flavour.countries)
    age_days = ((18 + 72 * rng.beta(2, 3, size)) * 365.25).astype(np.int64)
    dob = REFERENCE_TIME.astype("datetime64[D]") - age_days
    birth_year = dob.astype("datetime64[Y]").astype(int) + 1970

    email = emails(rng, first, last, birth_year, country)
    changed = np.flatnonzero(rng.random(size) < EMAIL_CHANGER_SHARE)
    old_email = np.full(size, None, dtype=object)
    old_email[changed] = emails(rng, first.iloc[changed], last.iloc[changed], birth_year[changed], country[changed])
    both = make_unique(rng, np.concatenate([email, old_email]))
    email, old_email = both[:size], both[size:]

    frame = pd.DataFrame(
        {
            "country": country,
            "first_name": first,
            "last_name": last,
            "dob": dob,
            "email": email,
            "old_email": old_email,
            "phone_index": phones.assign(rng, country, flavour.countries),
            "moved": rng.random(size) < MOVER_SHARE,
        }
    )
    current = addresses(rng, country)
    former = addresses(rng, np.where(frame["moved"], country, None)).add_prefix("old_")  # type: ignore[call-overload]  # numpy stubs lack None as a fill value
    frame = pd.concat([frame, current, former], axis=1)
    for channel, p in CONSENT_P.items():
        frame[f"consent_{channel}"] = rng.random(size) < p
    frame["preferred_channel"] = rng.choice(list(PREFERRED_CHANNEL_P), size, p=list(PREFERRED_CHANNEL_P.values()))
    for system, member in _memberships(rng, country, flavour.app_countries).items():
        frame[f"in_{system}"] = member
    frame.index.name = "person_id"
    return frame


def _names(
    rng: np.random.Generator, country: np.ndarray, female: np.ndarray, countries: tuple[str, ...]
) -> tuple[pd.Series, pd.Series]:
    first = np.empty(len(country), dtype=object)
    last = np.empty(len(country), dtype=object)
    for code in countries:
        n = vocab.names(code)
        for is_female, pool, p in ((True, n.female, n.female_p), (False, n.male, n.male_p)):
            rows = np.flatnonzero((country == code) & (female == is_female))
            first[rows] = rng.choice(pool, len(rows), p=p)
        rows = np.flatnonzero(country == code)
        last[rows] = rng.choice(n.last, len(rows), p=n.last_p)
    return pd.Series(first, dtype=object), pd.Series(last, dtype=object)


def _memberships(
    rng: np.random.Generator, country: np.ndarray, app_countries: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Each person joins 1-4 systems, picked by weighted sampling without replacement.

    The app is offered in some countries only (the UK in the default flavour), so other people are
    in at most the other three.
    """
    size = len(country)
    weight = np.tile(np.array(list(_SYSTEM_WEIGHT.values())), (size, 1))
    weight[~np.isin(country, app_countries), SYSTEMS.index("app")] = 0.0
    available = (weight > 0).sum(axis=1)
    count = np.minimum(rng.choice(np.arange(1, 5), size, p=_SYSTEM_COUNT_P), available)
    # Gumbel top-k: the k largest log-weight + Gumbel keys are a weighted sample without replacement.
    with np.errstate(divide="ignore"):
        keys = np.log(weight) + rng.gumbel(size=weight.shape)
    rank = np.argsort(np.argsort(-keys, axis=1), axis=1)
    chosen = rank < count[:, None]
    return {system: chosen[:, i] for i, system in enumerate(SYSTEMS)}
