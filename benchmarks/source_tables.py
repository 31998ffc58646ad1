"""Snapshots of the SQL sources a hub.yaml names: every row and column of each customer table and of
its golden-id side table, read the way the hub's connector reads them, and their canonical values.

The benchmark diffs two snapshots cell by cell, so a snapshot is read straight from the source,
never from the hub's workspace or audit: what changed is what the source now holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from connectors.transforms import to_canonical
from hub.config import HubConfig

KEY = "source_key"


@dataclass(frozen=True)
class SourceSnapshot:
    rows: pd.DataFrame  # the customer table, all columns, indexed by the primary key as text
    golden_ids: pd.DataFrame  # the golden-id side table (golden_id by source_key), empty if none


def snapshot(cfg: HubConfig) -> dict[str, SourceSnapshot]:
    """Every SQL source of `cfg`, whole."""
    out = {}
    for name, src in cfg.sources.items():
        if src.kind != "sql":
            raise SystemExit(f"source {name}: only SQL sources can be snapshotted (kind {src.kind})")
        engine = sa.create_engine(src.url)
        try:
            with engine.connect() as conn:
                rows = _read(conn, src.table)
                side = src.golden_id.table if src.golden_id and src.golden_id.table else None
                has_side = side is not None and sa.inspect(conn).has_table(side)
                golden_ids = _read(conn, side) if has_side else pd.DataFrame({KEY: [], "golden_id": []})
        finally:
            engine.dispose()
        rows.index = pd.Index(rows[src.primary_key].astype("string").str.strip(), name=KEY)
        rows = rows[rows.index.notna() & (rows.index != "")]  # rows without a key: nobody can write them
        golden_ids = golden_ids.astype({KEY: "string"}).set_index(KEY)
        out[name] = SourceSnapshot(rows, golden_ids)
    return out


def _read(conn: sa.Connection, table: str) -> pd.DataFrame:
    query = sa.select(sa.text("*")).select_from(sa.table(table))
    return pd.read_sql(query, conn, dtype_backend="numpy_nullable")


def canonical(cfg: HubConfig, source: str, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows mapped to the canonical model by the hub's own mapping (to_canonical), by source_key.
    Values of a row the hub would quarantine are kept: a cell is judged on its own."""
    src = cfg.sources[source]
    records, _reasons = to_canonical(rows[src.columns()].reset_index(drop=True), src, cfg, source)
    records.index = rows.index
    return records


def cell_text(values: pd.Series) -> pd.Series:
    """A stored cell as exact text (<NA> for NULL), so any change, even a space, shows."""
    return values.astype("string")
