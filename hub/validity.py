"""What a valid golden value is, per field: one set of rules for the golden gate (expectations/suites.py,
in bulk as regexes) and for a steward's pin (hub.api.review, one value), so a pin the API accepts can never
stop a run at the gate. A pin is held to a little more than the gate checks in bulk: an email must also be
one matching reads as an address (hub.model.EMAIL_PATTERN), and a date of birth must be plausible.

Where a rule is applied set-based in DuckDB too (survivorship's `valid` rule), its SQL form stands here beside the
regex, and tests/test_validity.py holds the two to the same verdicts."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pycountry

from hub.model import CHANNELS, CONSENT_FIELDS, EMAIL_PATTERN, Consent, plausible_birth_dates

# An address with one @, something before it and a dotted domain after it: plausible, not verified. Whitespace
# is spelled out rather than \s, which pandas cannot hand to Arrow's regex engine (4x slower, in Python).
_NO_AT_OR_SPACE = r"[^@ \t\r\n\f\v]"
EMAIL_REGEX = rf"^{_NO_AT_OR_SPACE}+@{_NO_AT_OR_SPACE}+\.{_NO_AT_OR_SPACE}+$"
_E164_DIGITS = "[1-9][0-9]{6,14}"  # a country code's first digit is never 0; 7 to 15 digits in all
E164_REGEX = rf"^\+{_E164_DIGITS}$"
E164_DIGITS_REGEX = rf"^{_E164_DIGITS}$"  # standardized phones (phone_std): E.164 without its '+'
_EMAIL_KEYED = re.compile(EMAIL_PATTERN)
_REGEXES = {
    "email": (re.compile(EMAIL_REGEX), "not an email address (local@domain.tld)"),
    "phone": (re.compile(E164_REGEX), "not a phone number in E.164 (+ and 7 to 15 digits, e.g. +447700900123)"),
}


def e164_sql(value: str) -> str:
    """SQL: whether `value` (a VARCHAR expression) is a phone in E.164, as E164_REGEX says; NULL for NULL."""
    return f"regexp_full_match({value}, '\\+{_E164_DIGITS}')"


def problem(field: str, value: Any, today: date | None = None) -> str | None:
    """Why `value` (already of the field's type) cannot be the golden value of `field`; None when it can."""
    if value is None:
        return None
    if field in _REGEXES:
        regex, reason = _REGEXES[field]
        # an email must also be one standardization and matching read as an address (hub.forms' email key)
        usable = field != "email" or _EMAIL_KEYED.fullmatch(str(value))
        return None if regex.match(str(value)) and usable else reason
    if field == "date_of_birth":
        earliest, latest = plausible_birth_dates(today)
        if not earliest <= value <= latest:
            return f"not a plausible date of birth (from {earliest.isoformat()} to {latest.isoformat()}, today)"
    if field == "country" and not (re.fullmatch("[A-Z]{2}", str(value)) and pycountry.countries.get(alpha_2=value)):
        return "not an ISO 3166-1 alpha-2 country code in capitals (e.g. GB, US, DE)"
    if field in CONSENT_FIELDS and value not in {c.value for c in Consent}:
        return f"not a consent value (one of {', '.join(c.value for c in Consent)})"
    if field == "preferred_channel" and value not in CHANNELS:
        return f"not a channel (one of {', '.join(CHANNELS)})"
    return None
