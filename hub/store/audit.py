"""The write-back audit (append-only: one row per source column a write-back changed, old -> new) and the
write-back journal (a batch recorded before its source commits, so a crash leaves a record of it)."""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from hub.store.bulk import insert_frame
from hub.store.clock import utc_now
from hub.store.engine import write_transaction
from hub.store.schema import writeback_audit_table, writeback_journal

WRITEBACK_AUDIT_COLUMNS = ["source_key", "column", "fields", "old_value", "new_value"]


def record_writeback(engine: sa.Engine, run_id: str, source: str, audit: pd.DataFrame) -> int:
    """Append a write-back's old -> new audit (source_key, column, fields, old_value, new_value, as
    PushReport.changes gives it) for `source` under `run_id`, in one transaction; returns the rows written."""
    if audit.empty:
        return 0
    frame = _audit_frame(run_id, source, audit)
    with write_transaction(engine) as conn:
        insert_frame(conn, writeback_audit_table, frame)
    return len(frame)


def _audit_frame(run_id: str, source: str, audit: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in WRITEBACK_AUDIT_COLUMNS if c not in audit.columns]
    if missing:
        raise ValueError(f"write-back audit: missing columns {missing}")
    frame = audit[WRITEBACK_AUDIT_COLUMNS].astype("string").reset_index(drop=True)
    if frame["source_key"].isna().any() or frame["column"].isna().any():
        raise ValueError("write-back audit: source_key and column are required on every row")
    frame.insert(0, "source_system", source)
    frame.insert(0, "run_id", run_id)
    frame["written_at"] = pd.Timestamp(utc_now())
    return frame


JOURNAL_COLUMNS = ["batch_id", "run_id", "source_system", "source_key", "state", "planned", "changes"]


def journal_open(engine: sa.Engine, entries: pd.DataFrame) -> None:
    """Record a write-back batch as 'pending' before its source transaction commits (entries: batch_id,
    run_id, source_system, source_key, planned, changes): committed here, so a kill at any later point
    leaves the record of what the source may now hold (connectors/journal.py)."""
    if entries.empty:
        return
    frame = entries[[c for c in JOURNAL_COLUMNS if c != "state"]].astype("string").reset_index(drop=True)
    frame["state"] = "pending"
    frame["created_at"] = pd.Timestamp(utc_now())
    with write_transaction(engine) as conn:
        insert_frame(conn, writeback_journal, frame)


def journal_audited(engine: sa.Engine, batch_id: str, run_id: str, source: str, audit: pd.DataFrame) -> int:
    """The source committed the batch: its audit rows and the journal's 'audited' state, in one transaction,
    so the audit is written exactly once whether this runs after the push or in a later reconciliation."""
    frame = _audit_frame(run_id, source, audit) if len(audit) else None
    with write_transaction(engine) as conn:
        if frame is not None:
            insert_frame(conn, writeback_audit_table, frame)
        j = writeback_journal.c
        conn.execute(writeback_journal.update().where(j.batch_id == batch_id).values(state="audited"))
    return 0 if frame is None else len(frame)


def journal_close(engine: sa.Engine, *batch_ids: str) -> None:
    """The batches are done (the workspace holds what they wrote) or never reached the source: forget them."""
    with write_transaction(engine) as conn:
        conn.execute(writeback_journal.delete().where(writeback_journal.c.batch_id.in_(batch_ids)))


def journal_entries(conn: sa.Connection, source: str) -> pd.DataFrame:
    """The open journal rows of `source` (JOURNAL_COLUMNS), oldest batch first."""
    j = writeback_journal.c
    stmt = sa.select(*[j[c] for c in JOURNAL_COLUMNS]).where(j.source_system == source)
    frame = pd.DataFrame(conn.execute(stmt.order_by(j.created_at, j.batch_id)).all(), columns=JOURNAL_COLUMNS)
    return frame.astype("string")


def writeback_audit(conn: sa.Connection, run_id: str | None = None, source: str | None = None) -> pd.DataFrame:
    """Write-back audit rows, optionally of one run and/or one source, oldest first."""
    w = writeback_audit_table.c
    stmt = sa.select(writeback_audit_table)
    if run_id is not None:
        stmt = stmt.where(w.run_id == run_id)
    if source is not None:
        stmt = stmt.where(w.source_system == source)
    stmt = stmt.order_by(w.written_at, w.source_system, w.source_key, w.column)
    names = [c.name for c in writeback_audit_table.c]
    frame = pd.DataFrame(conn.execute(stmt).all(), columns=names)
    for c in names:
        frame[c] = frame[c].astype("datetime64[us]") if c == "written_at" else frame[c].astype("string")
    return frame
