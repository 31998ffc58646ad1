"""matching.standardize_one gives every record the very values the pipeline's standardize statement gives it: each
output column compared with the SQL's on the demo's source records (typos, nicknames, units, formats of four
systems), on every case of tests/test_standardize.py and on hand-picked hard ones (accents, ligatures, other
scripts, quotes, Gmail, ZIPs, units written every way)."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from hub.catalogue import STANDARDIZED
from matching.standardize import STD_COLUMNS
from matching.standardize_one import Standardizer
from tests import test_standardize as cases
from tests.test_matching import matched  # noqa: F401 (fixture)
from tests.test_standardize import standardized

RAW = ["source_system", "source_key", "first_name", "last_name", "date_of_birth", "email", "phone", "address_line1",
       "address_line2", "city", "postal_code", "country"]  # fmt: skip

HARD = [
    {"first_name": "Zoë-Ann", "last_name": "Ó Súilleabháin", "city": "Saint-Étienne", "country": "FR"},
    {"first_name": "İlkay", "last_name": "GÜNDOĞAN", "city": "İstanbul", "email": "İLKAY@Example.COM"},
    {"first_name": "Bjørn", "last_name": "Łukasz Øster", "city": "Ærøskøbing", "address_line1": "Æbeløvej 3"},
    {"first_name": "ΣΩΚΡΆΤΗΣ", "last_name": "Παπαδόπουλος", "city": "Αθήνα"},
    {"first_name": "ﬁona", "last_name": "Straße", "city": "Saintes", "address_line1": "Flat 2, 14 Saint John's Road"},
    {"first_name": "Mr. John", "last_name": "O\u2019Brien Jr.", "email": " John.Smith+news@GoogleMail.com "},
    {"first_name": "李", "last_name": "小龍", "city": "香港", "phone": "+852 2345 6789"},
    {"first_name": "Dr", "last_name": "Phd", "email": "a.b.c@gmail.com", "phone": "(020) 7946-0018"},
    {"first_name": "d'Arcy", "last_name": "de la Cruz-Smith", "email": "x@y", "phone": "+447700900123"},
    {"first_name": "  ", "last_name": "--", "email": "not an email", "phone": "ext."},
    {"address_line1": "Apt #3, 12 High Street", "address_line2": "Apt 3", "postal_code": "02134-1234", "country": "US"},
    {"address_line1": "12 High St", "address_line2": "Flat 3B", "postal_code": "123", "country": "US"},
    {"address_line1": "12 unit unit 4 High St", "postal_code": "sw1a1aa", "country": None},
    {"address_line1": "221b Baker Street", "address_line2": "Rose Cottage", "postal_code": "NW1 6XE", "country": "GB"},
    {"address_line1": "Unit 5 unit 6 The Mall", "postal_code": "K1A 0B1", "country": "CA"},
    {"address_line1": "#12 Main St.", "postal_code": "M5V", "country": "GB", "city": "St. Saint Albans"},
    {"date_of_birth": date(1980, 2, 3)}, {"date_of_birth": date(1980, 3, 3)}, {"date_of_birth": date(1999, 12, 31)},
    {"date_of_birth": date(1975, 11, 12), "phone": "+1 (555) 010-9999", "email": "Ann.Lee@Mail.Example.co.uk"},
    {"country": " ie", "phone": "+44 20 7946 0018"}, {"country": "XX", "phone": "+353 1 234 5678"},
    {"country": "\u017fe", "phone": "0044 20"}, {"country": "\u00dfS"}, {"phone": " +9"}, {"phone": "+", "country": ""},
]  # fmt: skip


def _same(python: dict[str, Any], sql: dict[str, Any], where: str) -> None:
    for column in STD_COLUMNS:
        assert python[column] == sql[column], (where, column, python[column], sql[column])


def test_every_case_of_the_standardize_tests_and_the_hard_ones():
    rows: list[dict[str, Any]] = [dict(r) for r in HARD]
    rows += [{"first_name": c[0], "last_name": c[1]} for c in cases.NAME_CASES]
    rows += [{"first_name": c[0]} for c in cases.NICKNAME_CASES]
    rows += [{"email": c[0]} for c in cases.EMAIL_CASES]
    rows += [{"phone": c[0]} for c in cases.PHONE_CASES]
    rows += [{"address_line1": c[0], "address_line2": c[1]} for c in cases.ADDRESS_CASES]
    rows += [{"postal_code": c[0], "country": c[1]} for c in cases.POSTAL_CASES]
    rows += [{"city": c[0]} for c in cases.CITY_CASES]
    sql = standardized(*rows)
    one = Standardizer()
    assert len(sql) == len(rows) > 100
    for i, (row, expected) in enumerate(zip(rows, sql, strict=True)):
        _same(one({"source_system": "crm", "source_key": str(i), **row}), expected, repr(row))


def test_every_demo_record_standardizes_as_the_pipeline_standardized_it(matched):  # noqa: F811 (the fixture)
    ws = matched[0]
    records = ws.con.execute(f"SELECT {', '.join(RAW)}, {', '.join(STD_COLUMNS)} FROM {STANDARDIZED}")
    names = [d[0] for d in records.description]
    rows = [dict(zip(names, r, strict=True)) for r in records.fetchall()]
    one = Standardizer()
    assert len(rows) > 1000
    for row in rows:
        _same(one({c: row[c] for c in RAW}), row, row["unique_id"])


@pytest.mark.parametrize(
    "column", ["first_name_std", "address_line1_std", "email_std", "postal_outward", "dialling_code"]
)
def test_the_comparison_can_fail(column):
    """A wrong value is caught: the check above is not vacuous."""
    row = {"source_system": "crm", "source_key": "0", **HARD[10], "first_name": "Ann", "email": "a@b.co"}
    python = Standardizer()(row)
    sql = standardized({k: v for k, v in row.items() if k not in ("source_system", "source_key")})[0]
    _same(python, sql, "same")
    with pytest.raises(AssertionError):
        _same({**python, column: "x"}, sql, "changed")
