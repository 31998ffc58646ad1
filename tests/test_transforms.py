"""Column mapping between source formats and the canonical model (connectors/transforms.py).

Forward cases run `to_canonical` on one-row frames so each table row reads as "this raw value,
under this mapping, gives this canonical value (or is quarantined)". Reverse cases check that
what write-back writes reads back as the same canonical value: forward(reverse(x)) == x.
"""

import datetime as dt
from typing import Any

import pandas as pd
import pytest

from connectors.transforms import row_version, to_canonical, to_source
from hub.config import HubConfig, SourceConfig

BAD = "<quarantined>"  # expected value: the row is quarantined with a reason naming the field


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


def forward(field: str, mapping: dict[str, Any], values: list[Any], **kw: Any) -> tuple[list[Any], list[str | None]]:
    """Canonical values and quarantine reasons of `values` read through one mapping."""
    cfg, src = make({field: mapping}, **kw)
    raw = pd.DataFrame({"id": [str(i) for i in range(1, len(values) + 1)], mapping["column"]: values})
    records, reasons = to_canonical(raw, src, cfg, "crm")
    return [py(v) for v in records[field]], [py(r) for r in reasons]


def check_one(field: str, mapping: dict[str, Any], raw: Any, expected: Any, **kw: Any) -> None:
    [value], [reason] = forward(field, mapping, [raw], **kw)
    if expected == BAD:
        assert value in (None, "unknown")  # the row is quarantined; a consent column still reads 'unknown'
        assert reason is not None and field in reason and f"column '{mapping['column']}'" in reason
        assert repr(str(raw).strip())[:40] in reason
    else:
        assert reason is None
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
    values, reasons = forward(
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
    values, reasons = forward("vip", {"column": "is_vip"}, ["y", "n", None], attributes={"vip": "boolean"})
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


@pytest.mark.parametrize(
    ("raw", "expected"), [("1.5", 1.5), (" 42 ", 42), (7, 7), ("-0.25", -0.25), ("", None), ("abc", BAD)]
)
def test_number(raw, expected):
    check_one("score", {"column": "s", "transform": "number"}, raw, expected, attributes={"score": "double"})


def test_number_is_the_default_transform_of_numeric_attributes():
    fields = {"visits": {"column": "v"}, "ltv": {"column": "l"}}
    cfg, src = make(fields, attributes={"visits": "integer", "ltv": "double"})
    raw = pd.DataFrame({"id": ["1", "2"], "v": ["3", "many"], "l": ["10.5", "1e3"]})
    records, reasons = to_canonical(raw, src, cfg, "crm")
    assert [py(v) for v in records["visits"]] == [3, None]
    assert [py(v) for v in records["ltv"]] == [10.5, 1000.0]
    assert py(reasons[0]) is None
    assert "visits (column 'v'): cannot parse 'many'" in reasons[1]


# -- to_canonical: quarantine reasons, identity and consent times -----------------------------------

ROW_FIELDS = {
    "email": "mail",
    "phone": {"column": "tel", "transform": "phone", "region": "GB"},
    "date_of_birth": {"column": "dob", "format": "%d/%m/%Y"},
    "country": {"column": "ctry", "transform": "country"},
    "consent_email": {"column": "optin", "transform": "consent"},
}


def test_reasons_name_every_bad_field_of_a_row():
    cfg, src = make(ROW_FIELDS, updated_at="changed")
    raw = pd.DataFrame(
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
    records, reasons = to_canonical(raw, src, cfg, "crm")
    assert py(reasons[0]) is None
    bad = reasons[1]
    for fragment in (
        "phone (column 'tel'): cannot parse 'n/a'",
        "date_of_birth (column 'dob'): cannot parse '31/02/1985'",
        "country (column 'ctry'): cannot parse 'Narnia'",
        "consent_email (column 'optin'): cannot parse 'maybe'",
    ):
        assert fragment in bad
    assert "email (column 'mail')" not in bad
    assert bad.count("; ") == 3
    assert "updated_at column 'changed'" in reasons[2]
    # Good values of a bad row are still read.
    assert records.at[1, "email"] == "b@example.com"


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
    back, reasons = to_canonical(raw.assign(id=[str(i) for i in range(len(raw))]), src, cfg, "crm")
    assert [py(r) for r in reasons] == [None] * len(raw)
    for name, expected in canonical.items():
        assert [py(v) for v in back[name]] == [py(v) for v in expected], name
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
    records, reasons = to_canonical(raw, src, cfg, "crm")
    assert list(records["consent_phone"][:3]) == ["denied", "unknown", "unknown"]
    assert list(reasons.notna()) == [False, False, False, True]  # 'yes' is no listed word
    values = pd.DataFrame({"consent_phone": ["denied", "unknown", "granted"]})
    assert [py(v) for v in to_source(values, src, cfg, {})["dnc"]] == ["1", "0", None]  # granted: no word, not written


def test_phone_digits_write_format_round_trips():
    fields = {"phone": {"column": "mobile", "transform": "phone", "write_format": "digits"}}
    raw = roundtrip(fields, {"phone": pd.array(["+447700900123", "+12125550143"], dtype="string")})
    assert [py(v) for v in raw["mobile"]] == ["447700900123", "12125550143"]
