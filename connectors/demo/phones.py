"""Fictional phone numbers and the ways each demo system writes them.

Only numbers reserved for drama and documentation are used, so the demo never holds a real
person's number: Ofcom's ranges (020 7946 0xxx, 0113 496 0xxx, ...) and the North American
555-01xx block. Ofcom's 07700 900xxx mobiles and 0115 496 0xxx are left out: phonenumbers
reports them invalid.
The pool is small (about 14,000 UK and 36,000 US numbers), so above that many people per
country several people share a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
import phonenumbers

# (area code, first group, first digit of the last group): each range holds 1,000 numbers.
_GB_RANGES = (
    ("20", "7946", "0"), ("113", "496", "0"), ("114", "496", "0"), ("116", "496", "0"),
    ("117", "496", "0"), ("118", "496", "0"), ("121", "496", "0"), ("131", "496", "0"), ("141", "496", "0"),
    ("151", "496", "0"), ("161", "496", "0"), ("191", "498", "0"), ("28", "9649", "6"), ("29", "2018", "0"),
)  # fmt: skip


@dataclass(frozen=True)
class PhonePool:
    """Numbers split into the parts every written form is assembled from."""

    area: np.ndarray
    group: np.ndarray
    last: np.ndarray


@cache
def pool(country: str) -> PhonePool:
    suffixes = np.array([f"{i:03d}" for i in range(1000)], dtype=object)
    if country == "GB":
        area = np.repeat([r[0] for r in _GB_RANGES], 1000).astype(object)
        group = np.repeat([r[1] for r in _GB_RANGES], 1000).astype(object)
        last = np.concatenate([r[2] + suffixes for r in _GB_RANGES])
        return PhonePool(area, group, last)
    codes = _us_area_codes()
    area = np.repeat(codes, 100).astype(object)
    last = np.tile(np.array([f"01{i:02d}" for i in range(100)], dtype=object), len(codes))
    return PhonePool(area, np.full(len(area), "555", dtype=object), last)


def _us_area_codes() -> list[str]:
    """Area codes whose 555-01xx numbers phonenumbers accepts as ordinary US lines."""
    wanted = {phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE}
    codes = []
    for code in range(201, 990):
        n = phonenumbers.parse(f"+1{code}5550100")
        if phonenumbers.region_code_for_number(n) == "US" and phonenumbers.number_type(n) in wanted:
            codes.append(str(code))
    return codes


def assign(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """One pool index per person, spread evenly so numbers repeat only once the pool is used up."""
    index = np.zeros(len(country), dtype=np.int64)
    for c in ("GB", "US"):
        rows = np.flatnonzero(country == c)
        size = len(pool(c).area)
        order = np.concatenate([rng.permutation(size) for _ in range(len(rows) // size + 1)])
        index[rows] = order[: len(rows)]
    return index


def render(country: np.ndarray, index: np.ndarray, style: str | np.ndarray) -> pd.Series:
    """Write each person's number in `style` (one name, or one per row), see STYLES."""
    out = np.empty(len(country), dtype=object)
    styles = np.broadcast_to(np.asarray(style, dtype=object), (len(country),))
    for c in ("GB", "US"):
        p = pool(c)
        for name, build in STYLES[c].items():
            rows = np.flatnonzero((country == c) & (styles == name))
            if len(rows):
                out[rows] = build(p.area[index[rows]], p.group[index[rows]], p.last[index[rows]])
    return pd.Series(out, dtype=object)


# Per country, style name -> how (area, group, last) become text; every style parses with
# phonenumbers for GB except the US national one, which needs region US.
STYLES = {
    "GB": {
        "national": lambda a, g, s: "0" + a + " " + g + " " + s,
        "international": lambda a, g, s: "+44 " + a + " " + g + " " + s,
        "digits": lambda a, g, s: "44" + a + g + s,
        "dashes": lambda a, g, s: "0" + a + "-" + g + "-" + s,
        "compact": lambda a, g, s: "0" + a + g + s,
        "trunk_in_brackets": lambda a, g, s: "+44 (0)" + a + " " + g + " " + s,
        "double_zero": lambda a, g, s: "0044 " + a + " " + g + s,
    },
    "US": {
        "national": lambda a, g, s: "(" + a + ") " + g + "-" + s,
        "international": lambda a, g, s: "+1 " + a + "-" + g + "-" + s,
        "digits": lambda a, g, s: "1" + a + g + s,
        "dashes": lambda a, g, s: "+1-" + a + "-" + g + "-" + s,
        "compact": lambda a, g, s: "+1" + a + g + s,
        "trunk_in_brackets": lambda a, g, s: "+1 (" + a + ") " + g + "-" + s,
        "double_zero": lambda a, g, s: "001 " + a + " " + g + " " + s,
    },
}

# The loose formats a UK CRM collects when staff type numbers by hand (US numbers with their +1).
LOOSE_STYLES = {
    "GB": ("national", "international", "dashes", "compact", "trunk_in_brackets", "double_zero"),
    "US": ("international", "dashes", "compact", "trunk_in_brackets", "double_zero"),
}
