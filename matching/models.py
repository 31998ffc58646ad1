"""Trained match models, versioned in the workspace.

Every run scores with the latest version until someone retrains (`hub model train`), so scores
are reproducible and a model change is an explicit, recorded event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import duckdb

from hub.workspace import scalar
from matching.backend import Model

TABLE = "match_models"


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
    return load(con, version)


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
