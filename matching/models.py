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
from hub.catalogue import MATCH_MODELS, SCORED_WITH, columns_sql
from hub.workspace import scalar
from matching.backend import Model


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


def tf_columns(model: Model) -> list[str]:
    """The columns the model's term-frequency adjustments read, in model order."""
    cols = [lvl.get("tf_adjustment_column") for c in model["comparisons"] for lvl in c["comparison_levels"]]
    return list(dict.fromkeys(c for c in cols if c))


def for_serving(con: duckdb.DuckDBPyConnection, saved: SavedModel, records: str) -> store.MatchModel:
    """`saved` with the term frequencies match-on-entry needs to weigh a value as predict did: per tf column, how
    many of the standardized `records` predict scored hold each value two or more of them share (the rest is held by
    one), and how many hold a value in the column. The counts predict's lookups are made of (backend.predict), so a
    pair scored on entry gets the probability it got in the run (matching.entry)."""
    cols = tf_columns(saved.model)
    frame = con.execute(
        " UNION ALL ".join(
            f"""SELECT '{c}' AS tf_column, {c} AS value, count(*) AS golden_records
                FROM {records} WHERE {c} IS NOT NULL GROUP BY ALL HAVING count(*) > 1"""
            for c in cols
        )
    ).df()
    row = con.execute(f"SELECT {', '.join(f'count({c})' for c in cols)} FROM {records}").fetchone()
    assert row is not None  # an aggregate without GROUP BY returns one row
    return store.MatchModel(
        version=saved.version,
        trained_at=saved.trained_at,
        records=saved.records,
        model_json=json.dumps(saved.model, sort_keys=True),
        tf_counts=frame,
        tf_totals=dict(zip(cols, (int(n) for n in row), strict=True)),
    )
