"""hub.validity: the one set of rules for golden values that the golden gate and steward pins share."""

from __future__ import annotations

import re
from datetime import date

import duckdb
import pytest

from expectations import suites
from hub import validity

TODAY = date(2026, 6, 1)


def test_the_gate_checks_with_the_same_rules():
    assert suites.EMAIL_REGEX is validity.EMAIL_REGEX and suites.E164_REGEX is validity.E164_REGEX


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("email", "amber.green@example.co.uk"), ("phone", "+447700900123"), ("date_of_birth", date(1900, 1, 1)),
        ("date_of_birth", TODAY), ("country", "GB"), ("consent_sms", "denied"), ("preferred_channel", "post"),
        ("first_name", "Zoë"), ("email", None),
    ],
)  # fmt: skip
def test_valid_values_pass(field, value):
    assert validity.problem(field, value, TODAY) is None


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("email", "not an email", "not an email address"),
        ("email", "amber@localhost", "not an email address"),
        ("email", "amber@example..com", "not an email address"),  # the gate's regex alone would pass it
        ("phone", "07700 900123", "E.164"),
        ("date_of_birth", date(1899, 12, 31), "not a plausible date of birth (from 1900-01-01 to 2026-06-01"),
        ("date_of_birth", date(2026, 6, 2), "not a plausible date of birth"),
        ("country", "XX", "alpha-2"),
        ("country", "gb", "alpha-2"),
        ("consent_email", "GRANTED", "granted, denied, unknown"),
        ("preferred_channel", "fax", "email, sms, phone, post"),
    ],
)
def test_invalid_values_name_the_reason(field, value, reason):
    assert reason in validity.problem(field, value, TODAY)


@pytest.mark.parametrize(
    "value",
    ["+447700900123", "+1234567", "+123456789012345", "+0447700900123", "+123456", "+1234567890123456", "447700900123",
     "+44 7700 900123", "", "++447700900123", "+44770090012a"],
)  # fmt: skip
def test_the_e164_rule_says_the_same_in_sql_and_python(value):
    in_sql = duckdb.connect().execute(f"SELECT {validity.e164_sql('?')}", [value]).fetchone()[0]
    assert in_sql == (validity.problem("phone", value) is None)
    assert in_sql == (value.startswith("+") and bool(re.match(validity.E164_DIGITS_REGEX, value[1:])))
