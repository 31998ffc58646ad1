"""Column mapping between source formats and the canonical model (connectors/transforms.py).

Forward cases run `map_rows` on one-row frames so each table row reads as "this raw value, under this mapping,
gives this canonical value (or is unreadable: missing with a field warning, and quarantined only where the
mapping is `required`)". Reverse cases check that what write-back writes reads back as the same canonical value:
forward(reverse(x)) == x.
"""

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.transforms import (
    IMPLAUSIBLE_BIRTH,
    MAX_TEXT,
    TOO_LONG,
    map_rows,
    row_version,
    strip_titles,
    strip_titles_column,
    to_canonical,
    to_source,
)
from hub.config import ADDRESS_PARTS, HubConfig, SourceConfig
from hub.forms import NAME_AFFIXES

BAD = "<unreadable>"  # expected value: missing, with a field warning naming the field, the column and the value


def make(
    fields: dict[str, Any], *, attributes: dict[str, str] | None = None, **source: Any
) -> tuple[HubConfig, SourceConfig]:
    cfg = HubConfig.model_validate(
        {
            "attributes": attributes or {},
            "sources": {
                "crm": {
                    "kind": "sql",
                    "url": "sqlite:///crm.db",
                    "table": "customers",
                    "primary_key": "id",
                    **source,
                    "fields": fields,
                }
            },
        }
    )
    return cfg, cfg.sources["crm"]


def py(v: Any) -> Any:
    """A canonical value as a plain Python value (None for every kind of missing)."""
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and v != v):
        return None
    return v.item() if hasattr(v, "item") and not isinstance(v, pd.Timestamp) else v


def forward(
    field: str, mapping: dict[str, Any], values: list[Any], **kw: Any
) -> tuple[list[Any], list[str | None], pd.DataFrame]:
    """Canonical values, quarantine reasons and field warnings of `values` read through one mapping."""
    cfg, src = make({field: mapping}, **kw)
    raw = pd.DataFrame({"id": [str(i) for i in range(1, len(values) + 1)], mapping["column"]: values})
    mapped = map_rows(raw, src, cfg, "crm")
    return [py(v) for v in mapped.records[field]], [py(r) for r in mapped.reasons], mapped.warnings


def check_one(field: str, mapping: dict[str, Any], raw: Any, expected: Any, **kw: Any) -> None:
    [value], [reason], warnings = forward(field, mapping, [raw], **kw)
    assert reason is None  # an optional field never quarantines a row
    if expected == BAD:
        assert value in (None, "unknown")  # read as missing; a consent column still reads 'unknown'
        [w] = warnings.to_dict("records")
        assert (w["source_key"], w["field"], w["column"], w["reason"]) == (
            "1",
            field,
            mapping["column"],
            "cannot parse",
        )
        assert w["value"] == str(raw).strip()[:40]
        # `required: true`: the same value quarantines the row, with a reason naming the field, column and value.
        [_], [reason], warnings = forward(field, {**mapping, "required": True}, [raw], **kw)
        assert reason is not None and field in reason and f"column '{mapping['column']}'" in reason
        assert repr(str(raw).strip())[:40] in reason and warnings.empty
    else:
        assert warnings.empty
        assert value == expected


def ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text)


# -- split_name ------------------------------------------------------------------------------------


def split(order: str) -> dict[str, Any]:
    part = {"column": "full_name", "transform": "split_name", "order": order}
    return {"first_name": {**part, "part": "first"}, "last_name": {**part, "part": "last"}}


@pytest.mark.parametrize(
    ("order", "raw", "first", "last"),
    [
        ("first_last", "John Smith", "John", "Smith"),
        ("first_last", "Mary Ann Smith", "Mary Ann", "Smith"),
        ("first_last", "  John   Smith  ", "John", "Smith"),
        ("first_last", "Cher", None, "Cher"),
        # a surname opens with its particles, in any case; a first name keeps a word ("Van Morrison")
        ("first_last", "Tilmann van der Dussen", "Tilmann", "van der Dussen"),
        ("first_last", "Maria José de la Cruz", "Maria José", "de la Cruz"),
        ("first_last", "Noel Le Goff", "Noel", "Le Goff"),
        ("first_last", "Jean-Claude Van Damme", "Jean-Claude", "Van Damme"),
        ("first_last", "Ana  dos Santos", "Ana", "dos Santos"),
        ("first_last", "Van Morrison", "Van", "Morrison"),
        ("first_last", "Ivan Devane", "Ivan", "Devane"),
        ("first_last", "", None, None),
        ("first_last", "   ", None, None),
        ("first_last", None, None, None),
        pytest.param(
            "first_last",
            "SMITH, John",
            "John",
            "SMITH",
        ),
        ("last_comma_first", "SMITH, John", "John", "SMITH"),
        ("last_comma_first", "Smith,John", "John", "Smith"),
        ("last_comma_first", "van der Berg, Anna Maria", "Anna Maria", "van der Berg"),
        ("last_comma_first", "  Smith ,   John  ", "John", "Smith"),
        ("last_comma_first", "Smith,", None, "Smith"),
        ("last_comma_first", "Mary Ann Smith", "Mary Ann", "Smith"),  # no comma: read as First Last
        ("last_comma_first", "Cher", None, "Cher"),
        ("last_comma_first", "", None, None),
        ("last_comma_first", None, None, None),
    ],
)
def test_split_name(order, raw, first, last):
    cfg, src = make(split(order))
    records, reasons = to_canonical(pd.DataFrame({"id": ["1"], "full_name": [raw]}), src, cfg, "crm")
    assert (py(records.at[0, "first_name"]), py(records.at[0, "last_name"])) == (first, last)
    assert py(reasons[0]) is None


# -- dates and timestamps ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "raw", "expected"),
    [
        ("%d/%m/%Y", "31/12/1985", ts("1985-12-31")),
        ("%d/%m/%Y", " 01/02/1985 ", ts("1985-02-01")),
        ("%d/%m/%Y", "31/02/1985", BAD),
        ("%d/%m/%Y", "unknown", BAD),
        ("%d/%m/%Y", "1985-12-31", BAD),
        ("%d/%m/%Y", "", None),
        ("%d/%m/%Y", None, None),
        ("%m/%d/%Y", "12/31/1985", ts("1985-12-31")),
        ("%m/%d/%Y", "02/01/1985", ts("1985-02-01")),
        ("%m/%d/%Y", "31/12/1985", BAD),
        (None, "1985-12-31", ts("1985-12-31")),
        ("iso", "1985-12-31", ts("1985-12-31")),
        (None, "1985-12-31T23:30:00", ts("1985-12-31")),  # a date keeps only the day
        (None, "31/12/1985", BAD),
        (None, "unknown", BAD),
        (None, dt.date(1985, 12, 31), ts("1985-12-31")),  # a native DATE column
    ],
)
def test_date(fmt, raw, expected):
    check_one("date_of_birth", {"column": "dob", "transform": "date", "format": fmt}, raw, expected)


def test_date_is_the_default_transform_of_a_date_field():
    check_one("date_of_birth", {"column": "dob", "format": "%d.%m.%Y"}, "31.12.1985", ts("1985-12-31"))


IMPLAUSIBLE = "<implausible>"  # expected value: missing, with an implausible-date-of-birth warning
# Days from today, resolved when the test runs, not when it is collected: a suite that crosses midnight
# would otherwise test yesterday's "tomorrow" (and xdist workers would collect different test ids).
TODAY, TOMORROW = "<today>", "<tomorrow>"


def _on_the_day(raw):
    days = {TODAY: 0, TOMORROW: 1}.get(raw) if isinstance(raw, str) else None
    return raw if days is None else (dt.date.today() + dt.timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1900-01-01", ts("1900-01-01")),
        ("1899-12-31", IMPLAUSIBLE),
        ("0001-01-01", IMPLAUSIBLE),
        ("9999-12-31", IMPLAUSIBLE),
        (TODAY, TODAY),  # expected: the same day, read
        (TOMORROW, IMPLAUSIBLE),
        (dt.date(1, 1, 1), IMPLAUSIBLE),  # a native DATE column
        (dt.date(9999, 12, 31), IMPLAUSIBLE),
        ("19160017", BAD),  # not a date at all
    ],
)
def test_date_of_birth_outside_the_plausible_range_is_missing_with_a_warning(raw, expected):
    raw = _on_the_day(raw)
    if expected == TODAY:
        expected = ts(raw)
    if expected == BAD:
        check_one("date_of_birth", {"column": "dob", "format": "%Y%m%d"}, raw, expected)
        return
    [value], [reason], warnings = forward("date_of_birth", {"column": "dob"}, [raw])
    assert reason is None
    if expected != IMPLAUSIBLE:
        assert value == expected and warnings.empty
        return
    assert value is None
    assert warnings[["field", "column", "value", "reason"]].values.tolist() == [
        ["date_of_birth", "dob", str(raw), IMPLAUSIBLE_BIRTH]
    ]
    [_], [reason], _ = forward("date_of_birth", {"column": "dob", "required": True}, [raw])
    assert reason == f"date_of_birth (column 'dob'): {IMPLAUSIBLE_BIRTH} {str(raw)!r}"


def test_only_dates_of_birth_have_a_plausible_range():
    values, reasons, warnings = forward("joined", {"column": "j"}, ["1850-01-01"], attributes={"joined": "date"})
    assert (values, reasons, warnings.empty) == ([ts("1850-01-01")], [None], True)


NOON = ts("2024-03-01 12:00:00")  # canonical timestamps are naive UTC


@pytest.mark.parametrize(
    ("fmt", "raw", "expected"),
    [
        (None, "2024-03-01T12:00:00", NOON),  # no offset: taken as UTC
        (None, "2024-03-01 12:00:00", NOON),
        (None, "2024-03-01T12:00:00Z", NOON),
        ("iso", "2024-03-01T12:00:00+0000", NOON),
        ("iso", "2024-03-01T14:00:00+0200", NOON),
        ("iso", "2024-03-01T07:00:00-05:00", NOON),
        ("iso", "2024-03-01T12:00:00.250+00:00", ts("2024-03-01 12:00:00.250")),
        ("iso", "yesterday", BAD),
        ("epoch", "1709294400", NOON),
        ("epoch", 1709294400, NOON),
        ("epoch", "soon", BAD),
        ("epoch_ms", "1709294400123", ts("2024-03-01 12:00:00.123")),
        ("epoch_ms", 1709294400000, NOON),
        ("%d.%m.%Y %H:%M", "01.03.2024 12:00", NOON),
        ("%d.%m.%Y %H:%M", "2024-03-01 12:00", BAD),
        ("%Y-%m-%d %H:%M:%S%z", "2024-03-01 13:00:00+0100", NOON),
        (None, dt.datetime(2024, 3, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1))), NOON),  # native, aware
        (None, dt.datetime(2024, 3, 1, 12), NOON),  # native, naive
        (None, "", None),
    ],
)
def test_timestamp(fmt, raw, expected):
    mapping = {"column": "seen", "transform": "timestamp", "format": fmt}
    check_one("last_seen", mapping, raw, expected, attributes={"last_seen": "timestamp"})


def test_timestamp_format_with_offsets_that_change_over_the_year():
    mapping = {"column": "seen", "transform": "timestamp", "format": "%Y-%m-%d %H:%M:%S%z"}
    values, reasons, _ = forward(
        "last_seen",
        mapping,
        ["2024-01-15 13:00:00+0100", "2024-07-15 14:00:00+0200"],
        attributes={"last_seen": "timestamp"},
    )
    assert values == [ts("2024-01-15 12:00:00"), ts("2024-07-15 12:00:00")]
    assert reasons == [None, None]


# -- phone ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("region", "raw", "expected"),
    [
        ("GB", "020 7946 0018", "+442079460018"),
        ("GB", "07700 900123", "+447700900123"),
        ("GB", "+44 20 7946 0018", "+442079460018"),
        ("GB", "+44 (0)20 7946 0018", "+442079460018"),
        ("GB", "447700900123", "+447700900123"),  # digits with the country code, no '+'
        ("GB", "+1 212 555 0143", "+12125550143"),
        ("GB", "n/a", BAD),
        ("GB", "12", BAD),
        ("US", "(212) 555-0143", "+12125550143"),
        ("US", "212-555-0143", "+12125550143"),
        ("US", "12125550143", "+12125550143"),
        ("US", "+44 20 7946 0018", "+442079460018"),
        ("US", "447700900123", "+447700900123"),
        ("US", "020 7946 0018", BAD),  # a UK national number is not a US number
        ("US", "n/a", BAD),
        ("US", "12", BAD),
        ("US", "", None),
        ("US", None, None),
    ],
)
def test_phone_to_e164(region, raw, expected):
    check_one("phone", {"column": "tel", "transform": "phone", "region": region}, raw, expected)


@pytest.mark.parametrize(("default_region", "expected"), [("GB", "+442079460018"), ("US", BAD)])
def test_phone_region_defaults_to_the_source_default_region(default_region, expected):
    mapping = {"column": "tel", "transform": "phone"}
    check_one("phone", mapping, "020 7946 0018", expected, default_region=default_region)


@pytest.mark.parametrize(
    ("field", "raw", "expected"),
    [
        ("phone", "020 7946 0018", "+442079460018"),
        ("country", "United Kingdom", "GB"),
        ("consent_email", "Y", "granted"),
    ],
)
def test_shorthand_mapping_still_standardises_phone_country_and_consent(field, raw, expected):
    check_one(field, {"column": "col"}, raw, expected, default_region="GB")


# -- consent and boolean -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "raw", "expected"),
    [
        ({}, "Y", "granted"),
        ({}, "yes", "granted"),
        ({}, "TRUE", "granted"),
        ({}, "1", "granted"),
        ({}, 1, "granted"),
        ({}, "opted_in", "granted"),
        ({}, "granted", "granted"),
        ({}, "N", "denied"),
        ({}, "0", "denied"),
        ({}, "unsubscribed", "denied"),
        ({}, " no ", "denied"),
        ({}, "", "unknown"),
        ({}, None, "unknown"),
        ({}, "maybe", BAD),
        ({"granted": ["0"], "denied": ["1"]}, "0", "granted"),  # inverted flags (an "opt-out" column)
        ({"granted": ["0"], "denied": ["1"]}, "1", "denied"),
        ({"granted": ["0"], "denied": ["1"]}, 0, "granted"),
        ({"granted": ["0"], "denied": ["1"]}, "Y", BAD),  # custom words replace the defaults
        ({"granted": ["Opt-In"], "denied": ["Opt-Out"]}, "opt-in", "granted"),  # case-insensitive
        ({"granted": ["Opt-In"], "denied": ["Opt-Out"]}, "OPT-OUT", "denied"),
        ({"granted": ["Opt-In"], "denied": ["Opt-Out"]}, "", "unknown"),
        ({"granted": ["Opt-In"], "denied": ["Opt-Out"]}, "yes", BAD),
    ],
)
def test_consent(options, raw, expected):
    check_one("consent_email", {"column": "optin", "transform": "consent", **options}, raw, expected)


@pytest.mark.parametrize(("raw", "expected"), [("A", "granted"), ("R", "denied"), ("U", "unknown"), ("X", BAD)])
def test_consent_through_map(raw, expected):
    mapping = {"column": "st", "transform": "map", "values": {"A": "granted", "R": "denied", "U": "unknown"}}
    check_one("consent_sms", mapping, raw, expected)


@pytest.mark.parametrize(
    ("options", "raw", "expected"),
    [
        ({}, "yes", True),
        ({}, "T", True),
        ({}, 1, True),
        ({}, "off", False),
        ({}, "0", False),
        ({}, "", None),
        ({}, None, None),
        ({}, "maybe", BAD),
        ({"true": ["J"], "false": ["N"]}, "j", True),
        ({"true": ["J"], "false": ["N"]}, "N", False),
        ({"true": ["J"], "false": ["N"]}, "Y", BAD),
    ],
)
def test_boolean(options, raw, expected):
    check_one(
        "vip", {"column": "is_vip", "transform": "boolean", **options}, raw, expected, attributes={"vip": "boolean"}
    )


def test_boolean_is_the_default_transform_of_a_boolean_attribute():
    values, reasons, _ = forward("vip", {"column": "is_vip"}, ["y", "n", None], attributes={"vip": "boolean"})
    assert (values, reasons) == ([True, False, None], [None, None, None])


# -- map, country, text, number --------------------------------------------------------------------

CHANNEL_MAP = {"column": "ch", "transform": "map", "values": {"E": "email", "S": "sms", "3": "post"}}


@pytest.mark.parametrize(
    ("raw", "expected"), [("E", "email"), (" S ", "sms"), ("3", "post"), (3, "post"), ("X", BAD), ("", None)]
)
def test_map(raw, expected):
    check_one("preferred_channel", CHANNEL_MAP, raw, expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("United Kingdom", "GB"),
        ("germany", "DE"),
        ("United States", "US"),
        ("DE", "DE"),
        ("fr", "FR"),
        ("DEU", "DE"),
        ("usa", "US"),
        ("UK", "GB"),
        ("uk", "GB"),
        ("England", "GB"),
        (" Great Britain ", "GB"),
        ("Narnia", BAD),
        ("XX", BAD),
        ("", None),
    ],
)
def test_country_to_alpha2(raw, expected):
    check_one("country", {"column": "ctry", "transform": "country"}, raw, expected)


@pytest.mark.parametrize(
    ("case", "raw", "expected"),
    [
        (None, "  McDonald  ", "McDonald"),
        ("title", "mARY ann", "Mary Ann"),
        ("upper", "sw1a 1aa", "SW1A 1AA"),
        ("lower", " John.Smith@Example.COM ", "john.smith@example.com"),
        ("upper", "", None),
        ("lower", None, None),
    ],
)
def test_text_case(case, raw, expected):
    check_one("city", {"column": "c", "transform": "text", "case": case}, raw, expected)


@pytest.mark.parametrize(
    ("field", "mapping", "raw", "expected"),
    [
        ("first_name", {"column": "f"}, "Mr John", "John"),
        ("first_name", {"column": "f"}, "Dr. Mary  Ann", "Mary Ann"),
        ("last_name", {"column": "l"}, "Smith Jr.", "Smith"),
        ("last_name", {"column": "l"}, "Esq", "Esq"),  # nothing but a title: kept as it is
        ("first_name", {"column": "f", "strip_titles": False}, "Mr John", "Mr John"),
        ("first_name", {"column": "n", "transform": "split_name", "order": "last_comma_first", "part": "first"},
         "SMITH, Mrs Jane", "Jane"),
        ("city", {"column": "c"}, "Mr Town", "Mr Town"),  # only names lose titles
    ],
)  # fmt: skip
def test_names_lose_titles_and_suffixes(field, mapping, raw, expected):
    if mapping.get("transform") == "split_name":
        cfg, src = make({"first_name": mapping, "last_name": {**mapping, "part": "last"}})
        records, _ = to_canonical(pd.DataFrame({"id": ["1"], "n": [raw]}), src, cfg, "crm")
        assert records["first_name"].iloc[0] == expected
    else:
        check_one(field, mapping, raw, expected)


# Words: affixes in any case with dots and commas around them, names, and letters whose case mapping is odd (the
# Kelvin sign lowers to 'k', the long s folds to 's', dotted I lowers to two characters); separators: Unicode spaces.
_WORD = st.one_of(
    st.sampled_from(NAME_AFFIXES).flatmap(
        lambda a: st.sampled_from([a, a.upper(), a.title(), f"{a}.", f",{a.upper()}."])
    ),
    st.sampled_from(
        ["John", "Mary-Ann", "O'Neil", "José", "K\u212aay", "M\u017f", "\u0130II", "Dr.Who", "jr,", "", ".,"]
    ),
)
_SEPARATOR = st.sampled_from([" "] * 8 + ["  ", "\t", "\xa0", "\u2003", "\u3000", "\n"])
_NAME = st.lists(st.tuples(_WORD, _SEPARATOR), max_size=5).map(lambda ws: "".join(w + s for w, s in ws).strip())


@given(st.lists(_NAME, max_size=20))
def test_names_lose_titles_column_wise_exactly_as_one_by_one(names):
    """strip_titles_column calls strip_titles only for the names its regexes say it may change: it must agree with
    strip_titles on every name, whatever the case, punctuation and spacing."""
    column = pd.Series([*names, "MR John", "Ann\u2003Lee", None], dtype="string")
    got = strip_titles_column(column)
    assert got.iloc[:-1].tolist() == [strip_titles(n) if n else n for n in [*names, "MR John", "Ann\u2003Lee"]]
    assert pd.isna(got.iloc[-1])


@pytest.mark.parametrize(
    ("raw", "expected"), [("1.5", 1.5), (" 42 ", 42), (7, 7), ("-0.25", -0.25), ("", None), ("abc", BAD)]
)
def test_number(raw, expected):
    check_one("score", {"column": "s", "transform": "number"}, raw, expected, attributes={"score": "double"})


def test_number_is_the_default_transform_of_numeric_attributes():
    fields = {"visits": {"column": "v"}, "ltv": {"column": "l"}}
    cfg, src = make(fields, attributes={"visits": "integer", "ltv": "double"})
    raw = pd.DataFrame({"id": ["1", "2"], "v": ["3", "many"], "l": ["10.5", "1e3"]})
    mapped = map_rows(raw, src, cfg, "crm")
    assert [py(v) for v in mapped.records["visits"]] == [3, None]
    assert [py(v) for v in mapped.records["ltv"]] == [10.5, 1000.0]
    assert mapped.reasons.isna().all()
    assert mapped.warnings[["source_key", "field", "value"]].values.tolist() == [["2", "visits", "many"]]


@pytest.mark.parametrize(
    ("raw", "integer", "double"),
    [("inf", BAD, BAD), ("-inf", BAD, BAD), ("NaN", BAD, BAD), ("1e400", BAD, BAD), ("3.5", BAD, 3.5),
     ("99999999999999999999", BAD, 1e20), ("-12", -12, -12.0)],
)  # fmt: skip
def test_a_number_the_field_cannot_hold_is_unreadable_not_a_crash(raw, integer, double):
    # Fuzzed rows: 'inf' or 1e20 in an integer attribute crashed staging (DuckDB cannot cast them to BIGINT).
    check_one("visits", {"column": "s", "transform": "number"}, raw, integer, attributes={"visits": "integer"})
    check_one("score", {"column": "s", "transform": "number"}, raw, double, attributes={"score": "double"})


def test_a_text_longer_than_any_real_value_is_read_as_missing_with_a_warning():
    # Fuzzed rows: 100 kB "names" made matching crawl (each string comparison costs time in proportion to length).
    fields = {"first_name": {"column": "f"}, "city": {"column": "c"}}
    cfg, src = make(fields)
    raw = pd.DataFrame({"id": ["1", "2"], "f": ["x" * MAX_TEXT, "é" * (MAX_TEXT + 1)], "c": ["Leeds", "y" * 100_000]})
    mapped = map_rows(raw, src, cfg, "crm")
    assert [py(v) for v in mapped.records["first_name"]] == ["x" * MAX_TEXT, None]
    assert [py(v) for v in mapped.records["city"]] == ["Leeds", None]
    assert mapped.reasons.isna().all()
    assert mapped.warnings[["source_key", "field", "reason"]].values.tolist() == [
        ["2", "first_name", TOO_LONG], ["2", "city", TOO_LONG],
    ]  # fmt: skip


# -- concat, constants, one-field addresses ----------------------------------------------------------


def read_row(fields: dict[str, Any], row: dict[str, Any], **kw: Any) -> tuple[pd.Series, Any, pd.DataFrame]:
    """One raw row (key '1') read through `fields`: (record, quarantine reason, warnings)."""
    cfg, src = make(fields, **kw)
    mapped = map_rows(pd.DataFrame([{"id": "1", **row}]), src, cfg, "crm")
    return mapped.records.iloc[0], py(mapped.reasons.iloc[0]), mapped.warnings


STREET = {"no": "12", "street": "High St"}


@pytest.mark.parametrize(
    ("field", "mapping", "row", "expected"),
    [
        ("address_line1", {"concat": ["no", "street"]}, STREET, "12 High St"),
        ("address_line1", {"concat": ["no", "street"]}, {"no": None, "street": "High St"}, "High St"),
        ("address_line1", {"concat": ["no", "street"]}, {"no": " 12 ", "street": "  "}, "12"),
        ("address_line1", {"concat": ["no", "street"]}, {"no": None, "street": ""}, None),
        ("address_line1", {"concat": ["no", "street"], "sep": ", "}, STREET, "12, High St"),
        ("address_line1", {"concat": ["no", "street"], "sep": ""}, {"no": "12", "street": "A"}, "12A"),
        ("address_line1", {"concat": ["no", "street"], "case": "upper"}, STREET, "12 HIGH ST"),
        ("address_line1", {"concat": ["flat", "no", "street"], "sep": " "}, {"flat": "Flat 3,", **STREET},
         "Flat 3, 12 High St"),
        ("first_name", {"concat": ["title", "given"]}, {"title": "Mr", "given": "John"}, "John"),  # titles go
        ("first_name", {"concat": ["title", "given"], "strip_titles": False}, {"title": "Mr", "given": "John"},
         "Mr John"),
        ("date_of_birth", {"concat": ["y", "m", "d"], "sep": "-"}, {"y": "1985", "m": "12", "d": "31"},
         ts("1985-12-31")),
        ("phone", {"concat": ["area", "number"]}, {"area": "020", "number": "7946 0018"}, "+442079460018"),
    ],
)  # fmt: skip
def test_concat_reads_the_non_empty_values_joined(field, mapping, row, expected):
    record, reason, warnings = read_row({field: mapping}, row, default_region="GB")
    assert (py(record[field]), reason, warnings.empty) == (expected, None, True)


def test_an_unreadable_concat_names_its_columns():
    fields = {"date_of_birth": {"concat": ["y", "m", "d"], "sep": "-"}}
    record, reason, warnings = read_row(fields, {"y": "1985", "m": "13", "d": "01"})
    assert py(record["date_of_birth"]) is None and reason is None
    assert warnings[["column", "value"]].values.tolist() == [["y+m+d", "1985-13-01"]]


@pytest.mark.parametrize(
    ("field", "value", "expected", "attributes"),
    [
        ("country", "AU", "AU", None),
        ("region", "NSW", "NSW", None),
        ("consent_post", "granted", "granted", None),
        ("preferred_channel", "email", "email", None),
        ("vip", "true", True, {"vip": "boolean"}),
        ("visits", "3", 3, {"visits": "integer"}),
        ("ltv", "1.5", 1.5, {"ltv": "double"}),
        ("joined", "2020-01-31", ts("2020-01-31"), {"joined": "date"}),
    ],
)
def test_a_constant_is_the_value_of_every_row(field, value, expected, attributes):
    cfg, src = make({field: {"value": value}, "email": "mail"}, attributes=attributes)
    mapped = map_rows(pd.DataFrame({"id": ["1", "2"], "mail": ["a@x.com", None]}), src, cfg, "crm")
    assert [py(v) for v in mapped.records[field]] == [expected, expected]
    assert mapped.reasons.isna().all() and mapped.warnings.empty


def test_a_constant_consent_counts_as_recorded_when_the_row_was():
    record, _, _ = read_row({"consent_post": {"value": "granted"}}, {"changed": "2024-03-01T12:00:00"},
                            updated_at="changed")  # fmt: skip
    assert record["consent_post_at"] == NOON


ADDRESS = {f: {"column": "addr", "transform": "address"} for f in ADDRESS_PARTS}


@pytest.mark.parametrize(
    ("raw", "parts"),
    [
        ("12 High St, Leeds, LS1 4AB", ("12 High St", "Leeds", None, "LS1 4AB", "GB")),
        ("12 High St\nLeeds LS1 4AB", ("12 High St", "Leeds", None, "LS1 4AB", "GB")),
        ("12 High St\r\nLeeds\r\nls1 4ab", ("12 High St", "Leeds", None, "LS1 4AB", "GB")),
        ("Flat 3, 12 High St, Leeds, LS1 4AB, UK", ("Flat 3, 12 High St", "Leeds", None, "LS1 4AB", "GB")),
        ("10 Downing Street, London SW1A 2AA", ("10 Downing Street", "London", None, "SW1A 2AA", "GB")),
        ("Flat 3, 12 High St, LS1 4AB", ("Flat 3, 12 High St", None, None, "LS1 4AB", "GB")),  # no town
        ("123 Main St, Springfield, IL 62704", ("123 Main St", "Springfield", "IL", "62704", "US")),
        ("123 main st apt 4, springfield il 62704-1234", ("123 main st apt 4", "springfield", "IL", "62704-1234",
                                                          "US")),
        ("1 Kinross Farm, Cronulla NSW 2230", ("1 Kinross Farm", "Cronulla", "NSW", "2230", "AU")),
        ("1 Main St, Toronto, ON M5V 2T6", ("1 Main St", "Toronto", "ON", "M5V 2T6", "CA")),
        ("1 Narran Street, Westlake 2036", ("1 Narran Street", "Westlake", None, "2036", None)),
        ("Hauptstr. 5, 10115 Berlin", ("Hauptstr. 5", "Berlin", None, "10115", None)),
        ("12 rue de Rivoli, 75001 Paris, France", ("12 rue de Rivoli", "Paris", None, "75001", "FR")),
        ("Keizersgracht 1, 1015 CJ Amsterdam", ("Keizersgracht 1", "Amsterdam", None, "1015 CJ", "NL")),
        ("12 High St, Leeds, UK", ("12 High St", "Leeds", None, None, "GB")),
        ("12 High St", ("12 High St", None, None, None, None)),
        ("Unit 123", ("Unit 123", None, None, None, None)),  # a unit number is no postcode
        ("", (None, None, None, None, None)),
        (None, (None, None, None, None, None)),
    ],
)  # fmt: skip
def test_a_one_field_address_splits_into_its_parts(raw, parts):
    record, reason, warnings = read_row(ADDRESS, {"addr": raw})
    assert tuple(py(record[f]) for f in ADDRESS_PARTS) == parts
    assert reason is None and warnings.empty  # a part that is not there is missing, never unreadable


def test_address_parts_can_be_mapped_alone_and_beside_other_columns():
    fields = {"city": {"column": "addr", "transform": "address"}, "postal_code": "zip", "country": {"value": "GB"}}
    record, _, _ = read_row(fields, {"addr": "12 High St, Leeds, LS1 4AB", "zip": "LS2 9JT"})
    assert (record["city"], record["postal_code"], record["country"]) == ("Leeds", "LS2 9JT", "GB")


def test_a_required_address_part_that_is_not_there_quarantines():
    fields = {"postal_code": {"column": "addr", "transform": "address", "required": True}}
    _, reason, _ = read_row(fields, {"addr": "12 High St, Leeds"})
    assert reason == "postal_code (column 'addr'): required but missing"


# -- to_canonical: quarantine reasons, identity and consent times -----------------------------------

ROW_FIELDS = {
    "email": "mail",
    "phone": {"column": "tel", "transform": "phone", "region": "GB"},
    "date_of_birth": {"column": "dob", "format": "%d/%m/%Y"},
    "country": {"column": "ctry", "transform": "country"},
    "consent_email": {"column": "optin", "transform": "consent"},
}


BAD_ROWS = pd.DataFrame(
    {
        "id": ["1", "2", "3"],
        "changed": ["2024-03-01T12:00:00", "2024-03-01T12:00:00", "last week"],
        "mail": ["a@example.com", "b@example.com", "c@example.com"],
        "tel": ["020 7946 0018", "n/a", "020 7946 0018"],
        "dob": ["31/12/1985", "31/02/1985", "31/12/1985"],
        "ctry": ["UK", "Narnia", "UK"],
        "optin": ["Y", "maybe", "Y"],
    }
)


def test_unreadable_values_are_missing_with_a_warning_each_and_the_row_is_kept():
    cfg, src = make(ROW_FIELDS, updated_at="changed")
    mapped = map_rows(BAD_ROWS, src, cfg, "crm")
    assert mapped.reasons.isna().all()  # nothing required: every row is staged
    records = mapped.records
    assert [py(records.at[1, f]) for f in ("phone", "date_of_birth", "country", "consent_email")] == [
        None, None, None, "unknown"
    ]  # fmt: skip
    assert records.at[1, "email"] == "b@example.com"  # matched on what could be read
    assert py(records.at[2, "source_updated_at"]) is None
    assert mapped.warnings.sort_values(["source_key", "field"]).values.tolist() == [
        ["2", "consent_email", "optin", "maybe", "cannot parse"],
        ["2", "country", "ctry", "Narnia", "cannot parse"],
        ["2", "date_of_birth", "dob", "31/02/1985", "cannot parse"],
        ["2", "phone", "tel", "n/a", "cannot parse"],
        ["3", "source_updated_at", "changed", "last week", "cannot parse"],
    ]


def test_required_fields_quarantine_naming_every_bad_field_of_a_row():
    fields = {f: (m if isinstance(m, dict) else {"column": m}) | {"required": True} for f, m in ROW_FIELDS.items()}
    cfg, src = make(fields, updated_at="changed")
    mapped = map_rows(BAD_ROWS, src, cfg, "crm")
    assert py(mapped.reasons[0]) is None
    bad = mapped.reasons[1]
    for fragment in (
        "phone (column 'tel'): cannot parse 'n/a'",
        "date_of_birth (column 'dob'): cannot parse '31/02/1985'",
        "country (column 'ctry'): cannot parse 'Narnia'",
        "consent_email (column 'optin'): cannot parse 'maybe'",
    ):
        assert fragment in bad
    assert "email (column 'mail')" not in bad
    assert bad.count("; ") == 3
    assert py(mapped.reasons[2]) is None  # an unreadable updated-at is a warning, never a quarantine
    assert mapped.warnings["field"].tolist() == ["source_updated_at"]


@pytest.mark.parametrize(
    ("mapping", "raw", "reason"),
    [
        ({"column": "mail", "required": True}, None, "email (column 'mail'): required but missing"),
        ({"column": "mail", "required": True}, "  ", "email (column 'mail'): required but missing"),
        ({"column": "mail", "required": True}, "a@example.com", None),
        ({"column": "mail"}, None, None),
    ],
)
def test_a_required_field_that_is_empty_quarantines(mapping, raw, reason):
    [_], [got], warnings = forward("email", mapping, [raw])
    assert got == reason and warnings.empty


def test_a_required_consent_needs_a_recorded_word():
    [value], [reason], _ = forward("consent_sms", {"column": "sms", "transform": "consent", "required": True}, [""])
    assert value == "unknown" and reason == "consent_sms (column 'sms'): required but missing"


@pytest.mark.parametrize("key", [None, "", "   ", float("nan")])
def test_missing_primary_key_is_reported(key):
    cfg, src = make({"email": "mail"})
    raw = pd.DataFrame({"id": ["7", key], "mail": ["a@example.com", "b@example.com"]}, dtype=object)
    records, reasons = to_canonical(raw, src, cfg, "crm")
    assert py(reasons[0]) is None
    assert reasons[1] == "missing primary key 'id'"
    assert records.at[0, "source_key"] == "7"


def test_numeric_keys_become_text_without_a_decimal_point():
    cfg, src = make({"email": "mail"})
    raw = pd.DataFrame({"id": [10.0, 11.0, None], "mail": ["a", "b", "c"]})  # an integer column with NULLs
    records, reasons = to_canonical(raw, src, cfg, "crm")
    assert [py(k) for k in records["source_key"]] == ["10", "11", None]
    assert [py(r) for r in reasons] == [None, None, "missing primary key 'id'"]


def test_identity_columns():
    cfg, src = make({"email": "mail"}, updated_at="changed", updated_at_format="epoch")
    raw = pd.DataFrame({"id": [1], "changed": [1709294400], "mail": ["a@example.com"]})
    records, _ = to_canonical(raw, src, cfg, "crm")
    assert records.at[0, "source_system"] == "crm"
    assert records.at[0, "source_key"] == "1"
    assert records.at[0, "source_updated_at"] == NOON


def test_consent_time_defaults_to_source_updated_at_when_not_mapped():
    fields = {
        "consent_email": {"column": "email_optin", "transform": "consent"},
        "consent_sms": {"column": "sms_optin", "transform": "consent"},
        "consent_sms_at": {"column": "sms_optin_at"},
    }
    cfg, src = make(fields, updated_at="changed")
    raw = pd.DataFrame(
        {
            "id": ["1", "2"],
            "changed": ["2024-03-01T12:00:00", "2024-03-02T12:00:00"],
            "email_optin": ["Y", ""],
            "sms_optin": ["N", "Y"],
            "sms_optin_at": ["2020-05-05T08:00:00", None],
        }
    )
    records, reasons = to_canonical(raw, src, cfg, "crm")
    assert reasons.isna().all()
    # Not mapped: recorded when the row was, and only for an explicit choice.
    assert [py(v) for v in records["consent_email_at"]] == [NOON, None]
    # Mapped: its own column wins, even where it is empty.
    assert [py(v) for v in records["consent_sms_at"]] == [ts("2020-05-05 08:00:00"), None]
    # Channels the source does not map get no consent columns at all.
    assert "consent_post" not in records and "consent_post_at" not in records


def test_consent_time_is_missing_without_an_updated_at_column():
    cfg, src = make({"consent_email": {"column": "optin", "transform": "consent"}})
    records, _ = to_canonical(pd.DataFrame({"id": ["1"], "optin": ["Y"]}), src, cfg, "crm")
    assert py(records.at[0, "consent_email_at"]) is None


# -- row_version -------------------------------------------------------------------------------------

VERSION_ROW = {"id": "1", "changed": "2024-03-01T12:00:00", "mail": "a@example.com", "tel": "020", "notes": "vip"}


def versions(src: SourceConfig, **changes: Any) -> tuple[str, str]:
    before = pd.DataFrame([VERSION_ROW])
    after = pd.DataFrame([{**VERSION_ROW, **changes}])
    return row_version(before, src)[0], row_version(after, src)[0]


HASH_SOURCE = make({"email": "mail", "phone": "tel"})[1]  # no updated_at: a hash of the mapped columns
CURSOR_SOURCE = make({"email": "mail", "phone": "tel"}, updated_at="changed")[1]


@pytest.mark.parametrize(
    ("src", "changes", "differs"),
    [
        pytest.param(HASH_SOURCE, {}, False, id="hash-unchanged"),
        pytest.param(HASH_SOURCE, {"mail": "b@example.com"}, True, id="hash-mapped-column"),
        pytest.param(HASH_SOURCE, {"tel": None}, True, id="hash-mapped-column-to-null"),
        pytest.param(HASH_SOURCE, {"id": "2"}, True, id="hash-key"),
        pytest.param(HASH_SOURCE, {"notes": "not vip"}, False, id="hash-unmapped-column"),
        pytest.param(HASH_SOURCE, {"changed": "2025-01-01T00:00:00"}, False, id="hash-ignores-unmapped-updated-at"),
        pytest.param(CURSOR_SOURCE, {}, False, id="cursor-unchanged"),
        pytest.param(CURSOR_SOURCE, {"changed": "2024-03-01T12:00:01"}, True, id="cursor-updated-at"),
        pytest.param(CURSOR_SOURCE, {"mail": "b@example.com"}, False, id="cursor-mapped-column-same-updated-at"),
        pytest.param(CURSOR_SOURCE, {"notes": "not vip"}, False, id="cursor-unmapped-column"),
    ],
)
def test_row_version(src, changes, differs):
    before, after = versions(src, **changes)
    assert (before != after) is differs


def test_row_version_does_not_confuse_column_boundaries_or_null():
    src = make({"email": "a", "phone": "b"})[1]
    raw = pd.DataFrame({"id": ["1", "1", "1", "1"], "a": ["x y", "x", None, ""], "b": ["z", "y z", "", None]})
    assert row_version(raw, src).nunique() == 4


def test_to_canonical_carries_the_row_version():
    cfg, src = make({"email": "mail", "phone": "tel"})
    raw = pd.DataFrame([VERSION_ROW])
    records, _ = to_canonical(raw, src, cfg, "crm")
    assert records.at[0, "source_version"] == row_version(raw, src)[0]


# -- reverse: what write-back writes reads back the same ---------------------------------------------


def roundtrip(
    fields: dict[str, Any],
    canonical: dict[str, Any],
    column_types: dict[str, str] | None = None,
    **kw: Any,
) -> pd.DataFrame:
    """Write canonical values in the source's format, read them back, return the raw written frame."""
    cfg, src = make(fields, **kw)
    values = pd.DataFrame(canonical)
    raw = to_source(values, src, cfg, column_types or {})
    assert set(raw.columns) == {m["column"] for m in fields.values()}
    back = map_rows(raw.assign(id=[str(i) for i in range(len(raw))]), src, cfg, "crm")
    assert [py(r) for r in back.reasons] == [None] * len(raw) and back.warnings.empty
    for name, expected in canonical.items():
        assert [py(v) for v in back.records[name]] == [py(v) for v in expected], name
    return raw


@pytest.mark.parametrize(
    ("order", "first", "last", "written"),
    [
        (
            "first_last",
            ["Mary Ann", "John", None],
            ["Smith", "Smith", "Cher"],
            ["Mary Ann Smith", "John Smith", "Cher"],
        ),
        (  # read back as written: the surname keeps its particles
            "first_last",
            ["Tilmann", "Noel", "Mary Ann"],
            ["van der Dussen", "Le Goff", "de la Cruz"],
            ["Tilmann van der Dussen", "Noel Le Goff", "Mary Ann de la Cruz"],
        ),
        (
            "last_comma_first",
            ["Mary Ann", "John", None],
            ["Smith", "van der Berg", "Cher"],
            ["Smith, Mary Ann", "van der Berg, John", "Cher"],
        ),
    ],
)
def test_split_name_round_trip(order, first, last, written):
    raw = roundtrip(split(order), {"first_name": [*first, None], "last_name": [*last, None]})
    assert [py(v) for v in raw["full_name"]] == [*written, None]


DAYS = pd.Series(pd.to_datetime(["1985-12-31", "2001-02-03", None])).astype("datetime64[us]")


@pytest.mark.parametrize(
    ("fmt", "written"),
    [
        ("%d/%m/%Y", ["31/12/1985", "03/02/2001", None]),
        ("%m/%d/%Y", ["12/31/1985", "02/03/2001", None]),
        ("%Y%m%d", ["19851231", "20010203", None]),
        (None, ["1985-12-31", "2001-02-03", None]),
    ],
)
def test_date_round_trip(fmt, written):
    raw = roundtrip({"date_of_birth": {"column": "dob", "format": fmt}}, {"date_of_birth": DAYS})
    assert [py(v) for v in raw["dob"]] == written


def test_date_round_trip_through_a_native_date_column():
    raw = roundtrip({"date_of_birth": {"column": "dob"}}, {"date_of_birth": DAYS}, {"dob": "date"})
    assert [py(v) for v in raw["dob"]] == [dt.date(1985, 12, 31), dt.date(2001, 2, 3), None]


TIMES = pd.Series(pd.to_datetime(["2024-03-01 12:00:00", "1999-12-31 23:59:59", None])).astype("datetime64[us]")


@pytest.mark.parametrize(
    ("fmt", "written"),
    [
        ("epoch", [1709294400, 946684799, None]),
        ("epoch_ms", [1709294400000, 946684799000, None]),
        ("%d.%m.%Y %H:%M:%S", ["01.03.2024 12:00:00", "31.12.1999 23:59:59", None]),
        ("iso", ["2024-03-01T12:00:00", "1999-12-31T23:59:59", None]),
    ],
)
def test_timestamp_round_trip(fmt, written):
    fields = {"last_seen": {"column": "seen", "transform": "timestamp", "format": fmt}}
    raw = roundtrip(fields, {"last_seen": TIMES}, attributes={"last_seen": "timestamp"})
    assert [py(v) for v in raw["seen"]] == written


@pytest.mark.parametrize(
    "unit",
    [
        "us",
        pytest.param("ns"),
        pytest.param("ms"),
    ],
)
def test_epoch_write_back_does_not_depend_on_the_datetime_unit(unit):
    cfg, src = make({"last_seen": {"column": "seen", "format": "epoch"}}, attributes={"last_seen": "timestamp"})
    values = pd.DataFrame({"last_seen": TIMES.astype(f"datetime64[{unit}]")})
    assert [py(v) for v in to_source(values, src, cfg, {})["seen"]] == [1709294400, 946684799, None]


PHONES = ["+442079460018", "+447700900123", None]


@pytest.mark.parametrize(
    ("write_format", "written"),
    [
        ("national", ["020 7946 0018", "07700 900123", None]),
        ("international", ["+44 20 7946 0018", "+44 7700 900123", None]),
        ("e164", ["+442079460018", "+447700900123", None]),
        (None, ["+442079460018", "+447700900123", None]),
    ],
)
def test_phone_round_trip(write_format, written):
    fields = {"phone": {"column": "tel", "transform": "phone", "region": "GB", "write_format": write_format}}
    raw = roundtrip(fields, {"phone": pd.array(PHONES, dtype="string")})
    assert [py(v) for v in raw["tel"]] == written


@pytest.mark.parametrize("write_format", ["international", "e164"])
def test_phone_round_trip_of_foreign_numbers(write_format):
    fields = {"phone": {"column": "tel", "transform": "phone", "region": "GB", "write_format": write_format}}
    roundtrip(fields, {"phone": pd.array(["+12125550143", "+33142685300"], dtype="string")})


def test_phone_national_write_keeps_foreign_numbers_readable():
    fields = {"phone": {"column": "tel", "transform": "phone", "region": "GB", "write_format": "national"}}
    roundtrip(fields, {"phone": pd.array(["+442079460018", "+12125550143"], dtype="string")})


COUNTRIES = ["GB", "DE", "US", "KR", "CI", "VA", "TW", "BO", "CD", None]


@pytest.mark.parametrize(
    ("write_format", "written"),
    [
        ("name", ["United Kingdom", "Germany", "United States"]),
        ("alpha3", ["GBR", "DEU", "USA"]),
        ("alpha2", ["GB", "DE", "US"]),
    ],
)
def test_country_round_trip(write_format, written):
    fields = {"country": {"column": "ctry", "transform": "country", "write_format": write_format}}
    raw = roundtrip(fields, {"country": pd.array(COUNTRIES, dtype="string")})
    assert [py(v) for v in raw["ctry"]][:3] == written


@pytest.mark.parametrize(
    ("options", "native", "written"),
    [
        ({"granted": ["opt-in", "yes"], "denied": ["opt-out", "no"]}, "text", ["opt-in", "opt-out", None]),
        ({"granted": ["0"], "denied": ["1"]}, "integer", [0, 1, None]),
        ({"granted": ["0"], "denied": ["1"]}, "text", ["0", "1", None]),
        ({}, "text", ["1", "0", None]),
    ],
)
def test_consent_round_trip(options, native, written):
    fields = {"consent_email": {"column": "optin", "transform": "consent", **options}}
    canonical = {"consent_email": pd.array(["granted", "denied", "unknown"], dtype="string")}
    raw = roundtrip(fields, canonical, {"optin": native})
    assert [py(v) for v in raw["optin"]] == written


def test_boolean_round_trip_with_custom_words():
    fields = {"vip": {"column": "is_vip", "transform": "boolean", "true": ["J", "Ja"], "false": ["N"]}}
    raw = roundtrip(fields, {"vip": pd.array([True, False, None], dtype="boolean")}, attributes={"vip": "boolean"})
    assert [py(v) for v in raw["is_vip"]] == ["J", "N", None]


def test_map_round_trip_writes_the_first_source_value_of_each_canonical_value():
    mapping = {"column": "ch", "transform": "map", "values": {"E": "email", "M": "email", "S": "sms", "P": "post"}}
    raw = roundtrip({"preferred_channel": mapping}, {"preferred_channel": pd.array(["email", "sms", "post", None])})
    assert [py(v) for v in raw["ch"]] == ["E", "S", "P", None]


def test_opt_out_flag_reads_unset_as_unknown_and_writes_back_only_what_it_can_say():
    fields = {
        "consent_phone": {"column": "dnc", "transform": "consent", "granted": [], "denied": ["1"], "unknown": ["0"]}
    }
    cfg = HubConfig.model_validate(
        {"sources": {"crm": {"kind": "file", "path": "x.csv", "primary_key": "id", "fields": fields}}}
    )
    src = cfg.sources["crm"]
    raw = pd.DataFrame({"id": ["1", "2", "3", "4"], "dnc": ["1", "0", None, "yes"]})
    mapped = map_rows(raw, src, cfg, "crm")
    assert list(mapped.records["consent_phone"]) == ["denied", "unknown", "unknown", "unknown"]
    assert mapped.warnings["source_key"].tolist() == ["4"]  # 'yes' is no listed word
    values = pd.DataFrame({"consent_phone": ["denied", "unknown", "granted"]})
    assert [py(v) for v in to_source(values, src, cfg, {})["dnc"]] == ["1", "0", None]  # granted: no word, not written


def test_phone_digits_write_format_round_trips():
    fields = {"phone": {"column": "mobile", "transform": "phone", "write_format": "digits"}}
    raw = roundtrip(fields, {"phone": pd.array(["+447700900123", "+12125550143"], dtype="string")})
    assert [py(v) for v in raw["mobile"]] == ["447700900123", "12125550143"]
