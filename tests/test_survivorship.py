"""golden_record.survivorship: each rule alone and as a tie-breaker, the valid filter, nulls, the address block,
consent, pins, extras, lineage, determinism and a 200k-record run. Records are staged in an in-memory workspace
and standardized exactly as the pipeline does, so comparison forms are the real ones."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import duckdb
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.writeback_plan import EVIDENCE_RULES
from golden_record.incremental import SCRATCH, inputs_sql
from golden_record.survivorship import STEWARD, survive
from hub.config import ADDRESS_BLOCK, SurvivorshipConfig
from hub.model import ATTRIBUTE_FIELDS
from hub.workspace import Workspace
from matching.standardize import standardize

pytestmark = pytest.mark.slow(seconds=50)  # the file's weight in the suite's order (tests/conftest.py)


@dataclass
class Golden:
    con: duckdb.DuckDBPyConnection
    count: int

    def values(self, golden_id: str = "g1") -> dict[str, Any]:
        out = self.con.execute("SELECT * FROM golden_values WHERE golden_id = ?", [golden_id])
        row = out.fetchone()
        assert row is not None, f"no golden record {golden_id}"
        return dict(zip([d[0] for d in out.description], row, strict=True))

    def value(self, field: str, golden_id: str = "g1") -> Any:
        return self.values(golden_id)[field]

    def lineage(self, field: str, golden_id: str = "g1") -> dict[str, Any] | None:
        out = self.con.execute("SELECT * FROM golden_lineage WHERE golden_id = ? AND field = ?", [golden_id, field])
        rows = out.fetchall()
        assert len(rows) <= 1, f"{len(rows)} lineage rows for {golden_id}.{field}"
        return dict(zip([d[0] for d in out.description], rows[0], strict=True)) if rows else None

    def rule(self, field: str, golden_id: str = "g1") -> str | None:
        row = self.lineage(field, golden_id)
        return row["rule"] if row else None

    def source(self, field: str, golden_id: str = "g1") -> tuple[str, str] | None:
        row = self.lineage(field, golden_id)
        return (row["source_system"], row["source_key"]) if row else None


def stage(rows: list[dict[str, Any]], extras: dict[str, str] | None = None) -> Workspace:
    """A workspace with `rows` staged (source_system 'crm' and source_key = position unless given; `golden`, the
    golden id, defaults to 'g1'), standardized, and golden_members built from the `golden` keys."""
    ws = Workspace(":memory:")
    for name, sql_type in (extras or {}).items():
        ws.con.execute(f"ALTER TABLE staged_records ADD COLUMN {name} {sql_type}")
    frame = pd.DataFrame(
        [{"source_system": "crm", "source_key": str(i), "golden": "g1", **r} for i, r in enumerate(rows)]
    )
    frame = frame.astype(object).where(frame.notna(), None)  # None, not NaN: DuckDB reads it as NULL
    frame["record_id"] = frame["source_system"] + ":" + frame["source_key"]
    ws.con.register("_rows", frame)
    ws.con.execute("INSERT INTO staged_records BY NAME SELECT * EXCLUDE (golden, record_id) FROM _rows")
    ws.con.execute(
        "CREATE TABLE golden_members AS SELECT record_id::VARCHAR AS record_id, golden AS golden_id FROM _rows"
    )
    ws.con.unregister("_rows")
    standardize(ws.con)
    return ws


def run(
    rows: list[dict[str, Any]],
    cfg: SurvivorshipConfig | None = None,
    overrides: pd.DataFrame | None = None,
    extras: dict[str, str] | None = None,
) -> Golden:
    ws = stage(rows, extras)
    n = survive(ws.con, cfg or SurvivorshipConfig(), list(extras or {}), overrides=overrides)
    return Golden(ws.con, n)


def fields(**rules: list[str]) -> SurvivorshipConfig:
    return SurvivorshipConfig(fields=rules)


# Each rule alone and as a tie-breaker. A case: config, member records, field -> (winning value, winner's
# source_key, lineage rule). Records are crm unless a source is given; source_key is the position.
RULE_CASES = {
    "most_recent": (
        fields(last_name=["most_recent"]),
        [
            {"last_name": "Old", "source_updated_at": "2020-01-01"},
            {"last_name": "New", "source_updated_at": "2024-01-01"},
            {"last_name": "Mid", "source_updated_at": "2022-01-01"},
        ],
        {"last_name": ("New", "1", "most_recent")},
    ),
    "source_priority": (
        SurvivorshipConfig(source_priority=["crm", "billing"], fields={"last_name": ["source_priority"]}),
        [
            {"source_system": "app", "last_name": "App", "source_updated_at": "2024-01-01"},
            {"source_system": "billing", "last_name": "Billing"},
            {"source_system": "crm", "last_name": "Crm"},
        ],
        {"last_name": ("Crm", "2", "source_priority")},
    ),
    "unlisted sources come after listed ones": (
        SurvivorshipConfig(source_priority=["billing"], fields={"last_name": ["source_priority", "most_recent"]}),
        [
            {"source_system": "app", "last_name": "App", "source_updated_at": "2024-01-01"},
            {"source_system": "billing", "last_name": "Billing", "source_updated_at": "2020-01-01"},
        ],
        {"last_name": ("Billing", "1", "source_priority")},
    ),
    "most_complete": (
        fields(last_name=["most_complete"]),
        [
            {"last_name": "Sparse", "source_updated_at": "2024-01-01"},
            {"last_name": "Full", "first_name": "Ann", "email": "ann@example.com", "city": "Leeds"},
        ],
        {"last_name": ("Full", "1", "most_complete")},
    ),
    "most_frequent": (
        fields(last_name=["most_frequent", "most_recent"]),
        [
            {"last_name": "Smith", "source_updated_at": "2020-01-01"},
            {"last_name": "Smith", "source_updated_at": "2020-02-01"},
            {"last_name": "Smyth", "source_updated_at": "2024-01-01"},
        ],
        {"last_name": ("Smith", "1", "most_frequent")},
    ),
    "longest": (
        fields(first_name=["longest"]),
        [{"first_name": "Jon", "source_updated_at": "2024-01-01"}, {"first_name": "Jonathan"}],
        {"first_name": ("Jonathan", "1", "longest")},
    ),
    "tie on priority decided by recency": (
        SurvivorshipConfig(source_priority=["crm"], fields={"last_name": ["source_priority", "most_recent"]}),
        [
            {"source_system": "web", "last_name": "Older", "source_updated_at": "2020-01-01"},
            {"source_system": "app", "last_name": "Newer", "source_updated_at": "2024-01-01"},
        ],
        {"last_name": ("Newer", "1", "most_recent")},
    ),
    "tie on votes decided by length": (
        fields(first_name=["most_frequent", "longest", "most_recent"]),
        [
            {"first_name": "Kate", "source_updated_at": "2024-01-01"},
            {"first_name": "Katherine", "source_updated_at": "2020-01-01"},
        ],
        {"first_name": ("Katherine", "1", "longest")},
    ),
    "tie on completeness decided by recency": (
        fields(last_name=["most_complete", "most_recent"]),
        [
            {"last_name": "Older", "city": "York", "source_updated_at": "2020-01-01"},
            {"last_name": "Newer", "city": "Hull", "source_updated_at": "2024-01-01"},
        ],
        {"last_name": ("Newer", "1", "most_recent")},
    ),
    "every rule ties: source_system, source_key decide": (
        fields(last_name=["most_recent"]),
        [
            {"source_system": "web", "source_key": "1", "last_name": "Web", "source_updated_at": "2024-01-01"},
            {"source_system": "crm", "source_key": "9", "last_name": "Crm9", "source_updated_at": "2024-01-01"},
            {"source_system": "crm", "source_key": "10", "last_name": "Crm10", "source_updated_at": "2024-01-01"},
        ],
        {"last_name": ("Crm10", "10", "tie_break")},
    ),
    "one candidate": (
        SurvivorshipConfig(),
        [{"last_name": "Only", "source_updated_at": "2020-01-01"}, {"first_name": "Ann"}],
        {"last_name": ("Only", "0", "only_candidate"), "first_name": ("Ann", "1", "only_candidate")},
    ),
    "agreeing candidates: the chain picks the record": (
        SurvivorshipConfig(),
        [
            {"last_name": "Smith", "source_updated_at": "2020-01-01"},
            {"last_name": "Smith", "source_updated_at": "2024-01-01"},
        ],
        {"last_name": ("Smith", "1", "most_recent")},
    ),
    "defaults: a nickname loses, votes, then recency; written in proper case": (
        SurvivorshipConfig(),
        [
            {"first_name": "Robert", "date_of_birth": "1980-05-01", "source_updated_at": "2020-01-01"},
            {"first_name": "ROBERT", "date_of_birth": "1980-05-01", "source_updated_at": "2021-01-01"},
            {"first_name": "Bob", "date_of_birth": "1981-05-01", "source_updated_at": "2024-01-01"},
        ],
        {"first_name": ("Robert", "0", "common_spelling"), "date_of_birth": (date(1980, 5, 1), "1", "most_frequent")},
    ),
}


@pytest.mark.parametrize("case", RULE_CASES, ids=list(RULE_CASES))
def test_rules(case):
    cfg, rows, expected = RULE_CASES[case]
    golden = run(rows, cfg)
    for field, (value, key, rule) in expected.items():
        assert golden.value(field) == value, field
        assert golden.lineage(field)["source_key"] == key, field
        assert golden.rule(field) == rule, field


def test_most_recent_is_the_sources_own_time_not_pull_time():
    golden = run(
        [
            {"email": "new@example.com", "source_updated_at": "2024-01-01", "pulled_at": "2024-01-02"},
            {"email": "old@example.com", "source_updated_at": "2019-01-01", "pulled_at": "2024-06-01"},
        ]
    )
    assert golden.value("email") == "new@example.com"
    assert golden.lineage("email")["value_at"] == datetime(2024, 1, 1)


VALID_CASES = [  # field, member values (newest first), winning value, rule
    ("email", ["not an email", "ann@example"], None, None),
    ("email", ["not an email", "ann@example.com"], "ann@example.com", "valid"),
    ("email", ["bob@example.com", "broken@", "ann@example.com"], "bob@example.com", "most_recent"),
    ("phone", ["020 7946 0018", "+442079460018"], "+442079460018", "valid"),
    ("phone", ["0044207946", "12345"], None, None),
]


@pytest.mark.parametrize(("field", "values", "winner", "rule"), VALID_CASES)
def test_valid_filter(field, values, winner, rule):
    rows = [{field: v, "source_updated_at": f"{2024 - i}-01-01"} for i, v in enumerate(values)]
    golden = run(rows)
    assert golden.value(field) == winner
    assert golden.rule(field) == rule


def test_valid_is_a_filter_wherever_it_sits_in_the_chain():
    rows = [{"email": "junk", "source_updated_at": "2024-01-01"}, {"email": "a@example.com"}]
    assert run(rows, fields(email=["most_recent", "valid"])).value("email") == "a@example.com"
    assert run(rows, fields(email=["most_recent"])).value("email") == "junk"  # no filter unless configured
    rows = [{"email": "n/a"}, {"email": "N/A"}, {"email": "a@example.com"}, {"email": "b@example.com"}]
    assert run(rows, fields(email=["most_frequent", "most_recent"])).value("email") == "n/a"  # 2 votes
    assert run(rows, fields(email=["valid", "most_frequent"])).rule("email") == "tie_break"  # invalid ones do not vote


@pytest.mark.parametrize("rule", ["most_recent", "source_priority", "most_complete", "most_frequent", "longest"])
def test_null_never_wins(rule):
    rows = [
        {"first_name": None, "last_name": "X", "city": "Y", "email": "x@y.zz", "source_updated_at": "2024-01-01"},
        {"first_name": None, "source_system": "web", "source_updated_at": "2023-01-01"},
        {"first_name": "Ann", "source_system": "app", "source_updated_at": "2019-01-01"},
    ]
    cfg = SurvivorshipConfig(source_priority=["crm", "web"], fields={"first_name": [rule]})
    golden = run(rows, cfg)
    assert golden.value("first_name") == "Ann"
    assert golden.rule("first_name") == "only_candidate"


def test_no_value_no_lineage_row():
    golden = run([{"last_name": "A"}, {"last_name": "B"}])
    assert golden.value("email") is None
    assert golden.lineage("email") is None
    assert golden.lineage("address_line1") is None


def test_near_identical_values_vote_together():
    """Each value has one record; only grouping "12 High St" with "12 High Street" makes them beat the newer
    "5 Oak Rd". Within the group, recency picks the record; the original spelling is kept."""
    rows = [
        {"source_system": "crm", "address_line1": "12 High St", "postal_code": "SW1A 1AA", "source_updated_at": "2020"},
        {
            "source_system": "web",
            "address_line1": "12 High Street",
            "postal_code": "SW1A1AA",
            "source_updated_at": "2021",
        },
        {"source_system": "app", "address_line1": "5 Oak Rd", "postal_code": "M1 1AE", "source_updated_at": "2024"},
    ]
    for row in rows:
        row["source_updated_at"] += "-01-01"
    voted = run(rows, fields(address=["most_frequent", "most_recent"]))
    assert (voted.value("address_line1"), voted.value("postal_code")) == ("12 High Street", "SW1A1AA")
    assert voted.rule("address_line1") == "most_frequent"  # against the runner-up with another address
    assert run(rows, fields(address=["most_recent"])).value("address_line1") == "5 Oak Rd"


def test_near_spellings_pool_their_votes():
    rows = [
        {"last_name": "Williamson", "source_updated_at": "2020-01-01"},
        {"last_name": "Wiliamson", "source_updated_at": "2020-02-01"},  # a typo, ratio 95
        {"last_name": "Jones", "source_updated_at": "2024-01-01"},
        {"first_name": "Jon ", "source_updated_at": "2020-01-01"},
        {"first_name": "JON", "source_updated_at": "2020-02-01"},
        {"first_name": "John", "source_updated_at": "2024-01-01"},  # ratio 86 with "jon": a different name
    ]
    golden = run(rows)
    assert golden.value("last_name") == "Wiliamson"  # the group wins; recency picks within it
    assert golden.rule("last_name") == "most_recent"  # the runner-up is the best other form: the other spelling
    assert golden.value("first_name") == "Jon"  # the "jon" records outvote "John"; proper case, trimmed
    assert golden.rule("first_name") == "most_frequent"


def _population(field: str, value: str, golden_records: int) -> list[dict[str, Any]]:
    """Other people (golden ids p0, p1, ...) holding `value`: the population a spelling is judged against."""
    return [{"golden": f"p{i}", field: value} for i in range(golden_records)]


# What a careful person would write. A case: member rows of g1 (plus other golden ids: the population),
# config, and field -> expected golden value (and, where it matters, the lineage rule).
HARMONIZE_CASES = {
    "case forms are one value; proper case is written": (
        [
            {"source_system": "billing", "last_name": "HARRIS", "source_updated_at": "2024-01-01"},
            {"source_system": "web", "last_name": "Harris", "source_updated_at": "2020-01-01"},
            {"source_system": "app", "last_name": "harris ", "source_updated_at": "2022-01-01"},
        ],
        None,
        {"last_name": ("Harris", None)},
    ),
    "one case everywhere: the population's spelling, else proper case": (
        [{"last_name": "MCDONALD"}, {"last_name": "mcdonald"}, *_population("last_name", "McDonald", 2)],
        None,
        {"last_name": ("McDonald", None)},
    ),
    "one case everywhere: the population's spelling where proper case would write another": (
        [
            {"first_name": "LEROY", "last_name": "MACLEOD"},
            {"first_name": "leroy", "last_name": "macleod"},
            *_population("last_name", "MacLeod", 2),
            *_population("first_name", "LeRoy", 3),
        ],
        None,
        {"first_name": ("LeRoy", None), "last_name": ("MacLeod", None)},
    ),
    "a newer typo loses to the spelling the population uses": (
        [
            {"last_name": "Williams", "source_updated_at": "2020-01-01"},
            {"last_name": "Williahms", "source_updated_at": "2024-01-01"},
            *_population("last_name", "Williams", 5),
        ],
        None,
        {"last_name": ("Williams", "common_spelling")},
    ),
    "a typo loses even outside near-spelling distance": (
        [
            {"first_name": "Donna", "source_updated_at": "2020-01-01"},
            {"first_name": "Donnna", "source_updated_at": "2024-01-01"},
            *_population("first_name", "Donna", 4),
        ],
        None,
        {"first_name": ("Donna", "common_spelling")},
    ),
    "a rare spelling most records agree on is kept": (
        [
            {"last_name": "Smyth"},
            {"last_name": "Smyth"},
            {"last_name": "Smith", "source_updated_at": "2024-01-01"},
            *_population("last_name", "Smith", 10),
        ],
        None,
        {"last_name": ("Smyth", "most_frequent")},
    ),
    "without population evidence a tie goes to the newest": (
        [
            {"last_name": "Challenor", "source_updated_at": "2020-01-01"},
            {"last_name": "Chalenor", "source_updated_at": "2024-01-01"},
        ],
        None,
        {"last_name": ("Chalenor", "most_recent")},
    ),
    "a nickname loses to the formal name it stands for": (
        [{"first_name": "Matt", "source_updated_at": "2024-01-01"}, {"first_name": "Matt"}, {"first_name": "Matthew"}],
        None,
        {"first_name": ("Matthew", "common_spelling")},
    ),
    "a nickname stands for a longer name it starts, not for itself with another word after it": (
        [
            {"first_name": "Robby", "source_updated_at": "2024-01-01"},
            {"first_name": "Robby", "source_updated_at": "2023-01-01"},
            {"first_name": "Robby auch", "source_updated_at": "2022-01-01"},
        ],
        None,
        {"first_name": ("Robby", "most_frequent")},
    ),
    "unless prefer_formal_names is off": (
        [{"first_name": "Matt", "source_updated_at": "2024-01-01"}, {"first_name": "Matthew"}],
        SurvivorshipConfig(prefer_formal_names=False),
        {"first_name": ("Matt", "most_recent")},
    ),
    "a spelling variant is no nickname": (
        [{"first_name": "Steven", "source_updated_at": "2024-01-01"}, {"first_name": "Stephen"}],
        None,
        {"first_name": ("Steven", "most_recent")},
    ),
    "names the wrong way round, as the population sees them, vote the right way round": (
        [
            {"first_name": "Stokes", "last_name": "Cameron", "source_updated_at": "2024-01-01"},
            {"first_name": "STOKES", "last_name": "CAMERON"},
            {"first_name": "Cameron", "last_name": "Stokes", "source_updated_at": "2020-01-01"},
            *({"golden": f"f{i}", "first_name": "Cameron", "last_name": f"Lee{i}"} for i in range(12)),
            *({"golden": f"l{i}", "first_name": f"Ann{i}", "last_name": "Stokes"} for i in range(12)),
        ],
        None,
        {"first_name": ("Cameron", None), "last_name": ("Stokes", None)},  # all three now agree
    ),
    "a person whose records agree is never swapped, however unusual the order": (
        [
            {"first_name": "Kelly", "last_name": "Anthony"},
            {"first_name": "Kelly", "last_name": "ANTHONY"},
            *({"golden": f"f{i}", "first_name": "Anthony", "last_name": f"Lee{i}"} for i in range(12)),
            *({"golden": f"l{i}", "first_name": f"Ann{i}", "last_name": "Kelly"} for i in range(12)),
        ],
        None,
        {"first_name": ("Kelly", None), "last_name": ("Anthony", None)},
    ),
    "titles and suffixes are never part of a name": (
        [{"first_name": "Mr John", "last_name": "Smith Jr."}],
        None,
        {"first_name": ("John", None), "last_name": ("Smith", None)},
    ),
    "the newest usable address wins over the fullest old one (a move)": (
        [
            {"address_line1": "1342 Alvin Parkway", "address_line2": "Apt. 4", "city": "Lake Anna", "region": "WI",
             "postal_code": "53703", "country": "US", "source_updated_at": "2022-01-01"},
            {"address_line1": "6517 Potts Way", "city": "Eastfurt", "postal_code": "60601", "country": "US",
             "source_updated_at": "2025-01-01"},
            {"address_line1": "9 Partial Road", "source_updated_at": "2026-01-01"},  # no postcode, no town
        ],
        None,
        {"address_line1": ("6517 Potts Way", "most_recent"), "address_line2": (None, None), "region": (None, None),
         "postal_code": ("60601", "most_recent"), "country": ("US", "most_recent")},
    ),
    "regions and postcodes in their country's form": (
        [{"address_line1": "12 Main St", "region": "wisconsin", "postal_code": "53703-1234", "country": "US"}],
        None,
        {"region": ("WI", None), "postal_code": ("53703", None)},
    ),
    "GB postcode spaced and upper case": (
        [{"address_line1": "12 Oak Road", "postal_code": "sw1a1aa", "country": "GB"}],
        None,
        {"postal_code": ("SW1A 1AA", None)},
    ),
    "one-line and multi-line streets become street and unit": (
        [
            {"source_system": "web", "address_line1": "flat 3, 12 oak road", "postal_code": "SW1A 1AA",
             "source_updated_at": "2025-01-01"},
            {"source_system": "crm", "address_line1": "12 Oak Road\nFlat 3", "postal_code": "SW1A1AA",
             "city": "LONDON", "source_updated_at": "2021-01-01"},
        ],
        None,
        {"address_line1": ("12 Oak Road", "most_recent"), "address_line2": ("Flat 3", "most_recent"),
         "city": ("London", "most_recent"), "postal_code": ("SW1A 1AA", "most_recent")},
    ),
    "country without any address": (
        [
            {"country": "GB", "source_updated_at": "2020-01-01"},
            {"country": "GB"},
            {"country": "US", "source_updated_at": "2024-01-01"},
        ],
        None,
        {"country": ("GB", "most_frequent"), "address_line1": (None, None)},
    ),
    "emails: lower case; one mailbox in any spelling; the spelling most records use": (
        [
            {"email": "Ann.Lee@Gmail.com", "source_updated_at": "2024-01-01"},
            {"email": "ann.lee@gmail.com"},
            {"email": "ann.lee@gmail.com"},
            {"email": "annlee@gmail.com", "source_updated_at": "2025-01-01"},
        ],
        None,
        {"email": ("ann.lee@gmail.com", "most_recent")},  # agreeing candidates: the chain picks the record
    ),
    "a name keeps its accents wherever a record has them: Muller and Mueller are how systems without them write": (
        [
            {"first_name": "Jorg", "last_name": "Bluemel", "source_updated_at": "2025-01-01"},
            {"first_name": "Jorg", "last_name": "Bluemel", "source_updated_at": "2024-01-01"},
            {"first_name": "Jörg", "last_name": "Blümel", "source_updated_at": "2020-01-01"},
            {"first_name": "Jorg", "last_name": "BLUEMEL", "source_updated_at": "2023-01-01"},
            {"first_name": "Jorg", "last_name": "Bluemel", "source_updated_at": "2022-01-01"},
        ],
        None,
        {"first_name": ("Jörg", None), "last_name": ("Blümel", None)},
    ),
    "a street keeps its ß and its umlauts": (
        [
            {"address_line1": "Römerstrasse 5", "city": "Muenchen", "postal_code": "80331", "country": "DE",
             "source_updated_at": "2025-01-01"},
            {"address_line1": "Roemerstrasse 5", "city": "Muenchen", "postal_code": "80331", "country": "DE",
             "source_updated_at": "2024-01-01"},
            {"address_line1": "Römerstraße 5", "city": "München", "postal_code": "80331", "country": "DE",
             "source_updated_at": "2020-01-01"},
        ],
        None,
        {"address_line1": ("Römerstraße 5", "most_recent"), "city": ("München", "most_recent"),
         "postal_code": ("80331", "most_recent")},
    ),
    "a Swiss street keeps its ss: Switzerland does not write ß": (
        [
            {"address_line1": "Bahnhofstrasse 5", "postal_code": "8001", "country": "CH",
             "source_updated_at": "2020-01-01"},
            {"address_line1": "Bahnhofstraße 5", "postal_code": "8001", "country": "CH",
             "source_updated_at": "2025-01-01"},
        ],
        None,
        {"address_line1": ("Bahnhofstrasse 5", "most_recent")},
    ),
    "a different name is no spelling: Michael stays Michael beside a Michal with accents elsewhere": (
        [
            {"first_name": "Michael", "last_name": "Nowak"},
            {"first_name": "Michael", "last_name": "Nowak"},
            {"first_name": "Michał", "last_name": "Nowak"},
        ],
        None,
        {"first_name": ("Michael", None)},
    ),
    "a name and its transliteration vote together: two records in each name order never make Hanife Hanife": (
        [
            {"source_system": "billing", "first_name": "Hanife", "last_name": "KAESTER",
             "source_updated_at": "2024-04-20"},
            {"source_system": "web", "first_name": "Hanife", "last_name": "Käster", "source_updated_at": "2024-08-24"},
            {"source_system": "app", "first_name": "käster", "last_name": "hanife", "source_updated_at": "2024-07-23"},
            {"source_system": "crm", "first_name": "Käster", "last_name": "Hanife", "source_updated_at": "2022-10-06"},
        ],
        None,
        {"first_name": ("Hanife", "most_recent"), "last_name": ("Käster", "most_recent")},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", HARMONIZE_CASES, ids=list(HARMONIZE_CASES))
def test_values_a_careful_person_would_write(case):
    rows, cfg, expected = HARMONIZE_CASES[case]
    golden = run(rows, cfg)
    for field, (value, rule) in expected.items():
        assert golden.value(field) == value, field
        if rule:
            assert golden.rule(field) == rule, field


def test_contested_members_name_the_rule_they_lost_on():
    rows = [
        {"first_name": "Matthew", "last_name": "Williams", "email": "new@example.org", "source_updated_at": "2024"},
        {"first_name": "Matt", "last_name": "WILLIAMS", "email": "old@example.org", "source_updated_at": "2020"},
        {"first_name": "Matthew", "last_name": "Williahms", "source_updated_at": "2022"},
        *_population("last_name", "Williams", 5),
    ]  # fmt: skip
    for row in rows:
        if "source_updated_at" in row:
            row["source_updated_at"] += "-01-01"
    golden = run(rows)
    contested = golden.con.execute("SELECT record_id, field, rule FROM golden_contested ORDER BY ALL").fetchall()
    assert contested == [  # (no record here holds its names the wrong way round: no `swapped_names`)
        ("crm:1", "email", "most_recent"),
        ("crm:1", "first_name", "common_spelling"),  # a nickname
        ("crm:2", "last_name", "common_spelling"),  # a typo; "WILLIAMS" is the same value as "Williams"
    ]


def test_votes_count_records_not_distinct_values():
    rows = [{"last_name": "Smyth", "source_updated_at": "2024-01-01"}] + [{"last_name": "Smith"}] * 3
    rows += [{"last_name": "Smyth", "source_updated_at": "2023-01-01"}]
    assert run(rows).value("last_name") == "Smith"


def test_address_block_comes_whole_from_one_record():
    full = {"address_line1": "12 High St", "address_line2": "Flat 3", "city": "London", "region": "Greater London",
            "postal_code": "SW1A 1AA", "country": "GB"}  # fmt: skip
    rows = [
        {"source_system": "crm", "source_updated_at": "2020-01-01", **full},
        {"source_system": "app", "source_updated_at": "2024-01-01", "postal_code": "M1 1AE"},
        {"source_system": "web", "source_updated_at": "2025-01-01", "city": "Leeds"},  # no line 1, no postcode
    ]
    golden = run(rows)  # default: complete, most_recent
    assert {f: golden.value(f) for f in ADDRESS_BLOCK} == full
    assert {golden.source(f) for f in ADDRESS_BLOCK} == {("crm", "0")}
    assert {golden.rule(f) for f in ADDRESS_BLOCK} == {"complete"}  # a postcode alone is no usable address

    newest = run(rows, fields(address=["most_recent"]))  # the newer record wins the whole block, gaps and all
    assert {f: newest.value(f) for f in ADDRESS_BLOCK} == dict.fromkeys(ADDRESS_BLOCK) | {
        "postal_code": "M1 1AE",
        "country": "GB",  # the block has none: the country is decided on its own, never left blank
    }
    assert newest.lineage("city") is None
    assert newest.source("postal_code") == ("app", "1")
    assert newest.source("country") == ("crm", "0")


BLOCK_POOL = {
    "address_line1": ["12 High St", "12 High Street", "5 Oak Rd", "Flat 2, 9 Mill Lane", None],
    "address_line2": ["Flat 3", "Apt 7", None],
    "city": ["London", "Leeds", "York", None],
    "region": ["Kent", "Yorkshire", None],
    "postal_code": ["SW1A 1AA", "LS1 4AP", "YO1 7HH", None],
    "country": ["GB", "US", None],
}


MEMBER = st.fixed_dictionaries(
    {f: st.sampled_from(pool) for f, pool in BLOCK_POOL.items()}
    | {
        "source_system": st.sampled_from(["billing", "web", "app", "crm"]),
        "source_updated_at": st.sampled_from([None, "2020-01-01", "2022-06-01", "2024-03-01"]),
        "first_name": st.sampled_from(["Ann", "ann", "Anne", None]),
        "email": st.sampled_from(["a@example.com", "bad", None]),
        "consent_email": st.sampled_from(["granted", "denied", "unknown", None]),
        "consent_email_at": st.sampled_from([None, "2021-01-01", "2023-01-01"]),
    }
)


@st.composite
def members(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Member rows of 20 to 60 golden ids, one to five each, from small pools: values tie, repeat and go missing.
    Even the simplest example has many golden ids: each example costs a survivorship run, so there are few."""
    golden = draw(st.lists(st.lists(MEMBER, min_size=1, max_size=5), min_size=20, max_size=60))
    rows = [row | {"golden": f"g{g}"} for g, group in enumerate(golden) for row in group]
    return [row | {"source_key": str(i)} for i, row in enumerate(rows)]


@pytest.mark.parametrize(
    "chain",
    [["most_complete", "most_recent"], ["most_recent"], ["most_frequent", "most_recent"], ["longest"],
     ["source_priority", "most_complete", "most_frequent"]],
)  # fmt: skip
@settings(max_examples=2)
@given(rows=members())
def test_address_block_never_mixes_records(chain, rows):
    """Every block field comes from members at the winning record's place (street line, unit, postcode), never
    from another place; a golden id whose members have no address has none (only a country)."""
    golden = run(rows, SurvivorshipConfig(source_priority=["web", "crm"], fields={"address": chain}))
    places = golden.con.execute(
        """WITH m AS (SELECT *, hub_unit_raw(address_line1) AS u FROM standardized_records)
           SELECT unique_id, hub_place_key(hub_street_from(address_line1, address_line2, u),
                                           hub_unit_from(address_line2, u), sm.street_map)
                  || '|' || coalesce(hub_postcode_key(postal_code, country), '') AS place
           FROM m CROSS JOIN std_street_map AS sm
           WHERE address_line1 IS NOT NULL OR postal_code IS NOT NULL"""
    ).fetchall()
    place = dict(places)
    block = [f for f in ADDRESS_BLOCK if f != "country"]
    lineage = golden.con.execute(
        f"""SELECT golden_id, list(DISTINCT source_system || ':' || source_key), count(DISTINCT rule)
            FROM golden_lineage WHERE field IN {tuple(block)} GROUP BY golden_id"""
    ).fetchall()
    with_address = {r["golden"] for r in rows if r["address_line1"] is not None or r["postal_code"] is not None}
    assert bool(lineage) == bool(with_address)
    for golden_id, records, rules in lineage:
        assert len({place[r] for r in records}) == 1, golden_id
        assert rules == 1, golden_id
    values = golden.con.execute(f"SELECT golden_id, {', '.join(block)} FROM golden_values").fetchall()
    for golden_id, *fields_ in values:
        assert any(v is not None for v in fields_) == (golden_id in with_address), golden_id


CONSENT_CASES = [  # (consent, consent_at, source) per member -> (value, value_at, winning source, rule)
    (
        [("granted", "2023-01-01", "crm"), ("denied", "2024-02-01", "app")],
        ("denied", datetime(2024, 2, 1), "app", "consent_most_recent"),
    ),
    (
        [("denied", "2023-01-01", "crm"), ("granted", "2024-02-01", "app")],
        ("granted", datetime(2024, 2, 1), "app", "consent_most_recent"),
    ),
    (
        [("granted", "2023-01-01", "crm"), ("unknown", "2024-02-01", "app"), (None, None, "web")],
        ("granted", datetime(2023, 1, 1), "crm", "only_candidate"),
    ),
    ([("unknown", None, "crm"), (None, None, "app")], ("unknown", None, None, None)),
    (
        [("granted", "2024-01-01", "crm"), ("denied", "2024-01-01", "web")],  # same time: the opt-out wins
        ("denied", datetime(2024, 1, 1), "web", "consent_most_recent"),
    ),
    (
        [("denied", None, "crm"), ("granted", "2020-01-01", "web")],  # a choice without a time comes last
        ("granted", datetime(2020, 1, 1), "web", "consent_most_recent"),
    ),
]


@pytest.mark.parametrize(("members", "expected"), CONSENT_CASES)
def test_consent_most_recent_explicit_choice(members, expected):
    rows = [
        # record recency points the other way, so only consent_sms_at can decide
        {"source_system": s, "consent_sms": c, "consent_sms_at": at, "source_updated_at": f"{2030 - i}-01-01"}
        for i, (c, at, s) in enumerate(members)
    ]
    golden = run(rows)
    value, at, source, rule = expected
    assert (golden.value("consent_sms"), golden.value("consent_sms_at")) == (value, at)
    assert golden.rule("consent_sms") == rule
    assert (golden.lineage("consent_sms") or {}).get("source_system") == source
    assert (golden.lineage("consent_sms") or {}).get("value_at") == at
    assert golden.rule("consent_sms_at") == (rule if at else None)
    assert golden.value("consent_post") == "unknown"  # no member maps it


def test_channels_are_decided_independently():
    golden = run(
        [
            {"source_system": "crm", "consent_email": "granted", "consent_email_at": "2024-01-01",
             "consent_post": "denied", "consent_post_at": "2020-01-01"},
            {"source_system": "app", "consent_email": "denied", "consent_email_at": "2023-01-01",
             "consent_post": "granted", "consent_post_at": "2022-01-01"},
        ]
    )  # fmt: skip
    assert (golden.value("consent_email"), golden.value("consent_post")) == ("granted", "granted")
    assert (golden.source("consent_email"), golden.source("consent_post")) == (("crm", "0"), ("app", "1"))


ROWS = [
    {"first_name": "Ann", "last_name": "Lee", "date_of_birth": "1990-01-02", "address_line1": "1 A St",
     "postal_code": "SW1A 1AA", "consent_email": "granted", "consent_email_at": "2024-01-01",
     "source_updated_at": "2024-01-01"},
    {"first_name": "Anne", "last_name": "Lee", "postal_code": "LS1 4AP", "source_updated_at": "2020-01-01"},
]  # fmt: skip


def test_pins_win_and_set_lineage():
    pins = pd.DataFrame(
        [
            {"golden_id": "g1", "field": "last_name", "value": "Leigh", "pinned_by": "ann.s",
             "pinned_at": "2024-05-01 10:00:00"},
            {"golden_id": "g1", "field": "date_of_birth", "value": "1990-02-01"},
            {"golden_id": "g1", "field": "postal_code", "value": "EC1A 1BB"},
            {"golden_id": "g1", "field": "consent_email", "value": "denied", "pinned_at": "2024-06-01"},
            {"golden_id": "g1", "field": "email", "value": None},  # a pinned blank stays blank
            {"golden_id": "gone", "field": "last_name", "value": "Nobody"},  # not in this run: ignored
        ]
    )  # fmt: skip
    golden = run([{**ROWS[0], "email": "ann@example.com"}, ROWS[1]], overrides=pins)
    assert golden.value("last_name") == "Leigh"
    assert golden.lineage("last_name") == {
        "golden_id": "g1", "field": "last_name", "source_system": STEWARD, "source_key": "ann.s", "rule": "pinned",
        "value_at": datetime(2024, 5, 1, 10),
    }  # fmt: skip
    assert golden.value("date_of_birth") == date(1990, 2, 1)  # cast to the field's type
    # a pin on a block field pins only that field: the rest of the block stays with its record
    assert (golden.value("address_line1"), golden.value("postal_code")) == ("1 A St", "EC1A 1BB")
    assert golden.rule("postal_code") == "pinned"
    assert golden.source("address_line1") == ("crm", "0")
    assert (golden.value("consent_email"), golden.value("consent_email_at")) == ("denied", datetime(2024, 6, 1))
    assert golden.rule("consent_email_at") == "pinned"
    assert golden.value("email") is None
    assert golden.lineage("email") is None
    assert golden.value("first_name") == "Ann"  # unpinned fields follow the rules
    assert golden.count == 1


@pytest.mark.parametrize(
    ("pins", "message"),
    [
        ([{"golden_id": "g1", "field": "shoe_size", "value": "9"}], "not attributes"),
        ([{"golden_id": "g1", "field": "date_of_birth", "value": "31/31/1990"}], "cannot be read as DATE"),
        ([{"golden_id": "g1", "field": "consent_sms", "value": "yes"}], "granted/denied/unknown|one of"),
        ([{"golden_id": "g1", "field": "city", "value": "A"}, {"golden_id": "g1", "field": "city", "value": "B"}],
         "pinned twice"),
    ],
)  # fmt: skip
def test_unusable_pins_fail(pins, message):
    ws = stage(ROWS)
    with pytest.raises(ValueError, match=message):
        survive(ws.con, SurvivorshipConfig(), overrides=pd.DataFrame(pins))
    written = "SELECT count(*) FROM duckdb_tables() WHERE table_name IN ('golden_values', 'golden_lineage')"
    assert ws.con.execute(written).fetchone()[0] == 0


def test_extra_attributes_survive_with_their_types():
    rows = [
        {"loyalty_tier": "gold", "points": 10, "source_updated_at": "2020-01-01"},
        {"loyalty_tier": "silver", "points": 250, "source_updated_at": "2024-01-01"},
        {"loyalty_tier": None, "points": None, "source_updated_at": "2025-01-01"},
    ]
    extras = {"loyalty_tier": "VARCHAR", "points": "BIGINT"}
    golden = run(rows, SurvivorshipConfig(fields={"loyalty_tier": ["longest"]}), extras=extras)
    assert (golden.value("loyalty_tier"), golden.value("points")) == ("silver", 250)
    assert golden.rule("loyalty_tier") == "longest"
    assert golden.rule("points") == "most_recent"  # an attribute without configured rules: most_recent
    types = dict(golden.con.execute("SELECT column_name, column_type FROM (DESCRIBE golden_values)").fetchall())
    assert types["points"] == "BIGINT"


def test_output_columns_and_types():
    golden = run([*ROWS, {"golden": "g2", "last_name": "Solo"}])
    columns = golden.con.execute("SELECT column_name, column_type FROM (DESCRIBE golden_values)").fetchall()
    expected = {"DATE": "DATE", "TIMESTAMP": "TIMESTAMP"}
    assert columns == [("golden_id", "VARCHAR")] + [
        (f.name, expected.get(f.type.value.upper(), "VARCHAR")) for f in ATTRIBUTE_FIELDS
    ] + [("record_count", "BIGINT")]
    lineage = golden.con.execute("SELECT column_name FROM (DESCRIBE golden_lineage)").fetchall()
    assert [c for (c,) in lineage] == ["golden_id", "field", "source_system", "source_key", "rule", "value_at"]
    assert golden.count == 2
    assert (golden.value("record_count"), golden.value("record_count", "g2")) == (2, 1)


@settings(max_examples=3)
@given(rows=members())
def test_every_value_has_exactly_one_lineage_row(rows):
    golden = run(rows)
    missing = golden.con.execute(
        """SELECT count(*) FROM (UNPIVOT (SELECT golden_id, COLUMNS(* EXCLUDE (golden_id, record_count))::VARCHAR
                                          FROM golden_values) ON COLUMNS(* EXCLUDE golden_id) INTO NAME field VALUE v)
           AS v ANTI JOIN golden_lineage AS l USING (golden_id, field)
           WHERE NOT (field LIKE 'consent_%' AND v = 'unknown')"""
    ).fetchone()[0]
    assert missing == 0
    dupes = golden.con.execute("SELECT count(*) - count(DISTINCT (golden_id, field)) FROM golden_lineage").fetchone()
    assert dupes[0] == 0


@settings(max_examples=2)
@given(rows=members(), seeds=st.lists(st.floats(-1, 1), min_size=2, max_size=2, unique=True))
def test_deterministic_whatever_the_row_order(rows, seeds):
    cfg = SurvivorshipConfig(fields={"address": ["most_frequent", "longest"], "first_name": ["most_frequent"]})
    results = []
    for seed in seeds:  # two row orders of the same input
        ws = stage(rows)
        ws.con.execute("SELECT setseed(?)", [seed])
        for table in ("standardized_records", "golden_members"):
            ws.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table} ORDER BY random()")
        survive(ws.con, cfg)
        results.append(
            (
                ws.con.execute("SELECT * FROM golden_values ORDER BY golden_id").fetchall(),
                ws.con.execute("SELECT * FROM golden_lineage ORDER BY golden_id, field").fetchall(),
            )
        )
    assert results[0] == results[1]


def test_members_must_be_records_once():
    ws = stage(ROWS)
    ws.con.execute("INSERT INTO golden_members VALUES ('crm:404', 'g1')")
    with pytest.raises(ValueError, match=r"not in standardized_records, e.g. \['crm:404'\]"):
        survive(ws.con, SurvivorshipConfig())
    ws = stage(ROWS)
    ws.con.execute("INSERT INTO golden_members VALUES ('crm:0', 'g2')")
    with pytest.raises(ValueError, match="listed twice"):
        survive(ws.con, SurvivorshipConfig())
    ws = stage(ROWS)
    ws.con.execute("UPDATE golden_members SET golden_id = NULL WHERE record_id = 'crm:1'")
    with pytest.raises(ValueError, match="without a record_id or golden_id"):
        survive(ws.con, SurvivorshipConfig())


def test_leaves_the_connection_as_it_found_it():
    ws = stage(ROWS)
    survive(ws.con, SurvivorshipConfig(fields={"last_name": ["most_frequent"]}))
    temps = "SELECT count(*) FROM duckdb_tables() WHERE starts_with(table_name, '_sv_')"
    assert ws.con.execute(temps).fetchone()[0] == 0
    assert ws.con.execute("SELECT current_setting('preserve_insertion_order')").fetchone()[0] is True
    with pytest.raises(duckdb.CatalogException):
        ws.con.execute("SELECT survivorship_similar('a', 'b')")


def test_rerun_replaces_the_tables():
    ws = stage(ROWS)
    assert survive(ws.con, SurvivorshipConfig()) == 1
    ws.con.execute("UPDATE golden_members SET golden_id = 'g9' WHERE record_id = 'crm:1'")
    assert survive(ws.con, SurvivorshipConfig()) == 2
    assert ws.con.execute("SELECT count(*) FROM golden_values").fetchone()[0] == 2


@pytest.mark.slow(seconds=85)  # the file's weight in the suite's order (tests/conftest.py)
def test_200k_records_in_100k_golden_ids():
    ws = Workspace(":memory:")
    ws.con.execute(
        """INSERT INTO staged_records BY NAME
           SELECT ['crm', 'web', 'app', 'billing'][1 + i % 4] AS source_system, i::VARCHAR AS source_key,
                  TIMESTAMP '2020-01-01' + to_seconds((hash(i) % 100000000)::BIGINT) AS source_updated_at,
                  ['Ann', 'ANN', 'Anne', NULL][1 + (hash(i) % 4)::INTEGER] AS first_name,
                  'Lee' || (i // 2 % 50)::VARCHAR AS last_name,
                  CASE WHEN i % 3 > 0 THEN 'p' || (i // 2)::VARCHAR || '@example.com' ELSE 'bad' END AS email,
                  CASE WHEN i % 5 > 0 THEN (i // 2 % 300)::VARCHAR || ' High ' || ['St', 'Street'][1 + i % 2] END
                      AS address_line1,
                  CASE WHEN i % 7 > 0 THEN 'SW1A ' || (i % 9)::VARCHAR || 'AA' END AS postal_code,
                  ['granted', 'denied', 'unknown'][1 + i % 3] AS consent_email,
                  TIMESTAMP '2021-01-01' + to_seconds((hash(i, 1) % 100000000)::BIGINT) AS consent_email_at
           FROM range(200000) AS r(i)"""
    )
    standardize(ws.con)
    ws.con.execute(
        """CREATE TABLE golden_members AS
           SELECT unique_id AS record_id, 'g' || (source_key::BIGINT // 2)::VARCHAR AS golden_id
           FROM standardized_records"""
    )
    assert survive(ws.con, SurvivorshipConfig(fields={"address": ["most_frequent", "most_recent"]})) == 100_000
    counts = ws.con.execute("SELECT count(*), sum(record_count), count(email) FROM golden_values").fetchone()
    assert counts == (100_000, 200_000, 100_000)  # one member of every pair has a valid email
    assert ws.con.execute("SELECT count(*) FROM golden_lineage WHERE field = 'last_name'").fetchone()[0] == 100_000


def test_golden_records_of_two_people_are_flagged_as_conflicts():
    rows = [
        {"golden": "typo", "date_of_birth": "1980-05-01"}, {"golden": "typo", "date_of_birth": "1980-05-11"},
        {"golden": "swap", "date_of_birth": "1980-05-01"}, {"golden": "swap", "date_of_birth": "1980-01-05"},
        {"golden": "two", "date_of_birth": "1980-05-01"}, {"golden": "two", "date_of_birth": "1953-08-11"},
        {"golden": "abroad", "country": "GB"}, {"golden": "abroad", "country": "US"},
        {"golden": "same", "country": "GB", "date_of_birth": "1980-05-01"}, {"golden": "same", "country": "GB"},
    ]  # fmt: skip
    golden = run(rows)
    flagged = golden.con.execute("SELECT golden_id, field FROM golden_conflicts ORDER BY ALL").fetchall()
    assert flagged == [("abroad", "country"), ("two", "date_of_birth")]  # keying slips are one person


def test_two_established_first_names_flag_a_conflict_but_one_name_written_two_ways_does_not():
    """Élisabeth and Étienne Munoz (a family matched on surname and town) are two people; a nickname, a short form,
    a middle name, a near spelling, a typo or names entered the other way round are one. Each name is held by
    three golden records (the fillers), so only the pairs' own relation decides."""
    pairs = {
        "family": ("Élisabeth", "Étienne"), "nickname": ("Bob", "Robert"), "short": ("Sam", "Samantha"),
        "middle": ("John Paul", "Paul"), "alike": ("Stephen", "Steven"), "typo": ("Etienne", "Etinne"),
    }  # fmt: skip
    rows = [{"golden": g, "first_name": n, "last_name": "Munoz"} for g, names in pairs.items() for n in names]
    rows += [{"golden": "reversed", "first_name": "Munoz", "last_name": "Jacques"},
             {"golden": "reversed", "first_name": "Jacques", "last_name": "Munoz"}]  # fmt: skip
    established = {n for g, names in pairs.items() if g != "typo" for n in names} | {"Jacques", "Munoz"}
    rows += [{"golden": f"{n}-{i}", "first_name": n, "last_name": f"Filler{i}"} for n in established for i in (1, 2, 3)]
    golden = run(rows)
    flagged = golden.con.execute("SELECT golden_id, field FROM golden_conflicts ORDER BY ALL").fetchall()
    assert flagged == [("family", "first_name")]


@pytest.mark.parametrize(("stokes_cameron", "rule"), [(1, "swapped_names"), (2, "swapped_by_population")])
def test_names_swapped_against_most_records_are_not_evidence_against_them(stokes_cameron, rule):
    """The population finds Cameron a first name and Stokes a surname. One "Stokes Cameron" beside two "Cameron
    Stokes" is a slip (`swapped_names`: write-back puts it in order); two beside one is most records saying otherwise:
    the golden record still says Cameron Stokes, but their order is not overruled in their systems
    (`swapped_by_population`, not a rule write-back corrects on)."""
    rows = [
        *({"first_name": "Stokes", "last_name": "Cameron"} for _ in range(stokes_cameron)),
        *({"first_name": "Cameron", "last_name": "Stokes"} for _ in range(3 - stokes_cameron)),
        *({"golden": f"f{i}", "first_name": "Cameron", "last_name": f"Lee{i}"} for i in range(12)),
        *({"golden": f"l{i}", "first_name": f"Ann{i}", "last_name": "Stokes"} for i in range(12)),
    ]
    golden = run(rows)
    assert (golden.value("first_name"), golden.value("last_name")) == ("Cameron", "Stokes")
    contested = golden.con.execute(
        "SELECT DISTINCT rule FROM golden_contested WHERE field IN ('first_name', 'last_name') AND record_id IN "
        "(SELECT record_id FROM golden_members WHERE golden_id = 'g1')"
    ).fetchall()
    assert contested == [(rule,)]
    assert rule == "swapped_names" or rule not in EVIDENCE_RULES


POPULATION_CASES = [case for case, (rows, _, _) in HARMONIZE_CASES.items() if any("golden" in r for r in rows)]


@pytest.mark.parametrize("case", POPULATION_CASES)
def test_one_golden_record_over_the_rests_contributions_decides_as_survivorship_over_all(case):
    """What an incremental build does (golden_record.incremental): survivorship over g1 alone, with every other
    golden id's contributions as its `base` and the swap decided over all, writes g1 as survivorship over all of
    them does (its value, lineage and contested members): the population spellings and typo counts it reads come
    from the base."""
    rows, cfg, _ = HARMONIZE_CASES[case]
    whole = run(rows, cfg)
    con = whole.con
    con.execute(f"CREATE TABLE inputs AS {inputs_sql(con, 'golden_members', 'standardized_records', [])}")
    con.execute("CREATE TABLE swapped AS SELECT record_id FROM inputs WHERE swapped")
    con.execute("CREATE TABLE part AS SELECT * FROM golden_members WHERE golden_id = 'g1'")
    con.execute("CREATE TABLE others AS SELECT * FROM golden_population WHERE golden_id <> 'g1'")
    survive(con, cfg or SurvivorshipConfig(), members="part", swapped="swapped", base="others", into=SCRATCH)
    for table, scratch in [("golden_values", SCRATCH.values), ("golden_lineage", SCRATCH.lineage),
                           ("golden_contested", SCRATCH.contested)]:  # fmt: skip
        where = (
            "WHERE golden_id = 'g1'"
            if table != "golden_contested"
            else "WHERE record_id IN (SELECT record_id FROM part)"
        )
        expected = con.execute(f"SELECT * FROM {table} {where} ORDER BY ALL").fetchall()
        assert con.execute(f"SELECT * FROM {scratch} ORDER BY ALL").fetchall() == expected, table
