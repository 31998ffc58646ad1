"""matching.standardize: each rule as a table of raw value -> standardized value, plus the contract
(raw columns kept, unique ids, NULL never ''), the reference data files and a 200k-row run."""

from __future__ import annotations

import csv
import unicodedata
from datetime import date
from typing import Any

import pytest

from hub import forms
from hub.forms import UNIT_WORDS
from hub.workspace import Workspace
from matching.standardize import NICKNAMES_CSV, STD_COLUMNS, STREET_TYPES_CSV, standardize


def standardized(*rows: dict[str, Any]) -> list[dict[str, Any]]:
    """Stage `rows` (source_system/source_key filled in when absent) and return the standardized rows."""
    ws = Workspace(":memory:")
    for i, row in enumerate(rows):
        row = {"source_system": "crm", "source_key": str(i), **row}
        cols = ", ".join(row)
        ws.con.execute(
            f"INSERT INTO staged_records ({cols}) VALUES ({', '.join('?' for _ in row)})", list(row.values())
        )
    assert standardize(ws.con) == len(rows)
    out = ws.con.execute("SELECT * FROM standardized_records ORDER BY source_system, source_key::INTEGER")
    names = [d[0] for d in out.description]
    return [dict(zip(names, r, strict=True)) for r in out.fetchall()]


_batches: dict[tuple[int, tuple[str, ...]], dict[tuple, dict[str, Any]]] = {}


def batch(cases: list[tuple], *fields: str) -> dict[tuple, dict[str, Any]]:
    """Standardize every case of a table in one run (the first len(fields) items of a case are its input
    values), once per table, and return output rows keyed by input values: one standardize, not one per case."""
    key = (id(cases), fields)
    if key not in _batches:
        inputs = [case[: len(fields)] for case in cases]
        rows = standardized(*(dict(zip(fields, values, strict=True)) for values in inputs))
        _batches[key] = dict(zip(inputs, rows, strict=True))
    return _batches[key]


NAME_CASES = [  # first_name, last_name -> first_name_std, last_name_std
    ("JOHN", "SMITH", "john", "smith"),
    ("José", "Zoë", "jose", "zoe"),
    ("Siobhán", "Ó Súilleabháin", "siobhan", "o suilleabhain"),
    ("Søren", "Straße", "soren", "strasse"),
    ("  Mary   Ann ", " de  la\tCruz ", "mary ann", "de la cruz"),
    ("Mr. John", "Smith Jr.", "john", "smith"),
    ("Dr Jane", "Doe, PhD", "jane", "doe"),
    ("Prof. Sir Ian", "Wright III", "ian", "wright"),
    ("Mrs", "O'Brien", None, "obrien"),
    ("D\u2019Arcy", "O`Neil", "darcy", "oneil"),  # curly apostrophe, backtick
    ("Anne-Marie", "Smith-Jones", "anne marie", "smith jones"),
    ("J.R.", "Smith", "j r", "smith"),
    ("", "   ", None, None),
    (None, None, None, None),
]


@pytest.mark.parametrize(("first", "last", "first_std", "last_std"), NAME_CASES)
def test_names(first, last, first_std, last_std):
    row = batch(NAME_CASES, "first_name", "last_name")[first, last]
    assert (row["first_name_std"], row["last_name_std"]) == (first_std, last_std)
    assert (row["first_name"], row["last_name"]) == (first, last)  # raw values kept beside


NICKNAME_CASES = [  # first_name -> first_name_canonical
    ("Bob", "robert"),
    ("BOBBY", "robert"),
    ("Robert", "robert"),
    ("Liz", "elizabeth"),
    ("Betty", "elizabeth"),
    ("Kate", "katherine"),
    ("Catherine", "katherine"),
    ("Bill", "william"),
    ("Jim", "james"),
    ("Peggy", "margaret"),
    ("Alex", "alexander"),
    ("Mr Bob", "robert"),
    ("Bob Lee", "robert"),
    ("Xanthe", "xanthe"),
    ("Zoë", "zoe"),
    ("Mrs", None),
    (None, None),
]


@pytest.mark.parametrize(("first", "canonical"), NICKNAME_CASES)
def test_first_name_canonical(first, canonical):
    assert batch(NICKNAME_CASES, "first_name")[(first,)]["first_name_canonical"] == canonical


CONCAT_CASES = [("John", "Smith", "john smith"), (None, "Smith", "smith"), ("John", None, "john"), (None, None, None)]


@pytest.mark.parametrize(("first", "last", "concat"), CONCAT_CASES)
def test_name_concat(first, last, concat):
    assert batch(CONCAT_CASES, "first_name", "last_name")[first, last]["name_concat_std"] == concat


EMAIL_CASES = [  # email -> email_std, email_user_std
    ("J.Smith+news@GoogleMail.com", "jsmith@gmail.com", "jsmith"),
    ("j.o.h.n@gmail.com", "john@gmail.com", "john"),
    ("  John.Smith@Example.co.uk ", "john.smith@example.co.uk", "john.smith"),
    ("john.smith+tag@yahoo.com", "john.smith@yahoo.com", "john.smith"),
    ("not-an-email", None, None),
    ("john@localhost", None, None),
    ("john@.com", None, None),
    ("a@b@c.com", None, None),
    ("john smith@x.com", None, None),
    ("+tag@x.com", None, None),
    ("", None, None),
    (None, None, None),
]


@pytest.mark.parametrize(("email", "email_std", "user"), EMAIL_CASES)
def test_email(email, email_std, user):
    row = batch(EMAIL_CASES, "email")[(email,)]
    assert (row["email_std"], row["email_user_std"]) == (email_std, user)


PHONE_CASES = [
    ("+442079460018", "442079460018"),
    ("+16175550100", "16175550100"),
    ("+1 617-555-0100", "16175550100"),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("phone", "phone_std"), PHONE_CASES)
def test_phone(phone, phone_std):
    assert batch(PHONE_CASES, "phone")[(phone,)]["phone_std"] == phone_std


DIALLING_CASES = [  # country, phone -> dialling_code: the country's calling code, else an international phone's
    ("GB", "+1 415 555 0100", "44"),  # the country first: where the person lives
    ("ie", None, "353"),
    (None, "+44 20 7946 0000", "44"),
    (None, "+353 1 555 0100", "353"),  # 3 digits: 35 is no calling code, 353 is
    (None, "+1 (415) 555-0100", "1"),
    (None, "020 7946 0000", None),  # a national number names no country
    ("United Kingdom", None, None),  # not an ISO 3166 code
    (None, None, None),
]


@pytest.mark.parametrize(("country", "phone", "code"), DIALLING_CASES)
def test_dialling_code(country, phone, code):
    assert batch(DIALLING_CASES, "country", "phone")[(country, phone)]["dialling_code"] == code


DOB_CASES = [(date(1980, 2, 3), "1980-02-03"), (date(2001, 12, 31), "2001-12-31"), (None, None)]


@pytest.mark.parametrize(("dob", "dob_str"), DOB_CASES)
def test_date_of_birth(dob, dob_str):
    row = batch(DOB_CASES, "date_of_birth")[(dob,)]
    assert (row["dob_std"], row["dob_str"], row["date_of_birth"]) == (dob, dob_str, dob)


ADDRESS_CASES = [  # address_line1, address_line2 -> address_line1_std, house_number
    ("12 High Street", None, "12 high st", "12"),
    ("12 High St", None, "12 high st", "12"),
    ("12, high street.", None, "12 high st", "12"),
    ("12 HIGH ST.", None, "12 high st", "12"),
    ("12 High Street, Flat 3", None, "12 high st unit 3", "12"),
    ("12 High St", "Flat 3", "12 high st unit 3", "12"),
    ("Flat 3, 12 High Street", None, "12 high st unit 3", "12"),
    ("12 High St", "Apt 3", "12 high st unit 3", "12"),
    ("12 High St #3", None, "12 high st unit 3", "12"),
    ("12 High St, Apt. #3", None, "12 high st unit 3", "12"),
    ("12 High St, Flat 3", "Flat 3", "12 high st unit 3", "12"),
    ("100 Main Street", "Suite 200", "100 main st unit 200", "100"),
    ("Apartment 4B, 100 Main Street", None, "100 main st unit 4b", "100"),
    ("221B Baker Street", None, "221b baker st", "221b"),
    ("1 Acacia Avenue", None, "1 acacia ave", "1"),
    ("7 Primrose Gardens", None, "7 primrose gdns", "7"),
    ("5 North Road", None, "5 n rd", "5"),
    ("St Mary's Road", None, "st marys rd", None),
    ("1st Avenue", None, "1st ave", None),
    ("Rue de l'Église 4", None, "rue de leglise 4", "4"),
    ("Ansgar-Bolnbach-Strasse 113\nWohnung 25", None, "ansgar bolnbach strasse 113 unit 25", "113"),
    ("Ansgar-Bolnbach-Strasse 113", "Wohnung 25", "ansgar bolnbach strasse 113 unit 25", "113"),
    ("11 chemin Grégoire Legros\nAppartement 12", None, "11 chemin gregoire legros unit 12", "11"),
    ("11 chemin Grégoire Legros", "Appartement 12", "11 chemin gregoire legros unit 12", "11"),
    ("Bât. 3, 4 rue des Lilas", None, "4 rue des lilas unit 3", "4"),
    ("The Old Rectory", "Church Lane", "the old rectory", None),
    (None, "Flat 3", "unit 3", None),
    ("  ", None, None, None),
    (None, None, None, None),
]


@pytest.mark.parametrize(("line1", "line2", "line1_std", "house"), ADDRESS_CASES)
def test_address(line1, line2, line1_std, house):
    row = batch(ADDRESS_CASES, "address_line1", "address_line2")[line1, line2]
    assert (row["address_line1_std"], row["house_number"]) == (line1_std, house)
    assert (row["address_line1"], row["address_line2"]) == (line1, line2)


POSTAL_CASES = [  # postal_code, country -> postal_code_std, postal_outward
    ("sw1a 1aa", "GB", "SW1A1AA", "SW1A"),
    ("SW1A1AA", "GB", "SW1A1AA", "SW1A"),
    ("M1 1AE", "GB", "M11AE", "M1"),
    ("EC2A 4BX", None, "EC2A4BX", "EC2A"),
    ("SW1A", "GB", "SW1A", "SW1A"),
    ("02134-1234", "US", "02134", "021"),
    ("021341234", "US", "02134", "021"),
    ("02134", "US", "02134", "021"),
    ("2134", "US", "02134", "021"),
    ("90210", None, "90210", "902"),
    ("k1a 0b1", "CA", "K1A0B1", "K1A"),
    ("10115", "DE", "10115", None),
    ("  ", "GB", None, None),
    (None, "GB", None, None),
]


@pytest.mark.parametrize(("code", "country", "code_std", "outward"), POSTAL_CASES)
def test_postal_code(code, country, code_std, outward):
    row = batch(POSTAL_CASES, "postal_code", "country")[code, country]
    assert (row["postal_code_std"], row["postal_outward"]) == (code_std, outward)


CITY_CASES = [
    ("  New   York ", "new york"),
    ("LONDON", "london"),
    ("St. Albans", "st albans"),
    ("Saint Albans", "st albans"),
    ("Zürich", "zurich"),
    ("Stoke-on-Trent", "stoke on trent"),
    ("", None),
    (None, None),
]


@pytest.mark.parametrize(("city", "city_std"), CITY_CASES)
def test_city(city, city_std):
    assert batch(CITY_CASES, "city")[(city,)]["city_std"] == city_std


def test_same_person_standardizes_the_same_across_sources():
    a, b = standardized(
        {"first_name": "Bob", "last_name": "O'Brien", "email": "Bob.OBrien+shop@googlemail.com",
         "address_line1": "12 High Street, Flat 3", "postal_code": "sw1a 1aa", "country": "GB"},
        {"first_name": "ROBERT", "last_name": "OBrien", "email": "bobobrien@gmail.com",
         "address_line1": "12 High St", "address_line2": "Flat 3", "postal_code": "SW1A1AA", "country": "GB"},
    )  # fmt: skip
    for col in ("first_name_canonical", "last_name_std", "email_std", "address_line1_std", "postal_code_std"):
        assert a[col] == b[col], col


def test_output_columns_and_raw_values_kept():
    ws = Workspace(":memory:")
    ws.con.execute("ALTER TABLE staged_records ADD COLUMN loyalty_tier VARCHAR")
    ws.con.execute(
        """INSERT INTO staged_records (source_system, source_key, first_name, loyalty_tier, consent_email)
           VALUES ('billing', '007', ' Mr. José ', 'gold', 'granted')"""
    )
    source_cols = [r[0] for r in ws.con.execute("DESCRIBE staged_records").fetchall()]
    standardize(ws.con)
    out = ws.con.execute("SELECT * FROM standardized_records")
    assert [d[0] for d in out.description] == source_cols + list(STD_COLUMNS)
    row = dict(zip(source_cols + list(STD_COLUMNS), out.fetchone(), strict=True))
    assert (row["unique_id"], row["source_key"], row["first_name"]) == ("billing:007", "007", " Mr. José ")
    assert (row["loyalty_tier"], row["consent_email"], row["first_name_std"]) == ("gold", "granted", "jose")


def test_unique_id_is_unique_across_sources():
    rows = standardized(
        {"source_system": "billing", "source_key": "1"},
        {"source_system": "web", "source_key": "1"},
        {"source_system": "billing", "source_key": "2"},
    )
    ids = [r["unique_id"] for r in rows]
    assert sorted(ids) == ["billing:1", "billing:2", "web:1"]


@pytest.mark.parametrize(
    "keys",
    [[("billing", "1"), ("billing", "1")], [("billing", None)], [(None, "1")]],
    ids=["repeated", "no-key", "no-system"],
)
def test_bad_unique_id_refused_and_target_untouched(keys):
    ws = Workspace(":memory:")
    ws.con.execute("CREATE TABLE standardized_records AS SELECT 'previous run' AS marker")
    ws.con.executemany("INSERT INTO staged_records (source_system, source_key) VALUES (?, ?)", keys)
    with pytest.raises(ValueError, match="unique"):
        standardize(ws.con)
    assert ws.con.execute("SELECT marker FROM standardized_records").fetchall() == [("previous run",)]


def test_missing_values_are_null_never_empty():
    rows = standardized({}, {"first_name": " ", "last_name": "--", "email": " ", "address_line1": ", ", "city": "."})
    for row in rows:
        for col in STD_COLUMNS:
            if col != "unique_id":
                assert row[col] is None, (col, row[col])


def test_custom_tables_and_rerun():
    ws = Workspace(":memory:")
    ws.con.execute("INSERT INTO staged_records (source_system, source_key, first_name) VALUES ('a', '1', 'Liz')")
    ws.con.execute("CREATE VIEW only_a AS SELECT * FROM staged_records WHERE source_system = 'a'")
    assert standardize(ws.con, source="only_a", target="std_a") == 1
    assert standardize(ws.con, source="only_a", target="std_a") == 1
    assert ws.con.execute("SELECT first_name_canonical FROM std_a").fetchone() == ("elizabeth",)
    with pytest.raises(ValueError, match="table name"):
        standardize(ws.con, target="x; DROP TABLE staged_records")


def _csv(path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_nickname_table_is_one_hop_and_unambiguous():
    rows = _csv(NICKNAMES_CSV)
    nicknames = [r["nickname"] for r in rows]
    assert len(rows) >= 150
    assert len(set(nicknames)) == len(nicknames), "a nickname must map to one name"
    assert not set(nicknames) & {r["name"] for r in rows}, "a canonical name must not itself be a nickname"
    assert all(v == v.strip().lower() and v.isalpha() for r in rows for v in r.values())


def test_street_types_table():
    rows = _csv(STREET_TYPES_CSV)
    words = [r["word"] for r in rows]
    assert len(set(words)) == len(words)
    assert {("street", "st"), ("road", "rd"), ("flat", "unit"), ("apt", "unit"), ("suite", "unit")} <= {
        (r["word"], r["abbreviation"]) for r in rows
    }
    # The unit pattern (forms.UNIT_WORDS, read on the line as written) and the street keys know the same unit words.
    units = {r["word"] for r in rows if r["abbreviation"] == "unit"}
    assert {unicodedata.normalize("NFKD", w).encode("ascii", "ignore").decode() for w in UNIT_WORDS} == units


@pytest.mark.parametrize(
    ("line1", "street", "unit"),
    [
        ("12 High St Flat 3", "12 High St", "Flat 3"),
        ("Flat 3, 12 High St", "12 High St", "Flat 3"),
        ("1 boulevard Joseph Dupré Bât. 28", "1 boulevard Joseph Dupré", "Bât. 28"),  # after a letter with an accent
        ("Hauptstraße 4 Whg. 2", "Hauptstraße 4", "Whg. 2"),
        ("3 Rue de l'Église", "3 Rue de l'Église", None),
    ],
)
def test_a_one_line_street_and_its_flat(line1, street, unit):
    """hub.forms' street and unit of one line (write-back and survivorship read a one-line address with them): before,
    a flat after a word ending in an accented letter stayed in the street, and write-back wrote "... Dupré Bât. 28
    Bât. 28" where the golden record also held the flat on its own line."""
    ws = Workspace(":memory:")
    forms.load(ws.con)
    assert ws.con.execute("SELECT hub_street(?, NULL), hub_unit(?, NULL)", [line1, line1]).fetchone() == (street, unit)


@pytest.mark.slow
def test_standardizes_200k_rows_set_based():
    ws = Workspace(":memory:")
    ws.con.execute(
        """INSERT INTO staged_records BY NAME
           SELECT ['billing', 'web', 'app', 'crm'][1 + i % 4] AS source_system, i::VARCHAR AS source_key,
                  ['Bob', 'Liz', 'José', 'Mr. John'][1 + i % 4] AS first_name,
                  ['O''Brien', 'Smith-Jones', 'Taylor'][1 + i % 3] || (i % 5000)::VARCHAR AS last_name,
                  'J.Smith' || i::VARCHAR || '+x@GoogleMail.com' AS email,
                  '+4420' || lpad((i % 100000000)::VARCHAR, 8, '0') AS phone,
                  DATE '1950-01-01' + (i % 20000)::INTEGER AS date_of_birth,
                  (1 + i % 300)::VARCHAR || ' High Street' || CASE WHEN i % 5 = 0 THEN ', Flat 2' ELSE '' END
                      AS address_line1,
                  CASE WHEN i % 7 = 0 THEN 'Apt 9' END AS address_line2,
                  'St. Albans' AS city, 'al1 ' || (i % 10)::VARCHAR || 'ab' AS postal_code, 'GB' AS country
           FROM range(200000) AS r(i)"""
    )
    assert standardize(ws.con) == 200_000
    stats = ws.con.execute(
        """SELECT count(DISTINCT unique_id), count(*) FILTER (first_name_canonical = 'robert'),
                  count(*) FILTER (email_std = 'jsmith' || source_key || '@gmail.com'),
                  count(*) FILTER (address_line1_std LIKE '% high st%' AND house_number IS NOT NULL),
                  count(*) FILTER (postal_outward = 'AL1'), count(*) FILTER (city_std = 'st albans')
           FROM standardized_records"""
    ).fetchone()
    assert stats == (200_000, 50_000, 200_000, 200_000, 200_000, 200_000)
