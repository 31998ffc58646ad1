"""The match model and term frequencies the serving store holds, as this workspace last published them: so a publish
skips the model diff when nothing changed (a digest), and diffs new term frequencies against a copy rather than
reading the store's (half a million rows at 1M records).

`golden_published_model` holds (run id, digest, inputs) of the last publish from this workspace, `golden_published_tf`
the term frequencies the store held after the last one that wrote them. Both describe the store only while that run
is its last published one (a caller checks the run id); an erasure clears both (it changes the store's counts).
`inputs` is a key of what the served model is made of (`inputs_key`): when it is the same, the model is not even
made again (models.for_serving and its digest: 0.3-0.4 s of every publish at 1M records)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import duckdb
import pandas as pd

from hub import store
from hub.catalogue import GOLDEN_PUBLISHED_MODEL, GOLDEN_PUBLISHED_TF, STANDARDIZED, columns_sql
from hub.workspace import Workspace
from matching import models
from matching.backend import tf_columns


@dataclass(frozen=True)
class Last:
    """The match model as the last publish from this workspace left it in the store."""

    run_id: str
    digest: str
    inputs: str | None  # None: marked before inputs keys were kept


def digest(model: store.MatchModel) -> str:
    """What match-on-entry is published: the model, its term frequencies and their totals, as one digest."""
    counts = model.tf_counts[["tf_column", "value", "golden_records"]]
    rows = int(pd.util.hash_pandas_object(counts, index=False).sum()) if len(counts) else 0  # order-free
    text = json.dumps([model.version, model.model_json, model.tf_totals, len(counts), rows], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def inputs_key(con: duckdb.DuckDBPyConnection, saved: models.SavedModel) -> str:
    """A key of what models.for_serving reads that can change while the model version stays: the values of each
    term-frequency column of the standardized records, as a multiset (a count and a sum of hashes, so order-free).
    The model, its term-frequency basis, training time and record count are fixed per version."""
    parts = [f"count({c}), sum(hash({c})) FILTER (WHERE {c} IS NOT NULL)" for c in tf_columns(saved.model)]
    row = con.execute(f"SELECT {', '.join(parts) or 'NULL'} FROM {STANDARDIZED}").fetchall()[0]
    return hashlib.sha256(json.dumps([saved.version, [str(v) for v in row]]).encode()).hexdigest()


def to_publish(
    ws: Workspace, saved: models.SavedModel | None, built_on_run: str | None
) -> tuple[store.MatchModel | None, str | None, str | None, Last | None]:
    """(the model to publish, None when the store already holds it; its digest; its inputs key; `published`) for a
    publish whose build was made on `built_on_run`. `saved`: the model the pairs were scored with (None: none)."""
    last = published(ws)
    if saved is None:
        return None, None, None, last
    key = inputs_key(ws.con, saved)
    current = last if last is not None and last.run_id == built_on_run else None  # the store's last publish: ours
    if current is not None and current.inputs == key:
        return None, current.digest, key, last  # made of the same: the store holds this very model
    model = models.for_serving(ws.con, saved, STANDARDIZED)
    model_digest = digest(model)
    if current is not None and current.digest == model_digest:
        return None, model_digest, key, last  # the store holds this very model and term frequencies
    return model, model_digest, key, last


def published(ws: Workspace) -> Last | None:
    """The match model as the last publish from this workspace left it in the store (None: no record of it)."""
    if not ws.has_table(GOLDEN_PUBLISHED_MODEL):
        return None
    rows = ws.con.execute(f"SELECT * FROM {GOLDEN_PUBLISHED_MODEL}").fetchall()
    return Last(rows[0][0], rows[0][1], rows[0][2] if len(rows[0]) > 2 else None) if rows else None


def held(ws: Workspace, last: Last | None) -> tuple[str, pd.DataFrame] | None:
    """(run id, term frequencies) the store held as of `last` (what `published` returned), from the copy; None when
    there is none."""
    if last is None or not ws.has_table(GOLDEN_PUBLISHED_TF):
        return None
    return last.run_id, ws.con.execute(f"SELECT tf_column, value, golden_records FROM {GOLDEN_PUBLISHED_TF}").df()


def mark(ws: Workspace, run_id: str, model_digest: str, inputs: str | None, written: store.MatchModel | None) -> None:
    """After the store committed `run_id`, inside the caller's workspace transaction: the model it holds has this
    digest and inputs key, and `written` (when the publish wrote term frequencies) holds its term frequencies now."""
    ws.con.execute(f"CREATE OR REPLACE TABLE {GOLDEN_PUBLISHED_MODEL} ({columns_sql(GOLDEN_PUBLISHED_MODEL)})")
    ws.con.execute(f"INSERT INTO {GOLDEN_PUBLISHED_MODEL} VALUES (?, ?, ?)", [run_id, model_digest, inputs])
    if written is None:  # the store's term frequencies are as the copy holds them
        return
    ws.con.register("_gp_tf", written.tf_counts[["tf_column", "value", "golden_records"]])
    try:
        ws.con.execute(
            f"""CREATE OR REPLACE TABLE {GOLDEN_PUBLISHED_TF} AS
                SELECT tf_column::VARCHAR AS tf_column, value::VARCHAR AS value,
                       golden_records::BIGINT AS golden_records FROM _gp_tf"""
        )
    finally:
        ws.con.unregister("_gp_tf")
