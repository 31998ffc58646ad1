"""The write-back journal keeps a row per batch instead of a row per source row: the batch's plan rows and audit
cells as two Parquet files. 0007's row per source row held a JSON document of each; at 847,251 rows written back
(the 1M demo's first write-back) building, writing and deleting them took 15.1 + 3.5 s of the four write-back
steps' 137 s. Open batches of the older form (a killed write-back's) are converted, so the next write-back
reconciles them as before.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CELLS = ["source_key", "column", "fields", "old_value", "new_value"]


def _pack(frame: pd.DataFrame) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False), out)
    return out.getvalue()


def _unpack(data: bytes) -> pd.DataFrame:
    return pq.read_table(io.BytesIO(data)).to_pandas()


def _table(old: bool) -> sa.Table:
    """The journal table of 0007 (`old`: a row per source row, JSON) or of this revision (a row per batch)."""
    per_row = [sa.Column("source_key", sa.String(255), nullable=False)] if old else []
    kept = (
        [sa.Column("planned", sa.Text(), nullable=False), sa.Column("changes", sa.Text(), nullable=False)]
        if old
        else [sa.Column("rows", sa.Integer(), nullable=False), sa.Column("planned", sa.LargeBinary(), nullable=False),
              sa.Column("changes", sa.LargeBinary(), nullable=False)]
    )  # fmt: skip
    return sa.Table(
        "writeback_journal",
        sa.MetaData(),
        sa.Column("batch_id", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("source_system", sa.String(64), nullable=False),
        *per_row,
        sa.Column("state", sa.String(16), nullable=False),
        *kept,
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", *(c.name for c in per_row), name="pk_writeback_journal"),
        sa.Index("ix_writeback_journal_source_system", "source_system"),
    )


def _replace(old: bool) -> sa.Table:
    """Drop the journal table and create it in the other form (`old`: 0007's); returns the new one."""
    op.drop_index("ix_writeback_journal_source_system", table_name="writeback_journal")
    op.drop_table("writeback_journal")
    table = _table(old)
    table.create(op.get_bind())
    return table


def upgrade() -> None:
    conn = op.get_bind()
    old = pd.DataFrame(conn.execute(sa.select(_table(old=True))).mappings().all())
    table = _replace(old=False)
    batches = []
    for batch_id, part in old.groupby("batch_id", sort=False) if len(old) else []:
        planned = pd.DataFrame([json.loads(p) for p in part["planned"]])
        cells = [[k, *c] for k, text in zip(part["source_key"], part["changes"], strict=True) for c in json.loads(text)]
        changes = pd.DataFrame(cells, columns=CELLS).astype("string")
        first = part.iloc[0]
        batches.append({"batch_id": batch_id, "run_id": first["run_id"], "source_system": first["source_system"],
                        "state": first["state"], "rows": len(part), "planned": _pack(planned),
                        "changes": _pack(changes), "created_at": first["created_at"]})  # fmt: skip
    if batches:
        conn.execute(sa.insert(table), batches)


def downgrade() -> None:
    conn = op.get_bind()
    batches = conn.execute(sa.select(_table(old=False))).mappings().all()
    table = _replace(old=True)
    rows = []
    for b in batches:
        planned, changes = _unpack(b["planned"]), _unpack(b["changes"]).astype(object)
        changes = changes.where(changes.notna(), None)
        for record in json.loads(planned.to_json(orient="records", date_format="iso")):
            key = str(record["source_key"])
            cells = changes[changes["source_key"].astype(str) == key][CELLS[1:]].values.tolist()
            rows.append({"batch_id": b["batch_id"], "run_id": b["run_id"], "source_system": b["source_system"],
                         "source_key": key, "state": b["state"],
                         "planned": json.dumps({k: v for k, v in record.items() if v is not None}),
                         "changes": json.dumps(cells), "created_at": b["created_at"]})  # fmt: skip
    if rows:
        conn.execute(sa.insert(table), rows)
