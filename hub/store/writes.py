"""The set-based writes of a publish (hub.store.publish): staged rows applied with one statement per table."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from hub.store.bulk import insert_frame, stage_frame
from hub.store.schema import (
    RUN_ID,
    STORED_COLUMNS,
    golden_history,
    golden_records,
    id_redirects,
    match_model,
    match_term_frequencies,
    xref,
)

if TYPE_CHECKING:
    from hub.store.match_model import MatchModel


def _typed_as(table: sa.Table, names: list[str]) -> list[sa.Column[Any]]:
    """Staging columns typed as the store's own, so staged values bind exactly as the rows they become."""
    return [sa.Column(name, table.c[name].type) for name in names]


def publish_golden(conn: sa.Connection, run_id: str, now: datetime, g: pd.DataFrame, plan: dict[str, Any]) -> None:
    """New and changed records get a version; the others that differ are updated in place."""
    # the rows are staged by position from `g` itself (bulk.insert_frame): a selected copy would copy its strings
    write = np.asarray(plan["new"] | plan["changed"])
    if write.any():
        versions = g.assign(version=plan["version"], changed_fields=plan["changed_fields"])
        write_versions(conn, run_id, now, versions, np.flatnonzero(write))
    in_place = np.asarray(plan["in_place"])
    if in_place.any():
        _update_in_place(conn, g.assign(relineaged=plan["relineaged"]), np.flatnonzero(in_place))


def _update_in_place(conn: sa.Connection, frame: pd.DataFrame, rows: np.ndarray) -> None:
    """The `rows` (positions) of `frame`: records whose values did not change: lineage, record_count and hashes of
    the current row, and the lineage of the open history row where it changed (history and current agree). No new
    version, so version, updated_at and run_id stay those of the run that published the values."""
    cols = ["golden_id", "lineage", "row_hash", "lineage_hash", "record_count"]
    stage = stage_frame(
        conn,
        "hub_stage_in_place",
        [*_typed_as(golden_records, cols), sa.Column("relineaged", sa.Boolean())],
        frame[[*cols, "relineaged"]],
        rows,
    )
    s, gr, h = stage.c, golden_records.c, golden_history.c
    conn.execute(
        golden_records.update()
        .where(gr.golden_id == s.golden_id)
        .values(lineage=s.lineage, row_hash=s.row_hash, lineage_hash=s.lineage_hash, record_count=s.record_count)
    )
    conn.execute(
        golden_history.update()
        .where(h.golden_id == s.golden_id, h.valid_to.is_(None), s.relineaged)
        .values(lineage=s.lineage)
    )
    stage.drop(conn)


def write_versions(
    conn: sa.Connection, run_id: str, now: datetime, frame: pd.DataFrame, rows: np.ndarray | None = None
) -> None:
    """Stage the new versions (the `rows` of `frame` by position, default all), close the current history rows,
    replace the current rows, append history (in id order: B-tree inserts in key order) — set-based. Each version is
    numbered after the current row as it is now (a consent choice may have added one since the run's diff was
    read)."""
    stage_cols = ["golden_id", "version", *STORED_COLUMNS, "record_count", "row_hash", "lineage_hash"]
    stage = stage_frame(
        conn,
        "hub_stage_golden",
        [*_typed_as(golden_records, [*stage_cols, "created_at"]), *_typed_as(golden_history, ["changed_fields"])],
        frame[[*stage_cols, "changed_fields"]],
        rows,
    )
    s = stage.c
    reused = conn.scalar(
        sa.select(sa.func.count()).select_from(stage.join(id_redirects, id_redirects.c.retired_id == s.golden_id))
    )
    if reused:
        raise ValueError(f"{reused} golden id(s) were retired earlier and cannot come back; mint new ids")
    staged_ids = sa.select(s.golden_id)
    now_version = sa.select(golden_records.c.version).where(golden_records.c.golden_id == s.golden_id)
    conn.execute(stage.update().values(version=sa.func.coalesce(now_version.scalar_subquery(), 0) + 1))
    conn.execute(
        stage.update()
        .where(s.version > 1)
        .values(
            created_at=sa.select(golden_records.c.created_at)
            .where(golden_records.c.golden_id == s.golden_id)
            .scalar_subquery()
        )
    )
    _close_history(conn, staged_ids, now)
    conn.execute(golden_records.delete().where(golden_records.c.golden_id.in_(staged_ids)))
    values = [s[c] for c in ["golden_id", "version", *STORED_COLUMNS]]
    now_p, run_p = sa.literal(now, sa.DateTime()), sa.literal(run_id, RUN_ID)
    conn.execute(
        golden_records.insert().from_select(
            ["golden_id", "version", *STORED_COLUMNS, "record_count", "row_hash", "lineage_hash", "created_at",
             "updated_at", "run_id"],
            sa.select(*values, s.record_count, s.row_hash, s.lineage_hash, sa.func.coalesce(s.created_at, now_p),
                      now_p, run_p).order_by(s.golden_id),
        )
    )  # fmt: skip
    conn.execute(
        golden_history.insert().from_select(
            ["golden_id", "version", *STORED_COLUMNS, "valid_from", "valid_to", "run_id", "changed_fields"],
            sa.select(*values, now_p, sa.null(), run_p, s.changed_fields).order_by(s.golden_id),
        )
    )
    stage.drop(conn)


def retire_ids(conn: sa.Connection, run_id: str, now: datetime, retire: pd.DataFrame) -> None:
    """Retired ids: close history, drop the current row, redirect; older redirects into them are
    repointed so every redirect is one hop to a live id."""
    if retire.empty:
        return
    cols = ["retired_id", "surviving_id", "retired_into", "reason"]
    stage = stage_frame(conn, "hub_stage_redirects", _typed_as(id_redirects, cols), retire[cols])
    s = stage.c
    retired_ids = sa.select(s.retired_id)
    _close_history(conn, retired_ids, now)
    conn.execute(golden_records.delete().where(golden_records.c.golden_id.in_(retired_ids)))
    r = id_redirects.c
    conn.execute(
        id_redirects.update()
        .where(r.surviving_id.in_(retired_ids))
        .values(surviving_id=sa.select(s.surviving_id).where(s.retired_id == r.surviving_id).scalar_subquery())
    )
    conn.execute(
        id_redirects.insert().from_select(
            ["retired_id", "surviving_id", "retired_into", "reason", "retired_at", "run_id"],
            sa.select(
                s.retired_id,
                s.surviving_id,
                s.retired_into,
                s.reason,
                sa.literal(now, sa.DateTime()),
                sa.literal(run_id, RUN_ID),
            ),
        )
    )
    stage.drop(conn)


def _close_history(conn: sa.Connection, ids: sa.Select[Any], now: datetime) -> None:
    h = golden_history.c
    conn.execute(golden_history.update().where(h.valid_to.is_(None), h.golden_id.in_(ids)).values(valid_to=now))


def _delete_keys(conn: sa.Connection, table: sa.Table, stage_name: str, keys: pd.DataFrame) -> None:
    """Delete the rows of `table` whose key (the columns of `keys`) is one of `keys`' rows, through a staged set."""
    if not len(keys):
        return
    stage = stage_frame(conn, stage_name, _typed_as(table, list(keys.columns)), keys)
    key = sa.tuple_(*(table.c[name] for name in keys.columns))
    conn.execute(table.delete().where(key.in_(sa.select(*stage.c))))
    stage.drop(conn)


def publish_model(
    conn: sa.Connection, run_id: str, now: datetime, model: MatchModel, plan: dict[str, Any]
) -> tuple[int, int]:
    """(model version written or 0, term-frequency rows changed)."""
    if plan["replace"]:
        conn.execute(match_model.delete())
        conn.execute(
            match_model.insert().values(
                version=model.version,
                trained_at=model.trained_at,
                records=model.records,
                model_json=model.model_json,
                tf_totals=json.dumps(model.tf_totals, sort_keys=True),
                published_at=now,
                run_id=run_id,
            )
        )
    elif plan["totals"] is not None:
        conn.execute(match_model.update().values(tf_totals=plan["totals"]))
    _delete_keys(conn, match_term_frequencies, "hub_stage_tf_keys", plan["delete"])
    insert_frame(conn, match_term_frequencies, plan["write"])
    return (model.version if plan["replace"] else 0), plan["changed"]


def publish_xref(conn: sa.Connection, run_id: str, now: datetime, plan: dict[str, Any]) -> int:
    """Delete the changed and gone rows, insert the changed and new ones."""
    _delete_keys(conn, xref, "hub_stage_xref_keys", plan["delete"])
    insert_frame(conn, xref, plan["write"].assign(linked_at=now, run_id=run_id))
    return int(plan["changed"])
