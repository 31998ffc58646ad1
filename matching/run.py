"""One matching run over the workspace: standardize, score, cluster, and pick the review band.

Tables it (re)creates in the workspace:
- standardized_records: staged records plus standardized columns (matching.standardize)
- scored_pairs: every candidate pair at or above the review threshold, with the match weight of
  each comparison (mw_*) and its level (gamma_*) — the explanation of every score
- clusters: record_id -> cluster_id, honouring steward decisions (matching.clustering)
- review_candidates: pairs in [review_threshold, auto_match_threshold) not decided by a steward,
  each with a JSON explanation {comparison: match weight}
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from hub.config import HubConfig
from hub.workspace import Workspace, scalar
from matching import models
from matching.backend import DuckDBSplinkBackend, MatcherBackend
from matching.clustering import cluster
from matching.standardize import standardize

RECORDS = "standardized_records"
PAIRS = "scored_pairs"
CLUSTERS = "clusters"
REVIEW = "review_candidates"


@dataclass
class MatchResult:
    records: int
    model_version: int
    trained: bool
    pairs_scored: int
    auto_pairs: int
    review_candidates: int
    clusters: int
    multi_record_clusters: int
    seconds: dict[str, float] = field(default_factory=dict)


def train(ws: Workspace, backend: MatcherBackend | None = None, progress: Callable[[str], None] | None = None):
    """Train a new model version on the current standardized records (`hub model train`)."""
    backend = backend or DuckDBSplinkBackend(ws.con)
    n = standardize(ws.con, target=RECORDS)
    return models.save(ws.con, backend.train(RECORDS, progress), n)


def match(
    ws: Workspace,
    cfg: HubConfig,
    must_link: pd.DataFrame | None = None,
    cannot_link: pd.DataFrame | None = None,
    backend: MatcherBackend | None = None,
    progress: Callable[[str], None] | None = None,
) -> MatchResult:
    """Standardize, score with the latest model (training one first if there is none), cluster."""
    say = progress or (lambda _line: None)
    backend = backend or DuckDBSplinkBackend(ws.con)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    n = standardize(ws.con, target=RECORDS)
    seconds["standardize"] = time.perf_counter() - t
    say(f"standardized {n:,} records")

    saved = models.load(ws.con)
    trained = saved is None
    if trained:
        t = time.perf_counter()
        say("no model yet: training one")
        saved = models.save(ws.con, backend.train(RECORDS, say), n)
        seconds["train"] = time.perf_counter() - t

    t = time.perf_counter()
    thresholds = cfg.matching
    scored = backend.predict(RECORDS, saved.model, thresholds.review_threshold, PAIRS)
    seconds["predict"] = time.perf_counter() - t
    say(f"scored {scored:,} pairs at or above {thresholds.review_threshold} with model v{saved.version}")

    t = time.perf_counter()
    edges = ws.con.execute(
        f"SELECT unique_id_l AS id_l, unique_id_r AS id_r, match_probability FROM {PAIRS} WHERE match_probability >= ?",
        [thresholds.auto_match_threshold],
    ).df()
    ids = ws.con.execute(f"SELECT unique_id FROM {RECORDS}").df()["unique_id"]
    must_link, cannot_link = (
        _current(d, ids, kind, say) for d, kind in ((must_link, "match"), (cannot_link, "not a match"))
    )
    clusters = cluster(ids, edges, must_link, cannot_link)
    ws.con.register("_clusters", clusters)
    ws.con.execute(f"CREATE OR REPLACE TABLE {CLUSTERS} AS SELECT record_id, cluster_id FROM _clusters")
    ws.con.unregister("_clusters")
    seconds["cluster"] = time.perf_counter() - t

    review = _review_candidates(ws, thresholds.auto_match_threshold, must_link, cannot_link)
    sizes = clusters.groupby("cluster_id").size()
    return MatchResult(
        records=n,
        model_version=saved.version,
        trained=trained,
        pairs_scored=scored,
        auto_pairs=len(edges),
        review_candidates=review,
        clusters=len(sizes),
        multi_record_clusters=int((sizes > 1).sum()),
        seconds=seconds,
    )


def _current(decisions: pd.DataFrame | None, ids: pd.Series, kind: str, say: Callable[[str], None]):
    """Decisions about records that are gone from every source (deleted, quarantined) cannot apply;
    they are kept by whoever stores them but skipped here."""
    if decisions is None or decisions.empty:
        return decisions
    known = decisions["id_l"].isin(ids) & decisions["id_r"].isin(ids)
    if not known.all():
        say(f"skipped {int((~known).sum())} '{kind}' decision(s) about records no longer present")
    return decisions[known]


def _review_candidates(
    ws: Workspace, auto_threshold: float, must_link: pd.DataFrame | None, cannot_link: pd.DataFrame | None
) -> int:
    weights = [
        r[0] for r in ws.con.execute(f"SELECT column_name FROM (DESCRIBE {PAIRS})").fetchall() if r[0].startswith("mw_")
    ]
    explanation = ", ".join(f"'{c.removeprefix('mw_')}', round({c}, 2)" for c in weights)
    frames = [d[["id_l", "id_r"]].astype("string") for d in (must_link, cannot_link) if d is not None and len(d)]
    decided = pd.concat(frames) if frames else pd.DataFrame({"id_l": [], "id_r": []}, dtype="string")
    ws.con.register("_decided", decided)
    ws.con.execute(
        f"""CREATE OR REPLACE TABLE {REVIEW} AS
            SELECT p.unique_id_l, p.unique_id_r, p.match_probability, p.match_weight,
                   json_object({explanation}) AS explanation,
                   cl.cluster_id = cr.cluster_id AS same_cluster
            FROM {PAIRS} p
            JOIN {CLUSTERS} cl ON cl.record_id = p.unique_id_l
            JOIN {CLUSTERS} cr ON cr.record_id = p.unique_id_r
            WHERE p.match_probability < ?
              AND NOT EXISTS (SELECT 1 FROM _decided d
                              WHERE (d.id_l = p.unique_id_l AND d.id_r = p.unique_id_r)
                                 OR (d.id_l = p.unique_id_r AND d.id_r = p.unique_id_l))
            ORDER BY p.match_probability DESC""",
        [auto_threshold],
    )
    ws.con.unregister("_decided")
    return scalar(ws.con, f"SELECT count(*) FROM {REVIEW}")
