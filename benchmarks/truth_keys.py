"""What a value means, per canonical field: the keys two values are compared on to call a source cell
right (`key`: it means the person's true value) or a rewrite format-only (`form_free`: before and after
differ only in form).

`key` ignores what a source's convention or a typist may vary without changing the value: case and
whitespace, the accents a system without such letters spells out or drops ('Straße' = 'Strasse',
'Blümel' = 'Bluemel', as the demo's billing stores them), and for addresses punctuation, line breaks
and word order; a state name is its code and a ZIP+4 its ZIP5. `form_free` also drops all punctuation
('O'Neill' = 'ONeill', a Gmail dot variant = the address without the dot). Input is canonical values
as the hub's own transforms read them (phones E.164, countries alpha-2, dates parsed), so format
differences those transforms undo are gone already. Every key is computed once per distinct value,
never once per row.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable

import pandas as pd
import pycountry

from connectors.demo.noise import UMLAUTS

# US state names ("Wisconsin", "District of Columbia") -> code, keyed without case and spaces.
_STATE_CODES = {
    "".join(s.name.lower().split()): s.code.removeprefix("US-") for s in pycountry.subdivisions.get(country_code="US")
}
EXPLICIT_CONSENT = ("granted", "denied")


def as_text(values: pd.Series, time_format: str = "%Y-%m-%d") -> pd.Series:
    """Values as text; blank (missing or only whitespace) becomes <NA>. Dates and timestamps are
    written with `time_format`, so canonical values from any reader compare as text."""
    if pd.api.types.is_datetime64_any_dtype(values):
        text = values.dt.strftime(time_format).astype("string")
    else:
        text = values.astype("string")
    return text.mask(text.str.strip() == "")


def _per_distinct(text: pd.Series, fn: Callable[[str], str | None]) -> pd.Series:
    lookup = {v: fn(v) for v in text.dropna().unique()}
    return text.map(lookup, na_action="ignore").astype("string")


def _unaccented(v: str) -> str:
    decomposed = unicodedata.normalize("NFKD", v.translate(UMLAUTS))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def loose(values: pd.Series) -> pd.Series:
    """Case, whitespace and accents ignored: 'Smith ' and 'SMITH' agree, 'Blümel' and 'BLUEMEL' too."""
    return _per_distinct(as_text(values), _unaccented).str.lower().str.replace(r"\s+", "", regex=True)


def tokens(values: pd.Series) -> pd.Series:
    """An address as its multiset of words, lower case, punctuation and line breaks gone:
    'Flat 3, 12 Oak Road', '12 Oak Road<newline>Flat 3' and '12 oak road flat 3' agree."""

    def words(v: str) -> str | None:
        return " ".join(sorted("".join(c if c.isalnum() else " " for c in _unaccented(v).lower()).split())) or None

    return _per_distinct(as_text(values), words)


def _postcode(v: str) -> str:
    compact = "".join(v.upper().split())
    if len(compact) in (9, 10) and compact[:5].isdigit() and compact[-4:].isdigit():  # ZIP+4: the ZIP5 is the place
        return compact[:5]
    return compact


def _region(v: str) -> str:
    compact = "".join(v.lower().split())
    return _STATE_CODES.get(compact, compact.upper())


def key(field: str, values: pd.Series) -> pd.Series:
    """The meaning of canonical `values` of `field` (<NA> for blank; consent 'unknown' is blank)."""
    if field in ("address_line1", "address_line2"):
        return tokens(values)
    text = as_text(values, "%Y-%m-%dT%H:%M:%S" if field.endswith("_at") else "%Y-%m-%d")
    if field == "postal_code":
        return _per_distinct(text, _postcode)
    if field == "region":
        return _per_distinct(text, _region)
    if field.startswith("consent_") and not field.endswith("_at"):
        return text.str.strip().str.lower().where(text.str.strip().str.lower().isin(EXPLICIT_CONSENT))
    if field in ("date_of_birth", "phone", "country", "preferred_channel") or field.endswith("_at"):
        return text.str.strip().str.upper() if field == "country" else text.str.strip()
    return loose(text)


def form_free(field: str, values: pd.Series) -> pd.Series:
    """`key` without any punctuation: equal for two values that differ only in form."""
    out = key(field, values).str.replace(r"[\W_]", "", regex=True)
    return out.mask(out == "")
