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
from hub.workspace import scalar
from matching.backend import Model

TABLE = "match_models"
SCORED_WITH = "scored_with_model"  # one row: the version the current scored_pairs were made with


@dataclass(frozen=True)
class SavedModel:
    version: int
    trained_at: datetime
    records: int
    model: Model


def _ensure(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        f"""CREATE TABLE IF NOT EXISTS {TABLE} (
              version INTEGER PRIMARY KEY, trained_at TIMESTAMP, records BIGINT, model_json VARCHAR)"""
    )


def save(con: duckdb.DuckDBPyConnection, model: Model, records: int) -> SavedModel:
    _ensure(con)
    version = scalar(con, f"SELECT coalesce(max(version), 0) + 1 FROM {TABLE}")
    con.execute(
        f"INSERT INTO {TABLE} VALUES (?, now()::TIMESTAMP, ?, ?)", [version, records, json.dumps(model, sort_keys=True)]
    )
    saved = load(con, version)
    assert saved is not None  # the row was just inserted
    return saved


def load(con: duckdb.DuckDBPyConnection, version: int | None = None) -> SavedModel | None:
    """The given version, or the latest; None when no model was trained yet."""
    _ensure(con)
    where = "WHERE version = ?" if version is not None else "ORDER BY version DESC LIMIT 1"
    rows = con.execute(
        f"SELECT version, trained_at, records, model_json FROM {TABLE} {where}", [version] if version else []
    ).fetchall()
    if not rows:
        return None
    row = rows[0]
    return SavedModel(row[0], row[1], row[2], json.loads(row[3]))


def versions(con: duckdb.DuckDBPyConnection) -> list[tuple[int, datetime, int]]:
    _ensure(con)
    return con.execute(f"SELECT version, trained_at, records FROM {TABLE} ORDER BY version").fetchall()


def mark_scored(con: duckdb.DuckDBPyConnection, version: int) -> None:
    con.execute(f"CREATE OR REPLACE TABLE {SCORED_WITH} AS SELECT ?::INTEGER AS version", [version])


def scored_with(con: duckdb.DuckDBPyConnection) -> SavedModel | None:
    """The model the current scored pairs were made with; None before the first scoring."""
    exists = scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [SCORED_WITH])
    return load(con, scalar(con, f"SELECT version FROM {SCORED_WITH}")) if exists else None


def tf_columns(model: Model) -> list[str]:
    """The columns the model's term-frequency adjustments read, in model order."""
    cols = [lvl.get("tf_adjustment_column") for c in model["comparisons"] for lvl in c["comparison_levels"]]
    return list(dict.fromkeys(c for c in cols if c))


def for_serving(con: duckdb.DuckDBPyConnection, saved: SavedModel, records: str, members: str) -> store.MatchModel:
    """`saved` with the term frequencies match-on-entry needs, counted over golden records: per tf column,
    how many golden records (`members`: record_id -> golden_id) hold each standardized value of their
    `records` (unique_id, tf columns), keeping the values two or more share (the rest is held by one)."""
    cols = tf_columns(saved.model)
    joined = f"{records} r JOIN {members} m ON m.record_id = r.unique_id"
    frame = con.execute(
        " UNION ALL ".join(
            f"""SELECT '{c}' AS tf_column, r.{c} AS value, count(DISTINCT m.golden_id) AS golden_records
                FROM {joined} WHERE r.{c} IS NOT NULL GROUP BY ALL HAVING count(DISTINCT m.golden_id) > 1"""
            for c in cols
        )
    ).df()
    totals = ", ".join(f"count(DISTINCT m.golden_id) FILTER (WHERE r.{c} IS NOT NULL)" for c in cols)
    row = con.execute(f"SELECT {totals} FROM {joined}").fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    return store.MatchModel(
        version=saved.version,
        trained_at=saved.trained_at,
        records=saved.records,
        model_json=json.dumps(saved.model, sort_keys=True),
        tf_counts=frame,
        tf_totals=dict(zip(cols, (int(n) for n in row), strict=True)),
    )
