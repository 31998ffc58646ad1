"""The write-back journal against real SQLite, PostgreSQL and MariaDB sources: a batch journaled before its
source transaction commits is told apart, on reading the rows back, from one the source rolled back; for
column values and for golden ids in a column or in the hub's side table."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import sqlalchemy as sa
from alembic import command

from connectors import journal, open_connector, pull_source
from hub import store
from hub.store import subjects as subject_rows
from hub.workspace import Workspace
from tests import source_fixture as fx
from tests.test_sql_connector import staged_changes


class Killed(Exception):
    """Stands for the process dying after the journal was written and before the source committed."""


@pytest.mark.parametrize("target", [{"column": "golden_ref"}, {"table": "hub_golden_ids"}])
def test_a_committed_batch_is_told_from_one_the_source_rolled_back(source_url, tmp_path, target):
    fx.create_source(source_url).dispose()
    cfg = fx.hub_config(source_url, tmp_path, golden_id=target)
    ws = Workspace.for_config(cfg)
    pull_source(cfg, "crm", ws)
    values = staged_changes(ws, source_key=["1", "2"], email=["one@example.com", "two@example.com"])
    ids = staged_changes(ws, source_key=["1", "2"], golden_id=["G-1", "G-2"])
    ws.close()
    engine = store.open_store(f"sqlite:///{tmp_path / 'serving.db'}")
    connector = open_connector("crm", cfg)

    def entries(batch_id: str) -> pd.DataFrame:
        with engine.connect() as conn:
            found = store.journal_entries(conn, "crm")
        return found[found["batch_id"] == batch_id]

    for batch_id, changes in (("values", values), ("ids", ids)):

        def die(report, batch_id=batch_id, changes=changes) -> None:
            journal.record(engine, batch_id, "run-1", "crm", changes, report)
            raise Killed

        with pytest.raises(Killed):
            connector.push(changes, before_commit=die)
        rolled_back = entries(batch_id)
        assert rolled_back["state"].tolist() == ["pending"] and rolled_back["rows"].tolist() == [2]  # one batch
        assert journal.committed(connector, rolled_back) == set()  # nothing of it in the source
        store.journal_close(engine, batch_id)

        again = f"{batch_id}-again"
        record = lambda r, b=again, c=changes: journal.record(engine, b, "run-1", "crm", c, r)  # noqa: E731
        connector.push(changes, before_commit=record)
        assert journal.committed(connector, entries(again)) == {again}
        audit = journal.audit_of(entries(again)).sort_values("source_key")
        assert audit["new_value"].tolist() == changes[changes.columns[-1]].tolist()
    engine.dispose()


def _plan_rows(*keys: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_key": list(keys),
            "expected_version": [f"v{k}" for k in keys],
            "email": [f"{k}@example.com" for k in keys],
            "_o_email": [None] * len(keys),
            "_evidence_at": pd.to_datetime(["2024-01-02 03:04:05.123456"] * len(keys)),
        }
    ).astype({"source_key": "string", "expected_version": "string", "email": "string", "_o_email": "string"})


def _cells(*keys: str) -> pd.DataFrame:
    frame = pd.DataFrame(
        {"source_key": list(keys), "column": "email", "fields": "email", "old_value": None,
         "new_value": [f"{k}@example.com" for k in keys]}
    )  # fmt: skip
    return frame.astype("string")


def test_a_batch_is_one_journal_row_holding_its_plan_rows_and_cells_as_written(store_engine):
    store.journal_open(store_engine, "b1", "run-1", "crm", _plan_rows("1", "2"), _cells("1", "2"))
    with store_engine.connect() as conn:
        [entry] = store.journal_entries(conn, "crm").to_dict("records")
        assert store.journal_entries(conn, "web").empty
    assert (entry["batch_id"], entry["run_id"], entry["state"], entry["rows"]) == ("b1", "run-1", "pending", 2)
    pd.testing.assert_frame_equal(store.unpack(entry["planned"]), _plan_rows("1", "2"))
    pd.testing.assert_frame_equal(journal.audit_of(pd.DataFrame([entry])), _cells("1", "2"))


def test_erasing_a_person_cuts_their_rows_out_of_the_open_batches(store_engine):
    store.journal_open(store_engine, "b1", "run-1", "crm", _plan_rows("1", "2"), _cells("1", "2"))
    store.journal_open(store_engine, "b2", "run-1", "crm", _plan_rows("1"), _cells("1"))
    store.journal_open(store_engine, "b3", "run-1", "web", _plan_rows("1"), _cells("1"))
    with store.write_transaction(store_engine) as conn:
        taken = store.journal_forget(conn, pd.DataFrame({"source_system": ["crm"], "source_key": ["1"]}))
    assert taken == 2
    with store_engine.connect() as conn:
        crm, web = store.journal_entries(conn, "crm"), store.journal_entries(conn, "web")
    assert crm["batch_id"].tolist() == ["b1"] and crm["rows"].tolist() == [1]  # b2 held only them: gone
    assert store.unpack(crm["planned"].iloc[0])["source_key"].tolist() == ["2"]
    assert journal.audit_of(crm)["source_key"].tolist() == ["2"]
    assert web["rows"].tolist() == [1]  # another system's record 1 is another person's


def test_a_subjects_erasure_takes_their_rows_out_of_an_open_batch(store_engine):
    store.journal_open(store_engine, "b1", "run-1", "crm", _plan_rows("1", "2"), _cells("1", "2"))
    with store.write_transaction(store_engine) as conn:
        counts = pd.DataFrame(columns=["tf_column", "value", "records"])
        done = subject_rows.erase_rows(conn, [], [store.record_id("crm", "2")], {"crm:2": "h"}, counts)
    assert done["writeback_journal"] == 1
    with store_engine.connect() as conn:
        [planned] = store.journal_entries(conn, "crm")["planned"]
    assert store.unpack(planned)["source_key"].tolist() == ["1"]


def test_migration_0016_turns_the_older_journal_rows_into_batches_and_back(store_engine):
    cfg = store.alembic_config()
    with store.write_transaction(store_engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
    names = ("batch_id", "run_id", "source_system", "source_key", "state", "planned", "changes", "created_at")
    old = sa.table("writeback_journal", *(sa.column(c) for c in names))
    at = pd.Timestamp("2026-12-07 10:00").to_pydatetime()
    rows = [
        {"batch_id": "b1", "run_id": "run-1", "source_system": "crm", "source_key": k, "state": "audited",
         "planned": json.dumps({"source_key": k, "expected_version": f"v{k}", "email": f"{k}@example.com",
                                "_evidence_at": "2024-01-02T03:04:05.123456"}),
         "changes": json.dumps([["email", "email", None, f"{k}@example.com"]]), "created_at": at}
        for k in ("1", "2")
    ]  # fmt: skip
    with store.write_transaction(store_engine) as conn:
        conn.execute(old.insert(), rows)
    store.upgrade(store_engine)
    with store_engine.connect() as conn:
        [entry] = store.journal_entries(conn, "crm").to_dict("records")
    assert (entry["batch_id"], entry["state"], entry["rows"]) == ("b1", "audited", 2)
    pd.testing.assert_frame_equal(journal.audit_of(pd.DataFrame([entry])), _cells("1", "2"))
    planned = store.unpack(entry["planned"])
    assert planned["source_key"].tolist() == ["1", "2"] and planned["email"].tolist() == ["1@example.com",
                                                                                           "2@example.com"]  # fmt: skip
    with store.write_transaction(store_engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0015")
        back = conn.execute(sa.select(old).order_by(old.c.source_key)).mappings().all()
    assert [(r["source_key"], r["state"], json.loads(r["changes"])) for r in back] == [
        (r["source_key"], r["state"], json.loads(r["changes"])) for r in rows
    ]
    assert [json.loads(r["planned"])["email"] for r in back] == ["1@example.com", "2@example.com"]
    store.upgrade(store_engine)
