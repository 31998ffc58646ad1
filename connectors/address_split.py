"""Split an address kept in one field ("12 High St, Leeds, LS1 4AB") into street line, city, region, postcode and
country, for sources that keep the whole address in one column.

The postcode is found at the end, by its shape, and the shape says the country where it can: a GB or CA postcode,
a US state and ZIP, an AU state and postcode, a Dutch "1234 AB"; any other 4-6 digits at the end (or before the
town in the last part: "10115 Berlin") are a postcode of no known country. A third or later part naming a country
("12 High St, Leeds, LS1 4AB, UK") is the country. What is left is split at commas (line breaks count as commas):
the last part is the city when it holds no digit (a house number says it is still the street), the rest is the
street line, flat or unit included (standardization and survivorship split those). Nothing here is ever unreadable:
a part that is not there is missing. Vectorized: one regular expression per shape over the whole column.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

import pandas as pd
import pycountry

PARTS = ("address_line1", "city", "region", "postal_code", "country")


@cache
def _states(country: str) -> str:
    """The subdivision codes of `country` as a regex alternation (from pycountry, no download)."""
    codes = sorted({s.code.split("-", 1)[1] for s in pycountry.subdivisions.get(country_code=country) or []})
    return "|".join(codes)


@cache
def _shapes() -> tuple[tuple[str | None, str], ...]:
    """(country, regex) per postcode shape, most telling first. Each regex matches the end of the cleaned text with
    groups `rest` (before it) and `postal_code`, and `region` where the shape has one."""
    rest = r"^(?P<rest>.*?)[,\s]*"
    return (
        ("US", rest + rf"\b(?P<region>{_states('US')})\.?,?\s+(?P<postal_code>\d{{5}}(?:-\d{{4}})?)$"),
        ("AU", rest + rf"\b(?P<region>{_states('AU')}),?\s+(?P<postal_code>\d{{4}})$"),
        ("CA", rest + rf"(?:\b(?P<region>{_states('CA')}),?\s+)?(?P<postal_code>[A-Z]\d[A-Z] ?\d[A-Z]\d)$"),
        ("GB", rest + r"\b(?P<postal_code>[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2})$"),
        ("NL", rest + r"\b(?P<postal_code>\d{4} ?[A-Z]{2})$"),
        (None, rest + r"(?<=[\s,])(?P<postal_code>\d{4,6})$"),
    )


# "10115 Berlin", "75001 Paris", "1015 CJ Amsterdam" as the last part: a postcode before the town.
_POSTCODE_FIRST = r"^(?P<rest>.*),\s*(?P<postal_code>\d{4} ?[A-Z]{2}(?=\s)|\d{4,5})\s+(?P<city>[^,\d]+)$"


def split_address(text: pd.Series, countries: Callable[[pd.Series], pd.Series]) -> pd.DataFrame:
    """One row per value of `text` (trimmed text, missing as NA), with a column per part in PARTS. `countries` reads
    text as alpha-2 codes (NA where it names no country): the transforms' own country reader."""
    out = pd.DataFrame({p: pd.Series(pd.NA, index=text.index, dtype="string") for p in PARTS})
    t = (
        text.astype("string")
        .str.replace(r"\s*[\r\n]+\s*", ", ", regex=True)
        .str.replace(r"\s+", " ", regex=True)
        .str.strip(" ,")
    )
    # A named country as a third or later part ("12 High St, Leeds, UK" names Leeds and the UK).
    last = t.str.extract(r"^(?P<rest>(?:[^,]*,)+[^,]*?)\s*,\s*(?P<last>[^,\d]+)$")
    named = countries(last["last"])
    out["country"] = named
    t = last["rest"].str.strip(" ,").where(named.notna(), t)

    found = pd.Series(False, index=t.index)
    for country, shape in _shapes():
        m = t.where(~found).str.extract(shape, flags=re.IGNORECASE)
        hit = m["postal_code"].notna()
        out.loc[hit, "postal_code"] = m.loc[hit, "postal_code"].str.upper()
        if "region" in m:
            out.loc[hit, "region"] = m.loc[hit, "region"].str.upper()
        if country:
            out.loc[hit & out["country"].isna(), "country"] = country
        t = m["rest"].where(hit, t)
        found |= hit
    first = t.where(~found).str.extract(_POSTCODE_FIRST, flags=re.IGNORECASE)
    hit = first["postal_code"].notna()
    out.loc[hit, "postal_code"] = first.loc[hit, "postal_code"].str.upper()
    dutch = hit & first["postal_code"].str.contains(r"[A-Za-z]").fillna(False) & out["country"].isna()
    out.loc[dutch, "country"] = "NL"
    out.loc[hit, "city"] = first.loc[hit, "city"].str.strip()
    t = first["rest"].where(hit, t).str.strip(" ,")

    # The last comma part is the city unless it holds a digit (then it is still the street).
    parts = t.str.extract(r"^(?P<line1>.+?)\s*,\s*(?P<city>[^,\d]+)$")
    town = parts["city"].notna() & out["city"].isna()
    out.loc[town, "city"] = parts.loc[town, "city"].str.strip()
    out["address_line1"] = parts["line1"].where(town, t)
    return out.apply(lambda s: s.astype("string").str.strip().replace("", pd.NA))
