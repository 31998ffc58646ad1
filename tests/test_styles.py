"""connectors/styles.py: a source's conventions learned from its own values, hub.yaml overrides, and golden values
written that way. Each case stages a source's values and checks what a golden value looks like written into it."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from connectors.styles import MIN_VALUES, layout_sql, learn, raw_formats, render, with_formats
from hub import forms
from hub.config import HubConfig
from hub.workspace import Workspace

FIELDS = {
    "first_name": "first",
    "last_name": "last",
    "city": "town",
    "region": "state",
    "postal_code": "zip",
    "country": "country",
    "address_line1": "street",
}


def source(mapping: dict[str, Any] | None = None, **fields: Any) -> HubConfig:
    block = {f: {"column": c, **(mapping or {}).get(f, {})} for f, c in FIELDS.items()}
    block["country"] = {"column": "country", "transform": "country"}
    return HubConfig.model_validate(
        {
            "sources": {
                "s": {"kind": "sql", "url": "sqlite:///s.db", "table": "t", "primary_key": "id", "fields": block,
                      "accepts": list(FIELDS), **fields}
            }
        }
    )  # fmt: skip


def stage(rows: list[dict[str, Any]]) -> Workspace:
    ws = Workspace(":memory:")
    frame = pd.DataFrame([{"source_system": "s", "source_key": str(i), **r} for i, r in enumerate(rows)])
    frame = frame.astype(object).where(frame.notna(), None)
    ws.con.register("_rows", frame)
    ws.con.execute("INSERT INTO staged_records BY NAME SELECT * FROM _rows")
    ws.con.unregister("_rows")
    forms.load(ws.con)
    return ws


def written(ws: Workspace, cfg: HubConfig, field: str, golden: dict[str, Any]) -> Any:
    """The golden value of `field` as write-back would write it into source s."""
    styles = learn(ws, cfg.sources["s"], "s")
    if field == "address_line1":
        sql = f"hub_one_line(_g_address_line1, _g_address_line2, {layout_sql(styles, '_g_country')})"
    else:
        sql = render(field, f"_g_{field}", styles, "_g_country")
    row = {f"_g_{k}": v for k, v in golden.items()}
    ws.con.register("_g", pd.DataFrame([row]))
    try:
        return ws.con.execute(f"SELECT {sql} FROM _g").fetchall()[0][0]
    finally:
        ws.con.unregister("_g")


def many(n: int, **values: Any) -> list[dict[str, Any]]:
    return [dict(values) for _ in range(n)]


CASES = {
    "surnames kept in capitals": (
        many(30, last_name="SMITH") + many(2, last_name="Jones"),
        None, "last_name", {"last_name": "McDonald"}, "MCDONALD",
    ),
    "proper case written as it is": (
        many(30, first_name="Ann") + many(3, first_name="bob"),
        None, "first_name", {"first_name": "Mary-Jane"}, "Mary-Jane",
    ),
    "too few values teach nothing": (
        many(MIN_VALUES - 1, last_name="SMITH"),
        None, "last_name", {"last_name": "Lee"}, "Lee",
    ),
    "hub.yaml overrides what is learned": (
        many(30, last_name="Smith"),
        {"last_name": {"write_case": "upper"}}, "last_name", {"last_name": "Lee"}, "LEE",
    ),
    "compact postcodes": (
        many(25, postal_code="SW1A1AA", country="GB"),
        None, "postal_code", {"postal_code": "M1 1AE", "country": "GB"}, "M11AE",
    ),
    "spaced postcodes": (
        many(25, postal_code="SW1A 1AA", country="GB"),
        None, "postal_code", {"postal_code": "M1 1AE", "country": "GB"}, "M1 1AE",
    ),
    "states as names": (
        many(25, region="Wisconsin", country="US"),
        None, "region", {"region": "NY", "country": "US"}, "New York",
    ),
    "states as codes": (
        many(25, region="WI", country="US") + many(5, region="Ohio", country="US"),
        None, "region", {"region": "NY", "country": "US"}, "NY",
    ),
    "the flat first, in GB": (
        many(25, address_line1="Flat 3, 12 Oak Road", country="GB")
        + many(25, address_line1="12 Main St Apt. 4", country="US"),
        None, "address_line1", {"address_line1": "9 Mill Lane", "address_line2": "Flat 2", "country": "GB"},
        "Flat 2, 9 Mill Lane",
    ),
    "the unit last, in the US of the same source": (
        many(25, address_line1="Flat 3, 12 Oak Road", country="GB")
        + many(25, address_line1="12 Main St Apt. 4", country="US"),
        None, "address_line1", {"address_line1": "9 Elm St", "address_line2": "Suite 200", "country": "US"},
        "9 Elm St Suite 200",
    ),
    "the flat on a line of its own": (
        many(25, address_line1="12 Oak Road\nFlat 3", country="GB"),
        None, "address_line1", {"address_line1": "9 Mill Lane", "address_line2": "Flat 2", "country": "GB"},
        "9 Mill Lane\nFlat 2",
    ),
    "a street without a flat stays one street": (
        many(25, address_line1="12 Oak Road\nFlat 3", country="GB"),
        None, "address_line1", {"address_line1": "9 Mill Lane", "address_line2": None, "country": "GB"},
        "9 Mill Lane",
    ),
    "layout given in hub.yaml": (
        many(25, address_line1="Flat 3, 12 Oak Road", country="GB"),
        {"address_line1": {"write_format": "unit_last"}}, "address_line1",
        {"address_line1": "9 Mill Lane", "address_line2": "Flat 2", "country": "GB"}, "9 Mill Lane Flat 2",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_golden_values_are_written_the_way_the_source_writes_them(case):
    rows, mapping, field, golden, expected = CASES[case]
    ws = stage(rows)
    assert written(ws, source(mapping), field, golden) == expected


def test_the_learned_style_is_reported_with_its_evidence():
    ws = stage(many(30, last_name="SMITH") + many(10, last_name="Jones"))
    styles = learn(ws, source().sources["s"], "s")
    assert styles["last_name"].choice == "proper"  # 75% in capitals is no convention
    ws = stage(many(40, last_name="SMITH") + many(2, last_name="Jones"))
    style = learn(ws, source().sources["s"], "s")["last_name"]
    assert (style.choice, style.learned_from) == ("upper", 42)
    assert style.describe() == "last_name: upper, 95% of 42 values"


RAW_CASES = [  # stored values -> the learned write format (None: nothing to learn, the transform's default)
    ("phone", ["020 7946 0018"] * 25, "national"),
    ("phone", ["+44 20 7946 0018"] * 25, "international"),
    ("phone", ["+442079460018"] * 25, "e164"),
    ("phone", ["442079460018"] * 25, "digits"),
    ("phone", ["020 7946 0018"] * 10 + ["+44 20 7946 0018"] * 15, None),  # no convention
    ("country", ["United Kingdom"] * 25, "name"),
    ("country", ["GBR"] * 25, "alpha3"),
    ("country", ["gb"] * 25, "alpha2"),
    ("country", ["GB"] * 5, None),  # too few to tell
]


@pytest.mark.parametrize(("field", "stored", "expected"), RAW_CASES)
def test_phone_and_country_formats_are_learned_from_the_values_as_stored(field, stored, expected):
    cfg = HubConfig.model_validate(
        {"sources": {"s": {"kind": "sql", "url": "sqlite:///s.db", "table": "t", "primary_key": "id",
                           "fields": {field: "c"}, "accepts": [field]}}}
    )  # fmt: skip
    learned = raw_formats(lambda: pd.DataFrame({"c": stored}), cfg.sources["s"], cfg)
    assert (learned[field].choice if field in learned else None) == expected
    if expected:  # the push then writes that way
        pushed = with_formats(cfg, "s", learned)
        assert pushed.sources["s"].fields[field].write_format == expected


def test_a_format_given_in_hub_yaml_is_never_second_guessed():
    cfg = HubConfig.model_validate(
        {"sources": {"s": {"kind": "sql", "url": "sqlite:///s.db", "table": "t", "primary_key": "id",
                           "fields": {"phone": {"column": "c", "transform": "phone", "write_format": "e164"}},
                           "accepts": ["phone"]}}}
    )  # fmt: skip

    def unread() -> pd.DataFrame:
        raise AssertionError("nothing to learn: the source is not read")

    assert raw_formats(unread, cfg.sources["s"], cfg) == {}
