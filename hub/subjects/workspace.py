"""A person in the workspace: their source records as pulled (to show), and their erasure from every table the
file holds, Splink's leftover tables included, and from the file itself (it is rewritten, so no freed block
keeps a value).

Tables are found by their columns, not by name, so a table a later stage adds is covered: a row goes when its
(source_system, source_key), a record id column (unique_id, unique_id_l, unique_id_r, record_id, id_l, id_r) or a
golden id column (golden_id, retired_id, surviving_id) names the person."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pandas as pd

from hub.catalogue import (
    CONNECTOR_STATE,
    FIELD_WARNINGS,
    GOLDEN_KEPT,
    GOLDEN_LOOKUPS,
    GOLDEN_POPULATION,
    GOLDEN_PUBLISHED_MODEL,
    GOLDEN_PUBLISHED_TF,
    QUARANTINE,
    STAGED,
    STANDARDIZED,
    TF_BASIS_PREFIX,
    TF_SCORED_PREFIX,
    split_record_id,
)
from hub.encryption import AtRestKey
from hub.rekey import copy_workspace
from hub.workspace import Workspace

SPLINK_PREFIX = "__splink__"
RECORD_COLUMNS = ("unique_id", "unique_id_l", "unique_id_r", "record_id", "id_l", "id_r")
GOLDEN_COLUMNS = ("golden_id", "retired_id", "surviving_id")
BY_KEY = "(source_system, source_key) IN (SELECT (source_system, source_key) FROM _subject_records)"


def _register(con: duckdb.DuckDBPyConnection, records: Sequence[str], golden_ids: Sequence[str]) -> None:
    pairs = [split_record_id(r) for r in records]
    con.register(
        "_subject_records",
        pd.DataFrame(
            {
                "record_id": pd.Series(list(records), dtype="string"),
                "source_system": pd.Series([s for s, _ in pairs], dtype="string"),
                "source_key": pd.Series([k for _, k in pairs], dtype="string"),
            }
        ),
    )
    con.register("_subject_golden", pd.DataFrame({"golden_id": pd.Series(list(golden_ids), dtype="string")}))


def source_rows(ws: Workspace, records: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The person's staged records (as pulled and mapped), quarantined rows and field warnings."""
    _register(ws.con, records, [])
    return {
        name: ws.con.execute(f"SELECT * FROM {table} WHERE {BY_KEY} ORDER BY source_system, source_key").df()
        for name, table in (("source_records", STAGED), ("quarantine", QUARANTINE), ("field_warnings", FIELD_WARNINGS))
    }


def term_counts(ws: Workspace, records: Sequence[str], tf_columns: Sequence[str]) -> pd.DataFrame:
    """tf_column, value, records: how many of the person's standardized records hold each value."""
    empty = pd.DataFrame({"tf_column": [], "value": [], "records": []})
    have: set[str] = set()
    if ws.has_table(STANDARDIZED):
        have = {r[0] for r in ws.con.execute(f"SELECT column_name FROM (DESCRIBE {STANDARDIZED})").fetchall()}
    cols = [c for c in tf_columns if c in have]
    if not cols:
        return empty
    _register(ws.con, records, [])
    parts = [
        f"""SELECT '{c}' AS tf_column, CAST("{c}" AS VARCHAR) AS value, count(*) AS records FROM {STANDARDIZED}
            WHERE unique_id IN (SELECT record_id FROM _subject_records) AND "{c}" IS NOT NULL GROUP BY ALL"""
        for c in cols
    ]
    return ws.con.execute(" UNION ALL ".join(parts)).df()


def erase(ws: Workspace, records: Sequence[str], golden_ids: Sequence[str]) -> dict[str, int]:
    """Delete the person's rows from every workspace table (one transaction), drop Splink's leftover tables and take
    their keys out of the saved pull cursors. Returns rows deleted per table (and the Splink tables dropped)."""
    con = ws.con
    done: dict[str, int] = {}
    tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT temporary AND schema_name = 'main' ORDER BY 1"
    ).fetchall()
    with ws.transaction():
        _register(con, records, golden_ids)
        done |= _forget_term_values(con, [t for (t,) in tables])
        for (table,) in tables:
            if table.startswith(SPLINK_PREFIX):
                con.execute(f'DROP TABLE "{table}"')
                done["splink tables dropped"] = done.get("splink tables dropped", 0) + 1
                continue
            cols = {r[0] for r in con.execute(f'SELECT column_name FROM (DESCRIBE "{table}")').fetchall()}
            where = []
            if {"source_system", "source_key"} <= cols:
                where.append(f"({BY_KEY})")
            where += [f'"{c}" IN (SELECT record_id FROM _subject_records)' for c in RECORD_COLUMNS if c in cols]
            where += [f'"{c}" IN (SELECT golden_id FROM _subject_golden)' for c in GOLDEN_COLUMNS if c in cols]
            if where:
                n = con.execute(f'DELETE FROM "{table}" WHERE {" OR ".join(where)}').fetchall()
                if n and n[0][0]:
                    done[table] = int(n[0][0])
        if {GOLDEN_LOOKUPS, GOLDEN_POPULATION} <= {t for (t,) in tables}:
            # golden_lookups is keyed by name, town and street spelling: a key no golden record left holds goes (the
            # next build sees the counts of shared ones move and rebuilds their holders)
            n = con.execute(
                f"DELETE FROM {GOLDEN_LOOKUPS} WHERE (kind, key) NOT IN (SELECT (kind, key) FROM {GOLDEN_POPULATION})"
            ).fetchall()
            if n and n[0][0]:
                done[GOLDEN_LOOKUPS] = int(n[0][0])
        # a published basis a dry run kept aside (golden_record.incremental) holds the person too: it goes whole
        con.execute(f"DROP SCHEMA IF EXISTS {GOLDEN_KEPT} CASCADE")
        if GOLDEN_PUBLISHED_MODEL in {t for (t,) in tables}:
            # the store's term frequencies lose the person's values too: the next publish diffs them in full
            con.execute(f"DELETE FROM {GOLDEN_PUBLISHED_MODEL}")
        if GOLDEN_PUBLISHED_TF in {t for (t,) in tables}:  # ... and the copy of them (keyed by value) goes whole
            con.execute(f"DELETE FROM {GOLDEN_PUBLISHED_TF}")
        _forget_cursor_keys(con, records)
    return done


def _forget_term_values(con: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, int]:
    """The kept term frequencies (matching/term_frequencies.py) are keyed by value, not by record: the person's
    values leave them before their standardized records go. A value no one else holds leaves the basis, a shared one
    no longer counts them (the column's total names no one and stays); a scored term frequency of a value they held is
    deleted, so the next run weighs the holders left afresh."""
    done: dict[str, int] = {}
    if STANDARDIZED not in tables:
        return done
    filled = {r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {STANDARDIZED})").fetchall()}
    for table in tables:
        column = table.removeprefix(TF_BASIS_PREFIX).removeprefix(TF_SCORED_PREFIX)
        if column == table or column not in filled:
            continue
        mine = "unique_id IN (SELECT record_id FROM _subject_records)"
        held = f'SELECT "{column}" AS value, count(*) AS k FROM {STANDARDIZED} WHERE {mine} GROUP BY ALL'
        shared = f'SELECT "{column}" FROM {STANDARDIZED} WHERE NOT ({mine}) AND "{column}" IS NOT NULL'
        if table.startswith(TF_BASIS_PREFIX):
            con.execute(
                f'UPDATE "{table}" SET c = greatest(c - h.k, 1) FROM ({held}) AS h WHERE "{table}"."{column}" = h.value'
            )
            only_theirs = f'"{column}" IN (SELECT value FROM ({held})) AND "{column}" NOT IN ({shared})'
            n = con.execute(f'DELETE FROM "{table}" WHERE {only_theirs}').fetchall()
        else:
            n = con.execute(f'DELETE FROM "{table}" WHERE "{column}" IN (SELECT value FROM ({held}))').fetchall()
        if n and n[0][0]:
            done[table] = int(n[0][0])
    return done


def _forget_cursor_keys(con: duckdb.DuckDBPyConnection, records: Sequence[str]) -> None:
    """A saved cursor names the keys seen at its timestamp (`boundary`): the person's go."""
    keys: dict[str, set[str]] = {}
    for rid in records:
        system, key = split_record_id(rid)
        keys.setdefault(system, set()).add(key)
    for system, state in con.execute(f"SELECT source_system, state FROM {CONNECTOR_STATE}").fetchall():
        parsed = json.loads(state) if state else None
        if not parsed or system not in keys or not isinstance(parsed.get("boundary"), dict):
            continue
        boundary = {k: v for k, v in parsed["boundary"].items() if k not in keys[system]}
        if boundary != parsed["boundary"]:
            parsed["boundary"] = boundary
            con.execute(f"UPDATE {CONNECTOR_STATE} SET state = ? WHERE source_system = ?", [json.dumps(parsed), system])


def compact(path: Path, key: AtRestKey | None) -> None:
    """Rewrite the DuckDB file at `path` (closed, held by the caller's workspace lock) into a fresh one, under the
    same at-rest key (hub.encryption): deleted rows leave no bytes behind in freed blocks or the write-ahead log."""
    if str(path) == ":memory:" or not path.exists():
        return
    fresh = copy_workspace(path, key, key, "compact")
    os.replace(fresh, path)
    Path(f"{path}.wal").unlink(missing_ok=True)
