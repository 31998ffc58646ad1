"""Trained match models, versioned in the workspace.

Every run scores with the latest version until someone retrains (`hub model train`), so scores
are reproducible and a model change is an explicit, recorded event. The version a run scored with is
recorded too (`mark_scored`), so the serving store gets that one (`for_serving`), not one trained since.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import duckdb

from hub import store
from hub.catalogue import MATCH_MODELS, SCORED_WITH, columns_sql, tf_basis
from hub.workspace import scalar
from matching import term_frequencies as tf
from matching.backend import Model, tf_columns


@dataclass(frozen=True)
class SavedModel:
    version: int
    trained_at: datetime
    records: int
    model: Model


def _ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE TABLE IF NOT EXISTS {MATCH_MODELS} ({columns_sql(MATCH_MODELS)})")


def save(con: duckdb.DuckDBPyConnection, model: Model, records: int) -> SavedModel:
    _ensure(con)
    version = scalar(con, f"SELECT coalesce(max(version), 0) + 1 FROM {MATCH_MODELS}")
    con.execute(
        f"INSERT INTO {MATCH_MODELS} VALUES (?, now()::TIMESTAMP, ?, ?)",
        [version, records, json.dumps(model, sort_keys=True)],
    )
    saved = load(con, version)
    assert saved is not None  # the row was just inserted
    return saved


def load(con: duckdb.DuckDBPyConnection, version: int | None = None) -> SavedModel | None:
    """The given version, or the latest; None when no model was trained yet."""
    _ensure(con)
    where = "WHERE version = ?" if version is not None else "ORDER BY version DESC LIMIT 1"
    rows = con.execute(
        f"SELECT version, trained_at, records, model_json FROM {MATCH_MODELS} {where}", [version] if version else []
    ).fetchall()
    if not rows:
        return None
    row = rows[0]
    return SavedModel(row[0], row[1], row[2], json.loads(row[3]))


def versions(con: duckdb.DuckDBPyConnection) -> list[tuple[int, datetime, int]]:
    _ensure(con)
    return con.execute(f"SELECT version, trained_at, records FROM {MATCH_MODELS} ORDER BY version").fetchall()


def mark_scored(con: duckdb.DuckDBPyConnection, version: int) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {SCORED_WITH} AS SELECT ?::INTEGER AS version", [version])


def scored_with(con: duckdb.DuckDBPyConnection) -> SavedModel | None:
    """The model the current scored pairs were made with; None before the first scoring."""
    exists = scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [SCORED_WITH])
    return load(con, scalar(con, f"SELECT version FROM {SCORED_WITH}")) if exists else None


def for_serving(con: duckdb.DuckDBPyConnection, saved: SavedModel, records: str) -> store.MatchModel:
    """`saved` with the term frequencies match-on-entry needs to weigh a value as predict did: per tf column, the
    count predict weighed each value by (matching.term_frequencies: the kept basis, or a power of two of the live
    count) where two or more of the standardized `records` hold it (the rest is held by one), and the number of
    records the basis counted. So a pair scored on entry gets the probability it got in the run (matching.entry)."""
    cols = tf_columns(saved.model)
    tf.ensure_basis(con, records, saved.model, saved.version)
    frame = con.execute(
        " UNION ALL ".join(
            f"""SELECT '{c}' AS tf_column, {c} AS value, c::BIGINT AS golden_records
                FROM ({tf.counts_sql(records, c)}) WHERE c > 1"""
            for c in cols
        )
    ).df()
    totals = {c: int(scalar(con, f"SELECT coalesce(any_value(n), 1) FROM {tf_basis(c)}")) for c in cols}
    return store.MatchModel(
        version=saved.version,
        trained_at=saved.trained_at,
        records=saved.records,
        model_json=json.dumps(saved.model, sort_keys=True),
        tf_counts=frame,
        tf_totals=totals,
    )
