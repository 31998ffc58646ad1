"""The standardize statement (matching.standardize) for one record at a time, in Python: match-on-entry standardizes
a posted record and a hundred candidates per request, where planning the statement in DuckDB costs ~100x more than
running it (hundreds of ms per request; issue 16's profile). Every rule is the SQL's own, spelled with the
functions DuckDB's are: lower() per code point (simple case mapping), strip_accents() (canonical decomposition,
marks dropped, recomposed), trim() of spaces only, RE2's \\p{L}/\\p{N} as Unicode categories L*/N*, \\s as ASCII
whitespace and \\b as an ASCII word boundary. The reference data (nicknames, street words) is read from the DuckDB
tables hub.forms loads, so both paths use the same rows. tests/test_standardize_one.py checks every output column
against the SQL on the demo's records and on hand-picked hard cases.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from typing import Any

import phonenumbers

from hub import forms
from hub.catalogue import record_id
from hub.encryption import scratch_duckdb
from hub.model import EMAIL_PATTERN

_RE2_SPACE = "\t\n\f\r "  # RE2's \s
_EMAIL = re.compile(EMAIL_PATTERN.replace(r"\s", _RE2_SPACE))
_GMAIL = re.compile(r"[^@]*@(gmail|googlemail)\.com")
_EMAIL_USER = re.compile(r"^([^@+]*)")
_EMAIL_DOMAIN = re.compile(r"@(.*)$", re.DOTALL)
_ZIP = re.compile(r"[0-9]{5}([0-9]{4})?")
_ZIP_SHORT = re.compile(r"[0-9]{3,4}")
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_NOT_DIGIT = re.compile(r"[^0-9]")
_PHONE = re.compile(r"\+?[0-9]+")
_UNIT = re.compile(r"(?:^| )(unit [^ ]+)")
_UNIT_CUT = re.compile(r"(?:^| )unit [^ ]+")
_HOUSE = re.compile(r"(?:^| )([0-9]+[a-z]?)(?: |$)")
_SAINT = re.compile(r"\bsaint\b", re.ASCII)
_GB = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?[0-9][A-Z]{2}")
_GB_OUTWARD = re.compile(r"[A-Z]{1,2}[0-9][A-Z0-9]?")
_US = re.compile(r"[0-9]{5}")
_CA = re.compile(r"[A-Z][0-9][A-Z][0-9][A-Z][0-9]")
_NON_ASCII = re.compile(r"[^\x00-\x7F]")
_QUOTES = re.compile("['`\u2018\u2019\u02bc]")
_NOT_PLAIN = re.compile(r"[^a-z0-9 ]")
_FOLD = str.maketrans("øłđðħı", "oldchi")
_AFFIXES = frozenset(forms.NAME_AFFIXES)
_GB_LIKE = ("GB", "GG", "JE", "IM")


def _lower(text: str) -> str:
    """DuckDB's lower(): each code point's simple lowercase (Python's "İ".lower() is two code points, DuckDB's one)."""
    return "".join(c.lower()[0] if c.lower() else c for c in text) if not text.isascii() else text.lower()


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    kept = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c)[0] != "M")
    return unicodedata.normalize("NFC", kept)


def _chars(y: str) -> str:
    """std_chars: fold, unquote, every character not a letter, digit or space -> space."""
    if not _NOT_PLAIN.search(y):
        return y
    if _NON_ASCII.search(y):
        y = y.translate(_FOLD).replace("ß", "ss").replace("æ", "ae").replace("œ", "oe").replace("þ", "th")
    y = _QUOTES.sub("", y)
    return "".join(c if c == " " or unicodedata.category(c)[0] in "LN" else " " for c in y)


def _tokens(x: str) -> list[str]:
    return [t for t in _chars(_strip_accents(_lower(x))).split(" ") if t != ""]


def _joined(tokens: list[str]) -> str | None:
    return " ".join(tokens) or None


def std_text(x: str | None) -> str | None:
    return None if x is None else _joined(_tokens(x))


def std_name(x: str | None) -> str | None:
    return None if x is None else _joined([t for t in _tokens(x) if t not in _AFFIXES])


def std_street(x: str | None, street_map: dict[str, str]) -> str | None:
    if x is None:
        return None
    return _joined([street_map.get(t, t) for t in _tokens(x.replace("#", " unit ") if "#" in x else x)])


def email_key(x: str | None) -> str | None:
    """hub_email_key."""
    if x is None:
        return None
    e = _lower(x.strip(" "))
    if not _EMAIL.fullmatch(e):
        return None
    user = _EMAIL_USER.search(e)
    local = user.group(1) if user else ""
    if _GMAIL.fullmatch(e):
        local = local.replace(".", "")
        return local + "@gmail.com" if local else None
    domain = _EMAIL_DOMAIN.search(e)
    return local + "@" + (domain.group(1) if domain else "") if local else None


def postcode_key(p: str | None, c: str | None) -> str | None:
    """hub_postcode_key."""
    if p is None:
        return None
    alnum = _NOT_ALNUM.sub("", p).upper()
    if _ZIP.fullmatch(alnum) and (c == "US" or c is None):
        return _NOT_DIGIT.sub("", p)[:5]
    if c == "US" and _ZIP_SHORT.fullmatch(p.strip(" ")):
        return p.strip(" ").rjust(5, "0")
    return alnum or None


def _outward(postal5: str | None, country: str | None) -> str | None:
    if postal5 is None:
        return None
    if (country is None or country in _GB_LIKE) and _GB.fullmatch(postal5):
        return postal5[:-3]
    if country in _GB_LIKE and _GB_OUTWARD.fullmatch(postal5):
        return postal5
    if (country is None or country == "US") and _US.fullmatch(postal5):
        return postal5[:3]
    if country == "CA" and _CA.fullmatch(postal5):
        return postal5[:3]
    return None


def _upper(text: str) -> str:
    """DuckDB's upper: one character for one (Python's "ß".upper() is "SS")."""
    return "".join(u if len(u := c.upper()) == 1 else c for c in text)


def _swapped(dob: date | None) -> date | None:
    if dob is None or dob.day > 12 or dob.day == dob.month:
        return None
    try:
        return date(dob.year, dob.day, dob.month)
    except ValueError:  # DuckDB's make_date fails the statement here; no (day, month) <= 12 reaches this
        return None


class Standardizer:
    """The standardize statement's output columns for one record (a dict of canonical fields)."""

    def __init__(self) -> None:
        # matching.standardize's std_calling_codes: region -> calling code; codes are prefix-free
        self.calling = {r: str(phonenumbers.country_code_for_region(r)) for r in phonenumbers.SUPPORTED_REGIONS}
        self.codes = frozenset(self.calling.values())
        con = scratch_duckdb()
        try:
            forms.load(con)
            self.nicknames = dict(con.execute("SELECT nickname, name FROM std_nicknames").fetchall())
            self.street_map = dict(con.execute("SELECT word, abbreviation FROM std_street_types").fetchall())
        finally:
            con.close()

    def __call__(self, r: dict[str, Any]) -> dict[str, Any]:
        first, last = std_name(r.get("first_name")), std_name(r.get("last_name"))
        head = first.split(" ")[0] if first is not None else None
        canonical = self.nicknames.get(head, head) if head is not None else None
        city = std_text(r.get("city"))
        if city is not None and "saint" in city:
            city = _SAINT.sub("st", city)
        email = email_key(r.get("email"))
        country = r.get("country")
        postal5 = postcode_key(r.get("postal_code"), country)
        line1, line2 = (
            std_street(r.get("address_line1"), self.street_map),
            std_street(r.get("address_line2"), self.street_map),
        )
        addr = line1
        if line2 is not None and line2.startswith("unit ") and (line1 is None or f" {line2} " not in f" {line1} "):
            addr = " ".join(p for p in (line1, line2) if p is not None)
        if addr is not None and "unit unit " in addr:
            addr = addr.replace("unit unit ", "unit ")
        unit_match = _UNIT.search(addr) if addr is not None else None
        unit = unit_match.group(1) if unit_match else None
        street = (addr if unit is None else _UNIT_CUT.sub("", addr, count=1).strip(" ")) if addr is not None else None
        street = street or None
        house = _HOUSE.search(street) if street is not None else None
        phone = r.get("phone")
        if phone is None:
            phone_std = None
        else:
            phone_std = (phone.lstrip("+") if _PHONE.fullmatch(phone) else _NOT_DIGIT.sub("", phone)) or None
        dob = r.get("date_of_birth")
        dialling = self.calling.get(_upper(country.strip(" "))) if country is not None else None
        if dialling is None and phone is not None and phone.strip(" ").startswith("+"):
            intl = _NOT_DIGIT.sub("", phone)
            dialling = next((intl[:n] for n in (1, 2, 3) if intl[:n] in self.codes), None)
        return {
            "unique_id": record_id(r["source_system"], r["source_key"]),
            "first_name_std": first,
            "last_name_std": last,
            "first_name_canonical": canonical,
            "name_concat_std": " ".join(p for p in (first, last) if p is not None) or None,
            "email_std": email,
            "email_user_std": email.split("@")[0] if email is not None else None,
            "phone_std": phone_std,
            "dob_std": dob,
            "dob_str": f"{dob.year:04d}-{dob.month:02d}-{dob.day:02d}" if dob is not None else None,
            "address_line1_std": " ".join(p for p in (street, unit) if p is not None) or None,
            "house_number": (house.group(1) or None) if house else None,
            "postal_code_std": postal5,
            "postal_outward": _outward(postal5, country),
            "city_std": city,
            "dob_swapped": _swapped(dob),
            "address_line2_std": line2,
            "dialling_code": dialling,
        }
