"""The match model and term frequencies the serving store holds, as this workspace last published them: so a publish
skips the model diff when nothing changed (a digest), and diffs new term frequencies against a copy rather than
reading the store's (half a million rows at 1M records).

`golden_published_model` holds (run id, digest) of the last publish from this workspace, `golden_published_tf` the
term frequencies the store held after the last one that wrote them. Both describe the store only while that run is
its last published one (a caller checks the run id); an erasure clears both (it changes the store's counts)."""

from __future__ import annotations

import hashlib
import json

import pandas as pd

from hub import store
from hub.catalogue import GOLDEN_PUBLISHED_MODEL, GOLDEN_PUBLISHED_TF
from hub.workspace import Workspace


def digest(model: store.MatchModel) -> str:
    """What match-on-entry is published: the model, its term frequencies and their totals, as one digest."""
    counts = model.tf_counts[["tf_column", "value", "golden_records"]]
    rows = int(pd.util.hash_pandas_object(counts, index=False).sum()) if len(counts) else 0  # order-free
    text = json.dumps([model.version, model.model_json, model.tf_totals, len(counts), rows], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def published(ws: Workspace) -> tuple[str, str] | None:
    """(run id, digest) of the match model as the last publish from this workspace left it in the store."""
    if not ws.has_table(GOLDEN_PUBLISHED_MODEL):
        return None
    rows = ws.con.execute(f"SELECT run_id, digest FROM {GOLDEN_PUBLISHED_MODEL}").fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def held(ws: Workspace, last: tuple[str, str] | None) -> tuple[str, pd.DataFrame] | None:
    """(run id, term frequencies) the store held as of `last` (what `published` returned), from the copy; None when
    there is none."""
    if last is None or not ws.has_table(GOLDEN_PUBLISHED_TF):
        return None
    return last[0], ws.con.execute(f"SELECT tf_column, value, golden_records FROM {GOLDEN_PUBLISHED_TF}").df()


def mark(ws: Workspace, run_id: str, model_digest: str, written: store.MatchModel | None) -> None:
    """After the store committed `run_id`, inside the caller's workspace transaction: the model it holds has this
    digest, and `written` (when the publish wrote term frequencies) holds its term frequencies now."""
    ws.con.execute(f"CREATE OR REPLACE TABLE {GOLDEN_PUBLISHED_MODEL} AS SELECT ? AS run_id, ? AS digest",
                   [run_id, model_digest])  # fmt: skip
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
