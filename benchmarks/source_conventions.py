"""How each demo source writes each column it lets the hub write, as predicates over stored text.

Read off the demo generator (connectors/demo/systems/*.py, phones.py, addresses.py, hub_yaml.py),
not off the hub: a value the hub writes must look as if the source itself had written it. The
generator's noise (stray spaces, capitals, typed-out states, unspaced postcodes) breaks a few percent
of the pre-existing values; the benchmark prints that rate beside the violations among written cells
so each predicate can be checked against the data it describes.

A predicate gets the non-blank stored values (text) and the row's country (alpha-2, <NA> unknown)
and says per value whether it keeps the convention.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
import phonenumbers
import pycountry

Predicate = Callable[[pd.Series, pd.Series], pd.Series]

GB_POSTCODE = r"[A-Z]{1,2}\d[A-Z\d]? \d[A-Z]{2}"
GB_NATIONAL_PHONE = r"0\d{2,4} \d{3,4} \d{3,4}"  # 020 7946 0123, 0113 496 0123
GB_INTERNATIONAL_PHONE = r"\+44 \d{2,4} \d{3,4} \d{3,4}"
US_INTERNATIONAL_PHONE = r"\+1 \d{3}-\d{3}-\d{4}"  # +1 201-555-0123
_WORD = r"[A-Z][A-Za-z'\-]*"  # a proper-case word of a street name: Oak, O'Neill, McCarthy
STREET = rf"\d+ {_WORD}(?: {_WORD})*"  # 12 Oak Road (no unit)
GB_UNIT = r"Flat \d+[A-C]?"
US_UNIT = r"(?:Apt\.|Suite) \d+"
_COUNTRY_NAMES = frozenset(c.name for c in pycountry.countries)
_ALPHA2 = frozenset(c.alpha_2 for c in pycountry.countries)
_ALPHA3 = frozenset(c.alpha_3 for c in pycountry.countries)
_STATES = frozenset(s.code.removeprefix("US-") for s in pycountry.subdivisions.get(country_code="US"))


@dataclass(frozen=True)
class Convention:
    rule: str  # what the source does, for the report
    ok: Predicate


def _full(pattern: str) -> Predicate:
    return lambda v, _country: v.str.fullmatch(pattern).fillna(False).astype(bool)


def _tidy(v: pd.Series) -> pd.Series:
    """Trimmed, single spaces, one line."""
    return ((v == v.str.strip()) & ~v.str.contains(r"\s\s|[\t\r\n]", regex=True)).fillna(False).astype(bool)


def _proper_words(v: pd.Series, _country: pd.Series) -> pd.Series:
    """Every word starts with a capital and none is in capitals throughout ('Mary Ann', 'McDonald',
    "O'Neill"): what a person typing in a form writes, not 'SMITH' nor 'smith'."""
    words = v.str.split(r"[ \-]")
    exploded = words.explode()
    upper_start = exploded.str.match(r"[A-Z]").fillna(False)
    shouting = (exploded.str.len() > 1) & (exploded == exploded.str.upper())
    good = (upper_start & ~shouting).groupby(level=0).all()
    return _tidy(v) & good.reindex(v.index, fill_value=False).astype(bool)


def _proper_text(v: pd.Series, _country: pd.Series) -> pd.Series:
    """A place name as written ('Kingston upon Hull', 'Poulton-le-Fylde'): starts with a capital,
    neither all capitals nor all lower case."""
    mixed = (v != v.str.upper()) & (v != v.str.lower()) & v.str.match(r"[A-Z]")
    return _tidy(v) & mixed.fillna(False).astype(bool)


def _holder_name(v: pd.Series, country: pd.Series) -> pd.Series:
    """Billing's 'SURNAME, Given': the surname in capitals, one comma and space, the given name in proper case."""
    parts = v.str.split(", ", n=1, expand=True).reindex(columns=[0, 1])
    surname, given = parts[0].astype("string"), parts[1].astype("string")
    surname_ok = (surname == surname.str.upper()) & surname.str.fullmatch(r"[A-Z][A-Z' \-]*")
    given_ok = _proper_words(given.fillna(""), country) & given.notna() & ~given.str.contains(",")
    return _tidy(v) & (surname_ok & given_ok).fillna(False).astype(bool)


def _display_name(v: pd.Series, country: pd.Series) -> pd.Series:
    """The app's 'First Last': two or more proper-case words, no comma."""
    return _proper_words(v, country) & v.str.contains(" ").fillna(False) & ~v.str.contains(",").fillna(False)


def _email(v: pd.Series, _country: pd.Series) -> pd.Series:
    return (v == v.str.lower()).fillna(False) & v.str.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+").fillna(False)


def _date(fmt: str, pattern: str) -> Predicate:
    def ok(v: pd.Series, _country: pd.Series) -> pd.Series:
        parsed = pd.to_datetime(v, format=fmt, errors="coerce")
        return v.str.fullmatch(pattern).fillna(False).astype(bool) & parsed.notna()

    return ok


def _in(allowed: frozenset[str]) -> Predicate:
    return lambda v, _country: v.isin(allowed).fillna(False).astype(bool)


def _postcode(us_pattern: str) -> Predicate:
    def ok(v: pd.Series, country: pd.Series) -> pd.Series:
        gb = v.str.fullmatch(GB_POSTCODE).fillna(False)
        us = v.str.fullmatch(us_pattern).fillna(False)
        return (gb & (country != "US").fillna(True)) | (us & (country != "GB").fillna(True))

    return ok


def _state(v: pd.Series, country: pd.Series) -> pd.Series:
    """A two-letter US state code (GB rows have none)."""
    return v.isin(_STATES).fillna(False) & (country != "GB").fillna(True)


def _web_street(v: pd.Series, country: pd.Series) -> pd.Series:
    """One line: the flat first for GB ('Flat 3, 12 Oak Road'), the unit last for US ('123 Main St Apt. 5')."""
    gb = v.str.fullmatch(rf"(?:{GB_UNIT}, )?{STREET}").fillna(False)
    us = v.str.fullmatch(rf"{STREET}(?: {US_UNIT})?").fillna(False)
    return (gb & (country != "US").fillna(True)) | (us & (country != "GB").fillna(True))


def _crm_street(v: pd.Series, country: pd.Series) -> pd.Series:
    """The street, then a line break and the flat or unit."""
    gb = v.str.fullmatch(rf"{STREET}(?:\n{GB_UNIT})?").fillna(False)
    us = v.str.fullmatch(rf"{STREET}(?:\n{US_UNIT})?").fillna(False)
    return (gb & (country != "US").fillna(True)) | (us & (country != "GB").fillna(True))


def _parseable_phone(v: pd.Series, _country: pd.Series) -> pd.Series:
    """Sales staff type numbers in any style: anything that reads as a possible number (UK default)."""

    def ok(text: str) -> bool:
        try:
            return phonenumbers.is_possible_number(phonenumbers.parse(text, "GB"))
        except phonenumbers.NumberParseException:
            return False

    lookup = {t: ok(t) for t in v.dropna().unique()}
    return v.map(lookup).fillna(False).astype(bool)


def _iso_time(v: pd.Series, _country: pd.Series) -> pd.Series:
    def ok(text: str) -> bool:
        try:
            datetime.strptime(text, "%Y-%m-%dT%H:%M:%S")
        except ValueError:
            return False
        return True

    return v.map(ok).fillna(False).astype(bool)


def _digits_phone(v: pd.Series, _country: pd.Series) -> pd.Series:
    return v.str.fullmatch(r"[1-9]\d{9,14}").fillna(False).astype(bool)


def _tidy_and(pred: Predicate) -> Predicate:
    return lambda v, country: _tidy(v) & pred(v, country)


_LOWER_EMAIL = Convention("lower case, no spaces", _email)
_PROPER = Convention("proper case, trimmed", _proper_words)
_PLACE = Convention("proper case, trimmed", _proper_text)

# (source, column) -> convention, for every column the demo hub.yaml lets write-back change.
CONVENTIONS: dict[tuple[str, str], Convention] = {
    ("billing", "holder_name"): Convention("'SURNAME, Given'", _holder_name),
    ("billing", "email_address"): _LOWER_EMAIL,
    ("billing", "phone"): Convention(
        "GB national '020 7946 0123', foreign international", _full(f"{GB_NATIONAL_PHONE}|{US_INTERNATIONAL_PHONE}")
    ),
    ("billing", "date_of_birth"): Convention("DD/MM/YYYY", _date("%d/%m/%Y", r"\d{2}/\d{2}/\d{4}")),
    ("billing", "billing_street"): Convention("street only, one line", _tidy_and(_full(STREET))),
    ("billing", "billing_street2"): Convention("'Flat 3' / 'Apt. 5'", _full(f"{GB_UNIT}|{US_UNIT}")),
    ("billing", "billing_city"): _PLACE,
    ("billing", "billing_postcode"): Convention("GB 'SW1A 1AA', US ZIP5", _postcode(r"\d{5}")),
    ("billing", "billing_country"): Convention("country name", _in(_COUNTRY_NAMES)),
    ("web", "first_name"): _PROPER,
    ("web", "last_name"): _PROPER,
    ("web", "email"): _LOWER_EMAIL,
    ("web", "phone"): Convention(
        "international '+44 20 7946 0123'", _full(f"{GB_INTERNATIONAL_PHONE}|{US_INTERNATIONAL_PHONE}")
    ),
    ("web", "birthday"): Convention("YYYY-MM-DD", _date("%Y-%m-%d", r"\d{4}-\d{2}-\d{2}")),
    ("web", "street_address"): Convention("one line, GB flat first, US unit last", _web_street),
    ("web", "city"): _PLACE,
    ("web", "state"): Convention("US state code", _state),
    ("web", "zip"): Convention("GB 'SW1A 1AA', US ZIP5", _postcode(r"\d{5}")),
    ("web", "country_code"): Convention("alpha-2", _in(_ALPHA2)),
    ("web", "newsletter"): Convention("1 / 0", _in(frozenset({"0", "1"}))),
    ("web", "newsletter_changed_at"): Convention("YYYY-MM-DDTHH:MM:SS", _iso_time),
    ("app", "display_name"): Convention("'First Last', proper case", _display_name),
    ("app", "email"): _LOWER_EMAIL,
    ("app", "mobile"): Convention("digits with country code", _digits_phone),
    ("app", "dob"): Convention("MM/DD/YYYY", _date("%m/%d/%Y", r"\d{2}/\d{2}/\d{4}")),
    ("crm", "FirstName"): _PROPER,
    ("crm", "LastName"): _PROPER,
    ("crm", "Email"): _LOWER_EMAIL,
    ("crm", "Phone"): Convention("any parseable style", _parseable_phone),
    ("crm", "Birthdate"): Convention("YYYY-MM-DD", _date("%Y-%m-%d", r"\d{4}-\d{2}-\d{2}")),
    ("crm", "MailingStreet"): Convention("street, line break, unit", _crm_street),
    ("crm", "MailingCity"): _PLACE,
    ("crm", "MailingState"): Convention("US state code", _state),
    ("crm", "MailingPostalCode"): Convention("GB 'SW1A 1AA', US ZIP5 or ZIP+4", _postcode(r"\d{5}(?:-\d{4})?")),
    ("crm", "MailingCountry"): Convention("alpha-3", _in(_ALPHA3)),
    ("crm", "HasOptedOutOfEmail"): Convention("1 / 0", _in(frozenset({"0", "1"}))),
}


def violations(source: str, column: str, values: pd.Series, country: pd.Series) -> pd.Series | None:
    """Per non-blank value, whether it breaks the column's convention; None: no convention known."""
    convention = CONVENTIONS.get((source, column))
    if convention is None:
        return None
    text = values.astype("string").reset_index(drop=True)
    where = country.astype("string").reindex(values.index).reset_index(drop=True)
    bad = ~convention.ok(text, where).astype(bool)
    return pd.Series(bad.to_numpy(), index=values.index)
