"""connectors/styles.py: a source's conventions learned from its own values, hub.yaml overrides, and golden values
written that way. Each case stages a source's values and checks what a golden value looks like written into it."""

from __future__ import annotations

import random
from typing import Any

import pandas as pd
import pytest

from connectors.styles import MIN_VALUES, ascii_sql, layout_sql, learn, raw_formats, render, with_formats
from hub import echoes, forms
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


def source(mapping: dict[str, Any] | None = None, columns: dict[str, str] = FIELDS, **fields: Any) -> HubConfig:
    block = {f: {"column": c, **(mapping or {}).get(f, {})} for f, c in columns.items()}
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

    def styled(column: str) -> str:
        return render(field, ascii_sql(field, column, styles, "_g_country") or column, styles, "_g_country")

    if field == "address_line1":
        layout = layout_sql(styles, "_g_country")
        sql = f"hub_one_line({styled('_g_address_line1')}, {styled('_g_address_line2')}, {layout})"
    else:
        sql = styled(f"_g_{field}")
    row = {f"_g_{k}": v for k, v in {"country": None, **golden}.items()}
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
    "no accented letter held: written without, spelled out in Germany": (
        many(30, last_name="Smith"),
        None, "last_name", {"last_name": "Blümel", "country": "DE"}, "Bluemel",
    ),
    "no accented letter held: written without, the accent dropped in France": (
        many(30, first_name="Ann"),
        None, "first_name", {"first_name": "Zoë", "country": "FR"}, "Zoe",
    ),
    "in capitals and without accents": (
        many(30, last_name="SMITH"),
        None, "last_name", {"last_name": "Müller", "country": "DE"}, "MUELLER",
    ),
    "a Danish ø spelled out, in a street with its flat": (
        many(25, address_line1="Flat 3, 12 Oak Road", country="GB"),
        None, "address_line1", {"address_line1": "Søndergade 4", "address_line2": "Flat 2", "country": "DK"},
        "Flat 2, Soendergade 4",
    ),
    "one accented letter held: the golden value as it is": (
        many(29, last_name="Smith") + many(1, last_name="Núñez"),
        None, "last_name", {"last_name": "Blümel", "country": "DE"}, "Blümel",
    ),
    "too few values to tell a system without accents": (
        many(MIN_VALUES - 1, last_name="Smith"),
        None, "last_name", {"last_name": "Blümel", "country": "DE"}, "Blümel",
    ),
    "hub.yaml: unicode where none is held yet": (
        many(30, last_name="Smith"),
        {"last_name": {"write_charset": "unicode"}}, "last_name", {"last_name": "Blümel", "country": "DE"}, "Blümel",
    ),
    "hub.yaml: ascii where some are held": (
        many(30, last_name="Müller"),
        {"last_name": {"write_charset": "ascii"}}, "last_name", {"last_name": "Blümel", "country": "DE"}, "Bluemel",
    ),
}  # fmt: skip

TRANSLITERATIONS = [  # value, country, hub_ascii, the key of hub_spelled_out (std_text)
    ("Straße", "DE", "Strasse", "strasse"),
    ("ÖZTÜRK", "DE", "OEZTUERK", "oeztuerk"),
    ("Blu\u0308mel", "AT", "Bluemel", "bluemel"),  # a decomposed ü
    ("Århus", "DK", "Aarhus", "aarhus"),
    ("Björk", "SE", "Bjork", "bjoerk"),  # Swedish drops the dots; the key spells them out all the same
    ("Łódź", "PL", "Lodz", "lodz"),
    ("Æbeltoft", "DK", "Aebeltoft", "aebeltoft"),
    ("O\u2019Brien", "IE", "O\u2019Brien", "obrien"),  # a curly apostrophe is no accented letter
    ("Smith", None, "Smith", "smith"),
]


@pytest.mark.parametrize(("value", "country", "ascii", "spelled"), TRANSLITERATIONS)
def test_transliteration_writes_what_a_system_without_accents_holds(value, country, ascii, spelled):
    ws = Workspace(":memory:")
    forms.load(ws.con)
    got = ws.con.execute(
        "SELECT hub_ascii($v, $c), std_text(hub_spelled_out($v)), hub_native($v)", {"v": value, "c": country}
    ).fetchall()[0]
    assert got == (ascii, spelled, value != ascii)


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


def _written_by_the_hub(ws: Workspace, values: dict[str, str | None], originals: dict[str, str | None]) -> None:
    """What a write-back leaves: the staged rows hold the values written (by key), its echoes the values before."""
    rows = pd.DataFrame(
        {
            "source_system": "s",
            "source_key": list(values),
            "written_version": None,
            "evidence_at": None,
            "region__written": list(values.values()),
            "region__original": [originals.get(k) for k in values],
        }
    )
    echoes.record(ws.con, ws.fields, rows)
    for key, value in values.items():
        ws.con.execute("UPDATE staged_records SET region = ? WHERE source_key = ?", [value, key])


def test_what_the_hub_wrote_does_not_teach_the_source_its_style():
    # 23 of 30 states in capitals (77%): no case convention. A write-back fills 10 blanks with state codes and
    # replaces one name by a code; counted, those would make 34 of 40 (85%) capitals, and every record's plan
    # would change with the style. The source's own values are unchanged, so is its style.
    rows = many(23, region="WI", country="US") + many(7, region="Ohio", country="US") + many(10, country="US")
    ws = stage(rows)
    src = source().sources["s"]
    before = learn(ws, src, "s")
    assert (before["region"].choice, before["region"].learned_from) == ("proper", 30)
    filled = {str(k): "NY" for k in range(30, 40)}
    _written_by_the_hub(ws, filled | {"29": "OH"}, {"29": "Ohio"})
    assert learn(ws, src, "s") == before
    assert learn(ws, src, "s", full=True) == before
    # a person's own edit is the source's again, even of a cell the hub wrote
    for key in ("29", "30", "31", "32", "33", "34", "35"):
        ws.con.execute("UPDATE staged_records SET region = 'TX' WHERE source_key = ?", [key])
    after = learn(ws, src, "s")
    assert (after["region"].choice, after["region"].learned_from) == ("upper", 36)


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


# ------------------------------------------------------------------------- learned from what changed

VALUES = {  # a staged record's values, drawn per round with a lean that moves the conventions across thresholds
    "last_name": ("SMITH", "smith", "Smith", None),
    "city": ("LONDON", "london", "London"),
    "postal_code": ("SW1A 1AA", "SW1A1AA"),
    "region": ("NY", "New York"),
    "address_line1": ("Flat 3, 12 Oak Road", "12 Oak Road Flat 3", "12 Oak Road\nFlat 3", "12 Oak Road", None),
}


def _drawn(rng: random.Random, lean: float) -> dict[str, Any]:
    row = {f: options[0] if rng.random() < lean else rng.choice(options) for f, options in VALUES.items()}
    return row | {"country": rng.choice(("GB", "US", "GB", None)), "email": f"{rng.getrandbits(32)}@example.com"}


def _staged_in_full(ws: Workspace, cfg: HubConfig) -> dict:
    """The styles learned in a fresh workspace from the same staged records: what a full learn gives."""
    fresh = Workspace(":memory:")
    frame = ws.con.execute("SELECT * FROM staged_records").df()
    fresh.con.register("_rows", frame)
    fresh.con.execute("INSERT INTO staged_records SELECT * FROM _rows")
    fresh.con.unregister("_rows")
    return learn(fresh, cfg.sources["s"], "s")


@pytest.mark.parametrize("seed", [1, 2])
def test_styles_learned_from_what_changed_are_those_learned_from_every_record(seed):
    rng = random.Random(seed)
    ws = stage([_drawn(rng, 0.8) for _ in range(60)])
    configs = [
        source(),
        source(accepts=[f for f in FIELDS if f != "region"]),
        source(columns=FIELDS | {"address_line2": "flat"}, accepts=[*FIELDS, "address_line2"]),
    ]
    seen: set[tuple[str, ...]] = set()
    for round_ in range(12):
        cfg = configs[0] if round_ % 4 else rng.choice(configs)  # a mapping change now and then: all told again
        lean = rng.choice((0.5, 0.75, 0.85, 0.95))
        keys = [k for (k,) in ws.con.execute("SELECT source_key FROM staged_records ORDER BY 1").fetchall()]
        for key in rng.sample(keys, rng.randrange(1, 25)):  # edits, some to the values they already hold
            row = _drawn(rng, lean)
            sets = ", ".join(f"{c} = ?" for c in row)
            ws.con.execute(f"UPDATE staged_records SET {sets} WHERE source_key = ?", [*row.values(), key])
        for key in rng.sample(keys, rng.randrange(0, 4)):
            ws.con.execute("DELETE FROM staged_records WHERE source_key = ?", [key])
        for n in range(rng.randrange(0, 6)):
            row = _drawn(rng, lean) | {"source_system": "s", "source_key": f"r{round_}-{n}"}
            ws.con.execute(
                f"INSERT INTO staged_records ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
                list(row.values()),
            )
        kept = learn(ws, cfg.sources["s"], "s")
        assert kept == _staged_in_full(ws, cfg), round_
        seen.add(tuple(s.choice for s in kept.values()))
    assert len(seen) > 2, seen  # the conventions did move between rounds


def test_only_changed_records_are_told_again_and_a_full_learn_tells_every_one():
    ws = stage(many(30, last_name="SMITH") + many(2, last_name="Jones"))
    src = source().sources["s"]
    assert learn(ws, src, "s")["last_name"].choice == "upper"
    # a kept count that no longer says what its record holds: only a full learn would notice
    ws.con.execute("UPDATE writeback_style_rows SET flags = 0 WHERE source_key < '2'")  # keys 0, 1, 10..19
    ws.con.execute("UPDATE staged_records SET last_name = 'JONES' WHERE source_key = '31'")
    assert learn(ws, src, "s")["last_name"].learned_from == 32 - 12  # told again: key 31 only
    assert learn(ws, src, "s", full=True)["last_name"].learned_from == 32
