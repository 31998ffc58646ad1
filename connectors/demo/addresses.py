"""Postal addresses for GB and US people.

The map is fixed (the same towns, postcode areas and zip blocks for every seed) so a town always
sits in the same postcode area or state; only where people live depends on the seed.
"""

from __future__ import annotations

import zlib
from functools import cache

import numpy as np
import pandas as pd

from connectors.demo import vocabulary as vocab

_GEOGRAPHY_SEED = 20260101


def addresses(rng: np.random.Generator, country: np.ndarray) -> pd.DataFrame:
    """One address per entry of `country` ('GB' or 'US'): street, street2, city, region, postcode."""
    out = {c: np.full(len(country), None, dtype=object) for c in ("street", "street2", "city", "region", "postcode")}
    for code, build in (("GB", _gb), ("US", _us)):
        rows = np.flatnonzero(country == code)
        if not len(rows):  # a small demo may have nobody in a country
            continue
        for column, values in build(rng, len(rows)).items():
            out[column][rows] = values
    return pd.DataFrame(out)


def _gb(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    towns = vocab.gb_towns()
    town = rng.integers(0, len(towns), n)
    district = rng.integers(1, 20, n).astype(str).astype(object)
    letters = vocab.GB_POSTCODE_LETTERS
    inward = rng.integers(0, 10, n).astype(str).astype(object) + rng.choice(letters, n) + rng.choice(letters, n)
    number = 1 + (rng.random(n) ** 2 * 180).astype(int)
    flat = np.where(rng.random(n) < 0.85, "", np.array(["A", "B", "C"], dtype=object)[rng.integers(0, 3, n)])
    street2 = "Flat " + rng.integers(1, 40, n).astype(str).astype(object) + flat
    return {
        "street": number.astype(str).astype(object) + " " + rng.choice(vocab.street_names("GB"), n),
        "street2": np.where(rng.random(n) < 0.15, street2, None),
        "city": towns[town],
        "region": np.full(n, None, dtype=object),
        "postcode": _gb_town_areas()[town] + district + " " + inward,
    }


def _us(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    city, state, zip_base = _us_towns()
    town = rng.integers(0, len(city), n)
    zip_code = zip_base[town] + rng.integers(0, 8, n)
    unit = np.where(rng.random(n) < 0.7, "Apt. ", "Suite ") + rng.integers(1, 999, n).astype(str).astype(object)
    return {
        "street": rng.integers(100, 20000, n).astype(str).astype(object)
        + " "
        + rng.choice(vocab.street_names("US"), n),
        "street2": np.where(rng.random(n) < 0.12, unit, None),
        "city": city[town],
        "region": state[town],
        "postcode": np.char.zfill(zip_code.astype(str), 5).astype(object),
    }


def _gb_town_areas() -> np.ndarray:
    """Each town's postcode area, stable across runs (a checksum of the name picks it)."""
    areas = vocab.GB_POSTCODE_AREAS
    return np.array([areas[zlib.crc32(t.encode()) % len(areas)] for t in vocab.gb_towns()], dtype=object)


@cache
def _us_towns(count: int = 1500) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Invented towns named the way Faker names them ('Lake Jamesfurt'), each in one state and zip block."""
    rng = np.random.default_rng(_GEOGRAPHY_SEED)
    people = vocab.names("US")
    stem = np.where(rng.random(count) < 0.5, rng.choice(people.male, count), rng.choice(people.last, count))
    prefix = rng.choice(vocab.US_CITY_PREFIXES, count) + " "
    suffix = rng.choice(vocab.US_CITY_SUFFIXES, count)
    form = rng.integers(0, 3, count)
    city = np.select([form == 0, form == 1], [prefix + stem + suffix, prefix + stem], stem + suffix)
    state = rng.integers(0, len(vocab.US_STATES), count)
    low, high = vocab.US_ZIP_RANGES[state, 0], vocab.US_ZIP_RANGES[state, 1]
    base = low + (rng.random(count) * np.maximum(high - low - 8, 0)).astype(int)
    return city.astype(object), vocab.US_STATES[state], base
