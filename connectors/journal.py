"""The write-back journal: the audit can never miss a change a write-back made in a source.

A batch is recorded in the serving store (`writeback_journal`, state 'pending') inside the push, after its UPDATEs
ran and before the source commits: one journal row per batch holding, per source row it updates, what reading it
back needs of its plan row, and the old -> new cells it writes (two Parquet files, hub.store.pack). After the commit
its audit rows are written and the batch marked 'audited' in one store transaction; once the workspace holds what
the source's batches wrote (read back into staged_records, echoes, writeback_state) they are deleted.

A process killed between those steps leaves the batch open, and the next write-back of that source reconciles it
before it plans (connectors/writeback.py): a 'pending' batch is read back from the source, and since a batch is one
source transaction it was committed whole or not at all: if any of its cells holds the value it was to write, the
batch committed and its audit rows are written now; if none does, it never reached the source and is dropped (the
normal plan writes those rows again). An 'audited' batch then has its rows read back into the workspace, so the
staging never keeps values the source no longer has. The golden-id cells (a column or the hub's side table) are
journaled and checked the same way.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from connectors.base import AUDIT_COLUMNS, GOLDEN_ID, Connector, PushReport, among
from connectors.writeback_plan import EVIDENCE_AT, GID, HASH, ORIGINAL
from hub import faults, store
from hub.config import HubConfig
from hub.model import FieldType


def record(engine: sa.Engine, batch_id: str, run_id: str, source: str, batch: pd.DataFrame, report: PushReport) -> bool:
    """Journal the rows of a batch the push is about to commit (those it updated); False when it updates none."""
    updated = report.rows.loc[report.rows["status"] == "updated", "source_key"]
    if updated.empty:
        return False
    # What reading the rows back needs, and no more: a field's own value before only where a value is sent.
    rows = batch[among(pd.Index(batch["source_key"].astype("string")), updated.astype("string"))].copy()
    for f in (c.removeprefix(ORIGINAL) for c in batch.columns if c.startswith(ORIGINAL)):
        rows[f"{ORIGINAL}{f}"] = rows[f"{ORIGINAL}{f}"].where(rows[f].notna())
    store.journal_open(engine, batch_id, run_id, source, rows, report.changes[AUDIT_COLUMNS].astype("string"))
    faults.point("writeback:before-commit")
    return True


def audit_of(entries: pd.DataFrame) -> pd.DataFrame:
    """The audit cells (AUDIT_COLUMNS) journaled for these entries (batches)."""
    cells = [store.unpack(data) for data in entries["changes"]]
    if not cells:
        return pd.DataFrame({c: pd.Series(dtype="string") for c in AUDIT_COLUMNS})
    return pd.concat(cells, ignore_index=True)[AUDIT_COLUMNS].astype("string")


def plan_of(entries: pd.DataFrame, cfg: HubConfig, accepted: list[str]) -> pd.DataFrame:
    """The plan rows journaled for these entries (batches), with the columns (`accepted`: the source's accepted
    fields) and dtypes write-back's bookkeeping expects; a column not journaled is missing."""
    rows = pd.concat([store.unpack(data) for data in entries["planned"]], ignore_index=True)
    needed = ["source_key", "expected_version", *accepted, HASH, GID, *(ORIGINAL + f for f in accepted), EVIDENCE_AT]
    rows = rows.reindex(columns=list(dict.fromkeys([*needed, *rows.columns])))
    for c in rows.columns:
        name = c.removeprefix(ORIGINAL)
        timed = c == EVIDENCE_AT or cfg.field_type(name) in (FieldType.DATE, FieldType.TIMESTAMP)
        rows[c] = pd.to_datetime(rows[c], format="ISO8601") if timed else rows[c].astype("string")
    return rows


def committed(connector: Connector, entries: pd.DataFrame) -> set[str]:
    """The batches (batch_id) of these 'pending' entries that the source committed: any of their cells holds the
    value it was to write (a batch is one source transaction: all of it committed, or none)."""
    batches = zip(entries["batch_id"], entries["changes"], strict=True)
    cells = pd.concat([store.unpack(data).assign(batch_id=b) for b, data in batches], ignore_index=True)
    side = connector.src.golden_id.table if connector.src.golden_id else None
    in_side = cells["column"] == f"{side}.golden_id" if side else pd.Series(False, index=cells.index)
    keys = cells["source_key"].drop_duplicates().tolist()
    with connector.write_session(dry_run=True) as session:
        current = session.fetch(keys)
        current = current[~current["source_key"].duplicated(keep=False)].set_index("source_key")
        held = pd.Series(False, index=cells.index)
        for column, part in cells[~in_side].groupby("column"):
            if column in current.columns:
                now = current[column].reindex(part["source_key"]).astype("string").reset_index(drop=True)
                held[part.index] = _same(now, part["new_value"].reset_index(drop=True)).to_numpy()
        if in_side.any():
            ids = cells[in_side].rename(columns={"new_value": GOLDEN_ID})[["source_key", GOLDEN_ID]]
            differ = session.write_golden_ids(ids.reset_index(drop=True))  # dry run: the ids not held
            held[in_side] = ~cells.loc[in_side, "source_key"].isin(differ["source_key"])
    return set(cells.loc[held, "batch_id"])


def _same(now: pd.Series, written: pd.Series) -> pd.Series:
    """Whether a value read back is the one written: same text, or the same time or number in another form
    (a driver may read '2024-01-02' back as a date, '1' as an integer)."""
    same = (now == written).fillna(False)

    def when(s: pd.Series) -> pd.Series:
        return pd.to_datetime(s, errors="coerce", format="mixed")

    times = when(now) == when(written)
    numbers = pd.to_numeric(now, errors="coerce") == pd.to_numeric(written, errors="coerce")
    return same | times.fillna(False) | numbers.fillna(False)
