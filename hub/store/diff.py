"""The diff of a run against the current state, in DuckDB over Arrow copies of the current keys and hashes:
which golden records are new, changed (with the fields that changed) or updated in place, which ids retire
and where they go, which xref and term-frequency rows change. Reads only; hub.store.writes applies it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pandas as pd
import sqlalchemy as sa

from hub.store.bulk import read_arrow, read_frame
from hub.store.inputs import few, object_series
from hub.store.schema import ATTRIBUTES, VALUE_COLUMNS, golden_records, match_model, match_term_frequencies

if TYPE_CHECKING:
    from hub.store.match_model import MatchModel


def check_xref_targets(db: duckdb.DuckDBPyConnection) -> None:
    orphans = [
        r[0] for r in db.execute("SELECT DISTINCT golden_id FROM inc_x ANTI JOIN inc USING (golden_id)").fetchall()
    ]
    if orphans:
        raise ValueError(f"xref: golden ids {few(orphans)} are not in the golden records")


VALUE_BATCH = 20_000  # golden ids per read of current values (one IN list)


def _changed_fields_sql() -> str:
    """DuckDB: the fields whose value differs between incoming `i` and current `p`, in model order, then
    the extra attributes by name. Values compare in the text form the row hash uses; an extra attribute
    that is null counts as missing."""
    attrs = ", ".join(
        f"CASE WHEN CAST(i.{a} AS VARCHAR) IS DISTINCT FROM CAST(p.{a} AS VARCHAR) THEN '{a}' END" for a in ATTRIBUTES
    )
    value = "nullif(json_extract({}.extra, k)::VARCHAR, 'null')"
    extra = (
        "list_filter(list_sort(list_distinct(coalesce(json_keys(i.extra), []) || coalesce(json_keys(p.extra), []))), "
        f"lambda k: {value.format('i')} IS DISTINCT FROM {value.format('p')})"
    )
    return f"list_filter([{attrs}], lambda f: f IS NOT NULL) || {extra}"


def plan_golden(conn: sa.Connection, db: duckdb.DuckDBPyConnection, g: pd.DataFrame) -> dict[str, Any]:
    """Per incoming record (in input order): new, changed (a new version, with its changed_fields), or
    in place (lineage, record_count or only the stored hash differ); and the live ids now gone.

    A record whose hash differs has its current values read (only those records) and compared field by
    field: it gets a version only if a field differs. That also covers rows hashed another way before
    (migration 0006): their hash is refreshed in place."""
    res = db.execute(
        """SELECT CASE WHEN c.golden_id IS NULL THEN 0 WHEN c.row_hash <> i.row_hash THEN 1
                       WHEN c.lineage_hash IS DISTINCT FROM i.lineage_hash OR c.record_count <> i.record_count THEN 2
                       ELSE 3 END AS status,
                  c.golden_id IS NOT NULL AND c.lineage_hash IS DISTINCT FROM i.lineage_hash AS relineaged,
                  coalesce(c.version, 0) + 1 AS version
           FROM inc i LEFT JOIN cur c USING (golden_id) ORDER BY i.rn"""
    ).fetchnumpy()
    status, relineaged = np.asarray(res["status"]), np.asarray(res["relineaged"], dtype=bool)
    rehashed = np.flatnonzero(status == 1)
    changed_fields = np.full(len(g), None, dtype=object)
    if len(rehashed):
        changed_fields[rehashed] = diff_fields(conn, db, g.iloc[rehashed])
        status[rehashed[changed_fields[rehashed] == "[]"]] = 2
    in_place = status == 2
    retired = [row[0] for row in db.execute("SELECT golden_id FROM cur ANTI JOIN inc USING (golden_id)").fetchall()]
    return {
        "new": status == 0,
        "changed": status == 1,
        "in_place": in_place,
        "relineaged": relineaged,
        "lineage": in_place & relineaged,
        "version": np.asarray(res["version"]),
        "changed_fields": changed_fields,
        "retired": object_series(retired),
    }


def diff_fields(conn: sa.Connection, db: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> np.ndarray:
    """For these incoming records: the fields that differ from their current row (JSON list text, in
    order), the current values read VALUE_BATCH ids at a time."""
    gr = golden_records.c
    columns = [gr.golden_id, *(gr[c] for c in VALUE_COLUMNS)]
    ids = rows["golden_id"].tolist()
    batches = [ids[i : i + VALUE_BATCH] for i in range(0, len(ids), VALUE_BATCH)]
    prev = pd.concat(
        [read_frame(conn, sa.select(*columns).where(gr.golden_id.in_(b))) for b in batches], ignore_index=True
    )
    db.register("diff_rows", rows[["rn", "golden_id", *VALUE_COLUMNS]])
    db.register("prev", prev)
    fields = db.execute(
        f"""SELECT to_json({_changed_fields_sql()})::VARCHAR
            FROM diff_rows i LEFT JOIN prev p USING (golden_id) ORDER BY i.rn"""
    ).fetchall()
    db.unregister("diff_rows")
    db.unregister("prev")
    return np.array([f[0] for f in fields], dtype=object)


def plan_retire(retired: pd.Series, redirects: pd.DataFrame, live: pd.Series) -> pd.DataFrame:
    """Redirect rows for the ids this publish retires, survivors followed to a live id (None: deleted)."""
    given = redirects.drop_duplicates()
    if given.empty and retired.empty:
        return given.assign(retired_into=given["surviving_id"])
    live_ids = pd.Index(live.to_numpy(dtype=object))
    still_live = given["retired_id"][live_ids.get_indexer(given["retired_id"]) >= 0]
    if len(still_live):
        raise ValueError(f"redirects: {few(still_live)} retired but still in the golden records")
    missing = retired[~retired.isin(given["retired_id"])]
    if len(missing):
        raise ValueError(f"{few(missing)} no longer in the golden records and no redirect says where they went")
    out = given[given["retired_id"].isin(retired)].reset_index(drop=True)
    dup = out["retired_id"][out["retired_id"].duplicated()]
    if len(dup):
        raise ValueError(f"redirects: {few(dup)} redirected to more than one survivor")
    step = dict(zip(out["retired_id"], out["surviving_id"], strict=True))
    survivors = []
    for start in out["surviving_id"]:  # one entry per retired id, and chains are short
        target, hops = start, 0
        while target in step and hops <= len(step):
            target, hops = step[target], hops + 1
        if target is not None and live_ids.get_indexer([target])[0] < 0:
            raise ValueError(f"redirect to {start!r} does not end at a golden record of this run")
        survivors.append(target)
    return out.assign(retired_into=out["surviving_id"], surviving_id=object_series(survivors))


def plan_xref(db: duckdb.DuckDBPyConnection, x: pd.DataFrame) -> dict[str, Any]:
    """xref rows to write (new, or golden id / probability / link type changed; in key order) and
    keys to delete first (the changed ones, and source records no longer present)."""
    keys = ["source_system", "source_key"]
    write = db.execute(
        """SELECT x.rn, c.source_key IS NOT NULL AS existed
           FROM inc_x x LEFT JOIN cur_x c USING (source_system, source_key)
           WHERE c.source_key IS NULL OR c.golden_id <> x.golden_id OR c.link_type <> x.link_type
              OR c.match_probability IS DISTINCT FROM x.match_probability
           ORDER BY x.source_system, x.source_key"""
    ).fetchnumpy()
    rn, existed = np.asarray(write["rn"]), np.asarray(write["existed"], dtype=bool)
    gone = db.execute(
        "SELECT source_system, source_key FROM cur_x ANTI JOIN inc_x USING (source_system, source_key)"
    ).df()
    return {
        "write": x.iloc[rn][[*keys, "golden_id", "match_probability", "link_type"]],
        "delete": pd.concat([x.iloc[rn[existed]][keys], gone], ignore_index=True),
        "changed": len(rn) + len(gone),
    }


def plan_model(
    conn: sa.Connection, db: duckdb.DuckDBPyConnection, model: MatchModel, held: pd.DataFrame | None = None
) -> dict[str, Any]:
    """Against the read snapshot: whether the model row must be replaced (or only its totals updated),
    and the term-frequency rows to write (new or recounted) and keys to delete first (recounted, gone). `held`: the
    term frequencies the store holds (tf_column, value, golden_records), when the caller knows them; else read."""
    m = match_model.c
    current = conn.execute(sa.select(m.version, m.model_json, m.tf_totals)).first()
    t = match_term_frequencies.c
    if held is None:
        db.register("cur_tf", read_arrow(conn, sa.select(t.tf_column, t.value, t.golden_records)))
    else:
        db.register("cur_tf", held[["tf_column", "value", "golden_records"]])
    db.register("inc_tf", model.tf_counts[["tf_column", "value", "golden_records"]])
    write = db.execute(
        """SELECT i.tf_column, i.value, i.golden_records, c.value IS NOT NULL AS existed
           FROM inc_tf i LEFT JOIN cur_tf c USING (tf_column, value)
           WHERE c.value IS NULL OR c.golden_records <> i.golden_records ORDER BY i.tf_column, i.value"""
    ).df()
    gone = db.execute("SELECT tf_column, value FROM cur_tf ANTI JOIN inc_tf USING (tf_column, value)").df()
    totals = json.dumps(model.tf_totals, sort_keys=True)
    return {
        "replace": current is None or (current.version, current.model_json) != (model.version, model.model_json),
        "totals": None if current is not None and current.tf_totals == totals else totals,
        "write": write[["tf_column", "value", "golden_records"]],
        "delete": pd.concat([write.loc[write["existed"], ["tf_column", "value"]], gone], ignore_index=True),
        "changed": len(write) + len(gone),
    }
