"""The write-back journal against real SQLite, PostgreSQL and MariaDB sources: a batch journaled before its
source transaction commits is told apart, on reading the rows back, from one the source rolled back; for
column values and for golden ids in a column or in the hub's side table."""

from __future__ import annotations

import pandas as pd
import pytest

from connectors import journal, open_connector, pull_source
from hub import store
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
        assert set(rolled_back["state"]) == {"pending"} and len(rolled_back) == 2
        assert journal.committed(connector, rolled_back) == set()  # nothing of it in the source
        store.journal_close(engine, batch_id)

        again = f"{batch_id}-again"
        record = lambda r, b=again, c=changes: journal.record(engine, b, "run-1", "crm", c, r)  # noqa: E731
        connector.push(changes, before_commit=record)
        assert journal.committed(connector, entries(again)) == {again}
        audit = journal.audit_of(entries(again)).sort_values("source_key")
        assert audit["new_value"].tolist() == changes[changes.columns[-1]].tolist()
    engine.dispose()
