"""The hub's own echoes: values write-back put into a source, which the next pull reads back.

An echo is not an independent observation. If it counted, one wrong golden value written into three systems
would come back as three votes for itself and could never be corrected; and a source that stamps its
updated-at column on every write would make the hub's writes look like the newest news. So the workspace keeps,
per source record, what write-back wrote into each field and the record's own value before that (`original`,
NULL where write-back filled a blank), and matching and survivorship read `evidence_records` instead of the
staged records:
- a field whose staged value is still what the hub wrote reads as its original: no vote, no match weight;
- a field the source changed since (a person edited it) reads as staged: that is new evidence;
- a record the source has not changed since the hub wrote it (same row version) keeps the updated-at it had
  before the write, and so do consent times derived from it.
Write-back itself compares golden values with the staged (current) values, and may always replace a value the
hub wrote earlier: it is its own.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from hub.catalogue import ECHOES, EVIDENCE, STAGED, columns_sql
from hub.model import CONSENT_FIELDS, DUCKDB_TYPES, Field
from hub.workspace import replace_rows


def ensure(con: duckdb.DuckDBPyConnection, fields: list[Field]) -> None:
    """Create the echoes table (one row per source record the hub wrote into), adding columns for extra
    attributes declared since."""
    attributes = _attributes(fields)
    cols = ", ".join(f"{f.name}__written {DUCKDB_TYPES[f.type]}, {f.name}__original {DUCKDB_TYPES[f.type]}"
                     for f in attributes)  # fmt: skip
    con.execute(f"CREATE TABLE IF NOT EXISTS {ECHOES} ({columns_sql(ECHOES, cols)})")
    existing = {r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {ECHOES})").fetchall()}
    for f in attributes:
        for suffix in ("written", "original"):
            if f"{f.name}__{suffix}" not in existing:
                con.execute(f"ALTER TABLE {ECHOES} ADD COLUMN {f.name}__{suffix} {DUCKDB_TYPES[f.type]}")


def _attributes(fields: list[Field]) -> list[Field]:
    return [f for f in fields if f.name not in ("source_system", "source_key", "source_updated_at")]


def create_evidence_view(con: duckdb.DuckDBPyConnection, fields: list[Field]) -> str:
    """(Re)create `evidence_records`: the staged records with every echo replaced by the value it overwrote (see
    the module docstring). Same columns as staged_records. Returns the view's name."""
    ensure(con, fields)
    unchanged = "e.written_version IS NOT DISTINCT FROM s.source_version AND e.evidence_at IS NOT NULL"
    replaced = [f"CASE WHEN {unchanged} THEN e.evidence_at ELSE s.source_updated_at END AS source_updated_at"]
    for f in _attributes(fields):
        echo = f"e.{f.name}__written IS NOT NULL AND s.{f.name} IS NOT DISTINCT FROM e.{f.name}__written"
        own = f"s.{f.name}"
        if f.name.endswith("_at") and f.name.removesuffix("_at") in CONSENT_FIELDS:
            # a consent time the connector derived from the row's updated-at moves back with it
            own = f"CASE WHEN {unchanged} AND s.{f.name} = s.source_updated_at THEN e.evidence_at ELSE s.{f.name} END"
        replaced.append(f"CASE WHEN {echo} THEN e.{f.name}__original ELSE {own} END AS {f.name}")
    con.execute(
        f"""CREATE OR REPLACE VIEW {EVIDENCE} AS
            SELECT s.* REPLACE ({", ".join(replaced)})
            FROM {STAGED} AS s LEFT JOIN {ECHOES} AS e USING (source_system, source_key)"""
    )
    return EVIDENCE


def record(con: duckdb.DuckDBPyConnection, fields: list[Field], rows: pd.DataFrame) -> None:
    """Remember what write-back just wrote. `rows`: source_system, source_key, written_version (the row's version
    after the write), evidence_at (its evidence updated-at before it), and per attribute `<field>__written` (the
    value as read back; NULL: not written now) and `<field>__original` (the record's evidence value before the
    write). Fields not written now keep their earlier echo."""
    if rows.empty:
        return
    attributes = _attributes(fields)
    ensure(con, fields)
    frame = rows.reindex(
        columns=["source_system", "source_key", "written_version", "evidence_at",
                 *(f"{f.name}__{s}" for f in attributes for s in ("written", "original"))]
    )  # fmt: skip
    merged = ["n.source_system", "n.source_key", "n.written_version", "n.evidence_at"]
    for f in attributes:
        new = f"n.{f.name}__written IS NOT NULL"
        t = DUCKDB_TYPES[f.type]
        merged += [
            f"CASE WHEN {new} THEN CAST(n.{f.name}__{side} AS {t}) ELSE o.{f.name}__{side} END AS {f.name}__{side}"
            for side in ("written", "original")
        ]
    con.register("_echo_rows", frame)
    try:
        old = f"LEFT JOIN {ECHOES} AS o USING (source_system, source_key)"
        select = f"SELECT {', '.join(merged)} FROM _echo_rows AS n {old}"
        replace_rows(con, ECHOES, select, ("source_system", "source_key"))
    finally:
        con.unregister("_echo_rows")
