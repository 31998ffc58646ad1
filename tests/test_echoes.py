"""The hub's own echoes are not evidence (hub/echoes.py), and write-back never rewrites a value that says the same.

A few people in four small SQLite systems, golden records built from hand-made clusters (so the test is about
survivorship and write-back, not about what a matcher would link): write back, pull again, and watch what the
values the hub wrote do on the next run.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from connectors import pull_source
from connectors.writeback import published_run, write_back
from golden_record.run import build, publish_build
from hub import echoes, store
from hub.config import HubConfig, load_config
from hub.workspace import Workspace
from matching.run import standardize_records

pytestmark = pytest.mark.slow(seconds=20)  # the file's weight in the suite's order (tests/conftest.py)

SOURCES = ("a", "b", "c", "d")


def _source(path: Path, rows: list[tuple]) -> None:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE people (id INTEGER PRIMARY KEY, person TEXT, first_name TEXT, last_name TEXT, email TEXT,"
        " updated_at TEXT, dob TEXT)"
    )
    con.executemany("INSERT INTO people VALUES (?, ?, ?, ?, ?, ?, ?)", [(*r, None)[:7] for r in rows])
    con.commit()
    con.close()


@dataclass
class Hub:
    dir: Path
    cfg: HubConfig
    ws: Workspace
    engine: sa.Engine

    def run(self) -> dict:
        """Pull, standardize (as evidence), cluster by the `person` column, build, publish, write back."""
        for name in SOURCES:
            pull_source(self.cfg, name, self.ws)
        standardize_records(self.ws)
        people = []
        for name in SOURCES:
            con = sqlite3.connect(self.dir / f"{name}.db")
            people += [(f"{name}:{k}", p) for k, p in con.execute("SELECT id, person FROM people")]
            con.close()
        frame = pd.DataFrame(people, columns=["record_id", "cluster_id"])
        self.ws.con.register("_people", frame)
        self.ws.con.execute("CREATE OR REPLACE TABLE clusters AS SELECT record_id, cluster_id FROM _people")
        self.ws.con.unregister("_people")
        self.ws.con.execute(
            "CREATE OR REPLACE TABLE scored_pairs (unique_id_l VARCHAR, unique_id_r VARCHAR, match_probability DOUBLE)"
        )
        build(self.ws, self.cfg, self.engine)
        publish_build(self.ws, self.cfg, self.engine)
        run_id = published_run(self.engine)
        return {name: write_back(self.ws, self.cfg, self.engine, name, run_id) for name in SOURCES}

    def golden(self, field: str) -> str | None:
        return self.ws.con.execute(f"SELECT {field} FROM golden_values").fetchall()[0][0]

    def cell(self, source: str, key: int, column: str) -> str | None:
        con = sqlite3.connect(self.dir / f"{source}.db")
        try:
            return con.execute(f"SELECT {column} FROM people WHERE id = ?", [key]).fetchone()[0]
        finally:
            con.close()

    def edit(self, source: str, key: int, column: str, value: str, at: str) -> None:
        con = sqlite3.connect(self.dir / f"{source}.db")
        con.execute(f"UPDATE people SET {column} = ?, updated_at = ? WHERE id = ?", [value, at, key])
        con.commit()
        con.close()


def make_hub(tmp_path: Path, rows: dict[str, list[tuple]], read_only: tuple[str, ...] = ()) -> Hub:
    block = {
        "kind": "sql",
        "table": "people",
        "primary_key": "id",
        "updated_at": "updated_at",
        "fields": {"first_name": "first_name", "last_name": "last_name", "email": "email", "date_of_birth": "dob"},
        "accepts": ["first_name", "last_name", "email"],
    }
    for name in SOURCES:
        _source(tmp_path / f"{name}.db", rows.get(name, []))
    config = {"sources": {name: {**block, "url": f"sqlite:///{name}.db"} for name in SOURCES}}
    for name in read_only:  # a source the hub only reads: nothing accepted back
        config["sources"][name]["accepts"] = []
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(config))
    cfg = load_config(tmp_path / "hub.yaml")
    return Hub(tmp_path, cfg, Workspace.for_config(cfg), store.open_store(cfg.serving_store))


@pytest.fixture
def close():
    hubs: list[Hub] = []
    yield hubs.append
    for hub in hubs:
        hub.ws.close()
        hub.engine.dispose()


def test_a_value_the_hub_wrote_does_not_vote_so_later_evidence_can_correct_it(tmp_path, close):
    hub = make_hub(
        tmp_path,
        {
            "a": [(1, "p", "Ann", "Jonson", "ann@example.com", "2024-01-01")],
            "b": [(1, "p", "Ann", "Johnson", None, "2020-01-01")],
            "c": [(1, "p", "Ann", None, None, "2021-01-01")],
        },
    )
    close(hub)
    hub.run()  # one record each: the newest spelling wins, and fills c's blank
    assert hub.golden("last_name") == "Jonson"
    assert hub.cell("c", 1, "last_name") == "Jonson"
    assert hub.cell("b", 1, "last_name") == "Johnson"  # it lost only on recency: no evidence it is wrong

    second = hub.run()  # c's "Jonson" is the hub's own echo: still one vote each, nothing new to write
    assert hub.golden("last_name") == "Jonson"
    assert sum(r.values_changed for r in second.values()) == 0

    con = sqlite3.connect(tmp_path / "d.db")  # a fourth system brings one more record of "Johnson"
    con.execute("INSERT INTO people VALUES (1, 'p', 'Ann', 'Johnson', NULL, '2019-01-01', NULL)")
    con.commit()
    con.close()
    hub.run()
    # Two records against one: had the echo in c voted, "Jonson" would still tie and stay locked in.
    assert hub.golden("last_name") == "Johnson"
    assert hub.cell("c", 1, "last_name") == "Johnson"  # the hub replaces its own earlier value
    assert hub.cell("a", 1, "last_name") == "Johnson"  # a's own value now lost on votes: corrected


def test_evidence_reads_an_echo_as_the_value_it_overwrote_until_the_source_changes_it(tmp_path, close):
    hub = make_hub(
        tmp_path,
        {
            "a": [(1, "p", "Ann", "Lee", "ann@example.com", "2024-01-01")],
            "b": [(1, "p", "Ann", None, None, "2020-01-01")],
        },
    )
    close(hub)
    hub.run()
    assert hub.cell("b", 1, "last_name") == "Lee" and hub.cell("b", 1, "email") == "ann@example.com"
    for name in SOURCES:
        pull_source(hub.cfg, name, hub.ws)

    def evidence() -> tuple:
        view = echoes.create_evidence_view(hub.ws.con, hub.ws.fields)
        return hub.ws.con.execute(
            f"SELECT last_name, email, source_updated_at FROM {view} WHERE source_system = 'b'"
        ).fetchone()

    assert evidence()[:2] == (None, None)  # both were blanks the hub filled: no evidence
    hub.edit("b", 1, "last_name", "Lee-Smith", "2025-06-01 00:00:00")  # the person changed it there
    pull_source(hub.cfg, "b", hub.ws)
    last, email, at = evidence()
    assert (last, email) == ("Lee-Smith", None)  # an edit is evidence; the untouched echo is still not
    assert str(at).startswith("2025-06-01")


def test_a_source_that_stamps_its_rows_on_every_write_does_not_make_the_hubs_writes_the_newest(tmp_path, close):
    hub = make_hub(
        tmp_path,
        {
            "a": [(1, "p", "Ann", "Lee", "new@example.com", "2024-01-01")],
            "b": [(1, "p", "Ann", "Lee", None, "2020-01-01")],
        },
    )
    close(hub)
    con = sqlite3.connect(tmp_path / "b.db")  # what an ORM or a trigger does on every UPDATE
    con.execute(
        "CREATE TRIGGER stamp AFTER UPDATE OF email ON people BEGIN "
        "UPDATE people SET updated_at = '2026-01-01 00:00:00' WHERE id = NEW.id; END"
    )
    con.commit()
    con.close()
    hub.run()
    assert hub.cell("b", 1, "email") == "new@example.com"
    assert hub.cell("b", 1, "updated_at") == "2026-01-01 00:00:00"
    hub.run()
    # b's record is newer on paper only: its evidence time is still 2020, so a's email stays the newest news
    at = hub.ws.con.execute("SELECT source_updated_at FROM standardized_records WHERE unique_id = 'b:1'").fetchone()[0]
    assert str(at).startswith("2020-01-01")


def test_case_and_format_differences_are_never_written(tmp_path, close):
    hub = make_hub(
        tmp_path,
        {
            "a": [(1, "p", "ANN", "SMITH", "Ann.Smith@Example.com", "2024-01-01")],
            "b": [(1, "p", "ann", "smith ", "ann.smith@example.com", "2020-01-01")],
            "c": [(1, "p", "Ann", "Smith", " ANN.SMITH@EXAMPLE.COM", "2022-01-01")],
        },
    )
    close(hub)
    before = {s: sqlite3.connect(tmp_path / f"{s}.db").execute("SELECT * FROM people").fetchall() for s in "abc"}
    results = hub.run()
    assert (hub.golden("first_name"), hub.golden("last_name"), hub.golden("email")) == (
        "Ann",
        "Smith",
        "ann.smith@example.com",
    )
    assert sum(r.values_changed for r in results.values()) == 0
    after = {s: sqlite3.connect(tmp_path / f"{s}.db").execute("SELECT * FROM people").fetchall() for s in "abc"}
    assert after == before


def test_a_golden_record_of_two_people_gets_nothing_but_its_id(tmp_path, close):
    hub = make_hub(
        tmp_path,
        {
            "a": [(1, "p", "Susan", "Smith", "susan@example.com", "2024-01-01", "1984-02-29")],
            "b": [(1, "p", "Susan", None, None, "2020-01-01", "1953-08-11")],
        },
    )
    close(hub)
    results = hub.run()
    assert results["b"].conflicted == 1 and results["a"].conflicted == 1
    assert results["b"].values_changed == 0
    assert (hub.cell("b", 1, "last_name"), hub.cell("b", 1, "email")) == (None, None)  # not filled from "a"


def test_a_source_that_accepts_nothing_is_left_alone(tmp_path, close):
    hub = make_hub(
        tmp_path,
        {"a": [(1, "p", "Ann", "Lee", "ann@example.com", "2024-01-01")], "b": [(1, "p", "Ann", None, None, "2020")]},
        read_only=("b",),
    )
    close(hub)
    results = hub.run()
    assert results["b"].planned == 0 and hub.cell("b", 1, "last_name") is None
