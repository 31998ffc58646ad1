"""Postal addresses for the demo's people, in each country's own form: GB and US (the default
flavour), IE, DE, FR and AU (the international one).

The map is fixed (the same towns, postcode areas and zip blocks for every seed) so a town always
sits in the same postcode area or state; only where people live depends on the seed.
"""

from __future__ import annotations

import zlib
from functools import cache

import numpy as np
import pandas as pd

from connectors.demo import vocabulary as vocab
from connectors.demo import world

_GEOGRAPHY_SEED = 20260101


def addresses(rng: np.random.Generator, country: np.ndarray) -> pd.DataFrame:
    """One address per entry of `country` (a code of BUILDERS, or None for nobody): street, street2,
    city, region, postcode."""
    out = {c: np.full(len(country), None, dtype=object) for c in ("street", "street2", "city", "region", "postcode")}
    for code, build in _BUILDERS.items():
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
        "street2": np.where(rng.random(n) < 0.15, street2, None),  # type: ignore[call-overload]  # numpy stubs lack None as a fill value
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


def _numbers(rng: np.random.Generator, n: int, top: int) -> np.ndarray:
    """House numbers, small ones commoner (most streets are short)."""
    return (1 + (rng.random(n) ** 2 * top).astype(int)).astype(str).astype(object)


def _units(rng: np.random.Generator, n: int, share: float, words: tuple[str, ...]) -> np.ndarray:
    unit = rng.choice(np.array(words, dtype=object), n) + " " + rng.integers(1, 40, n).astype(str).astype(object)
    return np.where(rng.random(n) < share, unit, None)  # type: ignore[return-value]  # numpy stubs: None as a fill value


def _ie(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """'14 Aaron Road', Eircodes 'D02 X285': the routing key of the town's area and four characters."""
    town = rng.integers(0, len(world.IE_TOWNS), n)
    letters = np.array([c for c in world.EIRCODE_CHARACTERS if c.isalpha()], dtype=object)
    chars = np.array(world.EIRCODE_CHARACTERS, dtype=object)
    unique = rng.choice(letters, n) + rng.choice(chars, n) + rng.choice(chars, n) + rng.choice(chars, n)
    return {
        "street": _numbers(rng, n, 160) + " " + rng.choice(vocab.street_names("IE"), n),
        "street2": _units(rng, n, 0.12, world.UNIT_WORDS["IE"]),
        "city": np.array([t for t, _ in world.IE_TOWNS], dtype=object)[town],
        "region": np.full(n, None, dtype=object),
        "postcode": np.array([k for _, k in world.IE_TOWNS], dtype=object)[town] + " " + unique,
    }


def _de(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """'Bachstraße 12' (the number after the street), five-digit postcodes near the town's own."""
    town = rng.integers(0, len(vocab.DE_TOWNS), n)
    code = _de_town_codes()[town] + rng.integers(0, 10, n)
    letter = np.where(rng.random(n) < 0.06, rng.choice(np.array(list("abc"), dtype=object), n), "")
    return {
        "street": rng.choice(vocab.street_names("DE"), n) + " " + _numbers(rng, n, 120) + letter,
        "street2": _units(rng, n, 0.06, world.UNIT_WORDS["DE"]),
        "city": vocab.DE_TOWNS[town],
        "region": np.full(n, None, dtype=object),
        "postcode": np.char.zfill(code.astype(str), 5).astype(object),
    }


def _fr(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """'12 rue Dubois', postcodes of the town's department (two digits) and three more."""
    city, base = _fr_towns()
    town = rng.integers(0, len(city), n)
    code = base[town] + rng.integers(0, 3, n) * 10
    return {
        "street": _numbers(rng, n, 90) + " " + rng.choice(vocab.street_names("FR"), n),
        "street2": _units(rng, n, 0.08, world.UNIT_WORDS["FR"]),
        "city": city[town],
        "region": np.full(n, None, dtype=object),
        "postcode": np.char.zfill(code.astype(str), 5).astype(object),
    }


def _au(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """'12 Aaron Street', state codes, four-digit postcodes in the town's range (NT's start with 0)."""
    town = rng.integers(0, len(world.AU_TOWNS), n)
    base = np.array([b for _, _, b in world.AU_TOWNS])
    return {
        "street": _numbers(rng, n, 180) + " " + rng.choice(vocab.street_names("AU"), n),
        "street2": _units(rng, n, 0.15, world.UNIT_WORDS["AU"]),
        "city": np.array([t for t, _, _ in world.AU_TOWNS], dtype=object)[town],
        "region": np.array([s for _, s, _ in world.AU_TOWNS], dtype=object)[town],
        "postcode": np.char.zfill((base[town] + rng.integers(0, 8, n)).astype(str), 4).astype(object),
    }


@cache
def _de_town_codes() -> np.ndarray:
    """Each German town's first postcode, stable across runs (a checksum of the name picks it)."""
    return np.array([1000 + 10 * (zlib.crc32(t.encode()) % 9890) for t in vocab.DE_TOWNS])


@cache
def _fr_towns(count: int = 600) -> tuple[np.ndarray, np.ndarray]:
    """Towns named from surnames as Faker's fr_FR names them ('Dubois-sur-Mer'), each in one department."""
    rng = np.random.default_rng(_GEOGRAPHY_SEED)
    last = vocab.names("FR").last
    stem = np.where(
        rng.random(count) < 0.15, "Saint-" + rng.choice(vocab.names("FR").male, count), rng.choice(last, count)
    )
    city = stem + rng.choice(np.array(world.FR_TOWN_SUFFIXES, dtype=object), count)
    department = rng.choice(vocab.FR_DEPARTMENTS, count).astype(int)
    base = department * 1000 + rng.integers(0, 90, count) * 10
    city, first = np.unique(city, return_index=True)
    return city.astype(object), base[first]


_BUILDERS = {"GB": _gb, "US": _us, "IE": _ie, "DE": _de, "FR": _fr, "AU": _au}
