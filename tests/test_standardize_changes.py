"""Which records an incremental standardization redoes (matching/changes.py): those whose evidence changed, by their
staged row or by their echo, and no other (not a record whose only change is a value the hub wrote and read back); a
repeated or missing record id stops it, named, before anything is replaced."""

from __future__ import annotations

import pandas as pd
import pytest

from hub import echoes
from hub.workspace import Workspace
from matching.run import standardize_records

PEOPLE = pd.DataFrame(
    {
        "source_system": ["crm", "crm", "web"],
        "source_key": ["1", "2", "7"],
        "first_name": ["Bob", "Alice", "Robert"],
        "last_name": ["Smith", "Jones", "Smith"],
        "email": ["bob@example.com", "alice@example.com", "bob@example.com"],
        "source_version": ["v1", "v1", "v1"],
    }
)


@pytest.fixture
def ws():
    ws = Workspace(":memory:")
    ws.con.register("_people", PEOPLE)
    ws.con.execute("INSERT INTO staged_records BY NAME SELECT * FROM _people")
    ws.con.unregister("_people")
    assert standardize_records(ws).full
    yield ws
    ws.close()


def first_names(ws: Workspace) -> dict[str, str]:
    return dict(ws.con.execute("SELECT unique_id, first_name FROM standardized_records").fetchall())


def test_an_unchanged_workspace_redoes_nothing(ws):
    assert standardize_records(ws).redone == 0


def test_a_record_whose_echo_alone_changed_is_redone_with_the_value_the_echo_overwrote(ws):
    """Write-back wrote "Bob" over "Robert" (the source row itself is as the pull left it): the evidence is "Robert"."""
    echo = {"source_system": "crm", "source_key": "1", "written_version": "v1", "evidence_at": None}
    echoes.record(
        ws.con, ws.fields, pd.DataFrame([echo | {"first_name__written": "Bob", "first_name__original": "Robert"}])
    )
    done = standardize_records(ws)
    assert (done.redone, done.full) == (1, False)
    assert first_names(ws) == {"crm:1": "Robert", "crm:2": "Alice", "web:7": "Robert"}
    assert standardize_records(ws).redone == 0


def test_a_value_the_hub_wrote_and_read_back_leaves_the_record_as_it_was(ws):
    """After a full run's write-back most records hold values the hub wrote: standardizing them all again on the next
    run (their staged rows and echoes both changed) would cost a whole standardization and scoring."""
    ws.con.execute("UPDATE staged_records SET first_name = 'Robert' WHERE source_key = '1'")
    echo = {"source_system": "crm", "source_key": "1", "written_version": "v1", "evidence_at": None}
    echoes.record(
        ws.con, ws.fields, pd.DataFrame([echo | {"first_name__written": "Robert", "first_name__original": "Bob"}])
    )
    assert standardize_records(ws).redone == 0
    assert first_names(ws)["crm:1"] == "Bob"


def test_a_changed_staged_row_is_redone(ws):
    ws.con.execute("UPDATE staged_records SET first_name = 'Alicia' WHERE source_key = '2'")
    assert standardize_records(ws).redone == 1
    assert first_names(ws)["crm:2"] == "Alicia"


@pytest.mark.parametrize(
    "bad, named",
    [
        ("INSERT INTO staged_records BY NAME SELECT * REPLACE ('Eve' AS first_name) FROM staged_records "
         "WHERE source_key = '2'", "crm:2 (x2)"),
        ("UPDATE staged_records SET source_key = NULL WHERE source_key = '7'", "must be present and unique"),
    ],
)  # fmt: skip
def test_a_repeated_or_missing_record_id_stops_the_run_named_and_replaces_nothing(ws, bad, named):
    before = first_names(ws)
    ws.con.execute(bad)
    with pytest.raises(ValueError, match=named.replace("(", r"\(").replace(")", r"\)")):
        standardize_records(ws)
    assert first_names(ws) == before
