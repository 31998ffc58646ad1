"""Fictional phone numbers and the ways each demo system writes them.

Only numbers reserved for drama and documentation are used, so the demo never holds a real
person's number: Ofcom's ranges (020 7946 0xxx, 0113 496 0xxx, ...) and the North American
555-01xx block. Ofcom's 07700 900xxx mobiles and 0115 496 0xxx are left out: phonenumbers
reports them invalid.
The pool is small (about 14,000 UK and 36,000 US numbers), so above that many people per
country several people share a number.

The international flavour uses the ranges each regulator keeps for drama in the same way:
Germany's Bundesnetzagentur (030 23125 xxx, 069 90009 xxx, 040 66969 xxx, 0221 4710 xxx,
089 99998 xxx: 5,000 numbers), Australia's ACMA ((02|03|07|08) 5550 xxxx and 7010 xxxx), France's
ARCEP (01 99 00 xx xx, 02 61 91 xx xx, 03 53 01 xx xx, 04 65 71 xx xx, 05 36 49 xx xx) and Ireland's
ComReg (020 91x xxxx; phonenumbers calls these possible but not valid, which is all the hub asks).
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


# (area code without the trunk 0, subscriber number prefix, digits that follow) per drama range.
_RANGES = {
    "DE": (("30", "23125", 3), ("69", "90009", 3), ("40", "66969", 3), ("221", "4710", 3), ("89", "99998", 3)),
    "AU": tuple((a, g, 4) for a in ("2", "3", "7", "8") for g in ("5550", "7010")),
    "FR": (("1", "9900", 4), ("2", "6191", 4), ("3", "5301", 4), ("4", "6571", 4), ("5", "3649", 4)),
    "IE": (("20", "91", 5),),
}


def _ranges(ranges: tuple[tuple[str, str, int], ...]) -> PhonePool:
    parts = [
        (
            np.full(10**k, a, dtype=object),
            np.full(10**k, g, dtype=object),
            np.char.zfill(np.arange(10**k).astype(str), k),
        )
        for a, g, k in ranges
    ]
    return PhonePool(*(np.concatenate([p[i] for p in parts]).astype(object) for i in range(3)))


@cache
def pool(country: str) -> PhonePool:
    suffixes = np.array([f"{i:03d}" for i in range(1000)], dtype=object)
    if country in _RANGES:
        return _ranges(_RANGES[country])
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


def assign(rng: np.random.Generator, country: np.ndarray, countries: tuple[str, ...] = ("GB", "US")) -> np.ndarray:
    """One pool index per person, spread evenly so numbers repeat only once the pool is used up. Each
    of `countries` draws in turn, people or not, so the same countries always draw the same numbers."""
    index = np.zeros(len(country), dtype=np.int64)
    for c in countries:
        rows = np.flatnonzero(country == c)
        size = len(pool(c).area)
        order = np.concatenate([rng.permutation(size) for _ in range(len(rows) // size + 1)])
        index[rows] = order[: len(rows)]
    return index


def render(country: np.ndarray, index: np.ndarray, style: str | np.ndarray) -> pd.Series:
    """Write each person's number in `style` (one name, or one per row), see STYLES."""
    out = np.empty(len(country), dtype=object)
    styles = np.broadcast_to(np.asarray(style, dtype=object), (len(country),))
    for c in STYLES:
        if not (country == c).any():
            continue
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


def _pairs(digits: np.ndarray, sep: str = " ") -> np.ndarray:
    """'9900' -> '99 00', '1234' -> '12 34': French numbers are written in pairs."""
    s = pd.Series(digits, dtype=object)
    return (s.str[:2] + sep + s.str[2:]).to_numpy(dtype=object)


def _head(digits: np.ndarray) -> np.ndarray:
    return pd.Series(digits, dtype=object).str[:1].to_numpy(dtype=object)


def _tail(digits: np.ndarray) -> np.ndarray:
    """Irish local numbers are written 3 + 4 ('(020) 912 3456'): the range's '91' and the first digit, then 4."""
    return pd.Series(digits, dtype=object).str[1:].to_numpy(dtype=object)


# How the other countries write theirs: German area codes stand apart ("030 23125123", often "030/23125123"),
# French numbers go in pairs ("01 99 00 12 34", or with dots), Irish and Australian area codes in brackets.
STYLES |= {
    "DE": {
        "national": lambda a, g, s: "0" + a + " " + g + s,
        "international": lambda a, g, s: "+49 " + a + " " + g + s,
        "digits": lambda a, g, s: "49" + a + g + s,
        "dashes": lambda a, g, s: "0" + a + "/" + g + s,
        "compact": lambda a, g, s: "0" + a + g + s,
        "trunk_in_brackets": lambda a, g, s: "+49 (0)" + a + " " + g + s,
        "double_zero": lambda a, g, s: "0049 " + a + " " + g + s,
    },
    "FR": {
        "national": lambda a, g, s: "0" + a + " " + _pairs(g) + " " + _pairs(s),
        "international": lambda a, g, s: "+33 " + a + " " + _pairs(g) + " " + _pairs(s),
        "digits": lambda a, g, s: "33" + a + g + s,
        "dashes": lambda a, g, s: "0" + a + "." + _pairs(g, ".") + "." + _pairs(s, "."),
        "compact": lambda a, g, s: "0" + a + g + s,
        "trunk_in_brackets": lambda a, g, s: "+33 (0)" + a + " " + _pairs(g) + " " + _pairs(s),
        "double_zero": lambda a, g, s: "0033 " + a + " " + _pairs(g) + " " + _pairs(s),
    },
    "IE": {
        "national": lambda a, g, s: "(0" + a + ") " + g + _head(s) + " " + _tail(s),
        "international": lambda a, g, s: "+353 " + a + " " + g + _head(s) + " " + _tail(s),
        "digits": lambda a, g, s: "353" + a + g + s,
        "dashes": lambda a, g, s: "0" + a + "-" + g + s,
        "compact": lambda a, g, s: "0" + a + g + s,
        "trunk_in_brackets": lambda a, g, s: "+353 (0)" + a + " " + g + s,
        "double_zero": lambda a, g, s: "00353 " + a + " " + g + s,
    },
    "AU": {
        "national": lambda a, g, s: "(0" + a + ") " + g + " " + s,
        "international": lambda a, g, s: "+61 " + a + " " + g + " " + s,
        "digits": lambda a, g, s: "61" + a + g + s,
        "dashes": lambda a, g, s: "0" + a + "-" + g + "-" + s,
        "compact": lambda a, g, s: "0" + a + g + s,
        "trunk_in_brackets": lambda a, g, s: "+61 (0)" + a + " " + g + " " + s,
        "double_zero": lambda a, g, s: "0061 " + a + " " + g + s,
    },
}

# The loose formats a UK CRM collects when staff type numbers by hand (US numbers with their +1).
LOOSE_STYLES = {
    "GB": ("national", "international", "dashes", "compact", "trunk_in_brackets", "double_zero"),
    "US": ("international", "dashes", "compact", "trunk_in_brackets", "double_zero"),
} | {c: ("national", "international", "dashes", "compact", "trunk_in_brackets", "double_zero") for c in _RANGES}


# Another country's number typed into a system at home carries its country code: the hub reads a number
# without one in the home region.
FOREIGN_STYLES = ("international", "trunk_in_brackets", "double_zero")


def loose_styles(country: str, home: str) -> tuple[str, ...]:
    """The formats a CRM collects for `country`'s numbers in a company at `home` (US forms all carry +1)."""
    return LOOSE_STYLES[country] if country in (home, "US") else FOREIGN_STYLES
