"""The write-back audit (append-only: one row per source column a write-back changed, old -> new) and the
write-back journal (a batch recorded before its source commits, so a crash leaves a record of it)."""

from __future__ import annotations

import io

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
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


JOURNAL_COLUMNS = ["batch_id", "run_id", "source_system", "state", "rows", "planned", "changes"]


def pack(frame: pd.DataFrame) -> bytes:
    """A frame as the journal keeps it: one Parquet file, dtypes kept. A JSON document per row (migration 0007's
    journal) cost ~0.33 s a batch of 20,000 rows to build and write at the 1M demo's write-back."""
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False), out)
    return out.getvalue()


def unpack(data: bytes) -> pd.DataFrame:
    """The frame `pack` kept."""
    frame: pd.DataFrame = pq.read_table(io.BytesIO(data)).to_pandas()
    return frame


def journal_open(engine: sa.Engine, batch_id: str, run_id: str, source: str, planned: pd.DataFrame,
                 changes: pd.DataFrame) -> None:  # fmt: skip
    """Record a write-back batch as 'pending' before its source transaction commits: `planned`, the plan rows of the
    source rows it updates (what reading them back needs), and `changes`, its audit cells (AUDIT_COLUMNS), as one
    journal row. Committed here, so a kill at any later point leaves the record of what the source may now hold
    (connectors/journal.py)."""
    row = {"batch_id": batch_id, "run_id": run_id, "source_system": source, "state": "pending", "rows": len(planned),
           "planned": pack(planned), "changes": pack(changes), "created_at": utc_now()}  # fmt: skip
    with write_transaction(engine) as conn:
        conn.execute(writeback_journal.insert(), [row])


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
    """The open batches of `source` (JOURNAL_COLUMNS; planned and changes as `pack` keeps them), oldest first."""
    j = writeback_journal.c
    stmt = sa.select(*[j[c] for c in JOURNAL_COLUMNS]).where(j.source_system == source)
    rows = conn.execute(stmt.order_by(j.created_at, j.batch_id)).all()
    frame = pd.DataFrame(rows, columns=JOURNAL_COLUMNS, dtype=object)
    for c in ("batch_id", "run_id", "source_system", "state"):
        frame[c] = frame[c].astype("string")
    frame["rows"] = frame["rows"].astype("int64")
    return frame


def journal_forget(conn: sa.Connection, records: pd.DataFrame) -> int:
    """Take the source records `records` (source_system, source_key) out of every open batch (a data subject's
    erasure): their plan rows and audit cells are cut from the batch, and a batch left with no row is deleted.
    Returns the plan rows taken out. Open batches are few (only a killed write-back leaves one behind)."""
    j, taken = writeback_journal.c, 0
    systems = sorted(set(records["source_system"]))
    if not systems:
        return 0
    open_batches = conn.execute(
        sa.select(j.batch_id, j.source_system, j.planned, j.changes).where(j.source_system.in_(systems))
    ).all()
    for batch_id, system, planned_data, changes_data in open_batches:
        keys = set(records.loc[records["source_system"] == system, "source_key"].astype(str))
        planned, changes = unpack(planned_data), unpack(changes_data)
        kept = ~planned["source_key"].astype(str).isin(keys)
        if kept.all():
            continue
        taken += int((~kept).sum())
        where = writeback_journal.c.batch_id == batch_id
        if not kept.any():
            conn.execute(writeback_journal.delete().where(where))
            continue
        changes = changes[~changes["source_key"].astype(str).isin(keys)]
        conn.execute(
            writeback_journal.update()
            .where(where)
            .values(rows=int(kept.sum()), planned=pack(planned[kept]), changes=pack(changes))
        )
    return taken


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
