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
import pyarrow as pa

from hub import echoes
from hub.catalogue import (
    CLUSTER_BASIS,
    CLUSTERS,
    PAIRS,
    RESCORED,
    REVIEW,
    SCORED_BASIS,
    STANDARDIZED,
    STANDARDIZED_BASIS,
    record_id_sql,
    tf_scored,
)
from hub.config import HubConfig
from hub.errors import NotReady
from hub.workspace import Workspace, scalar
from matching import changes, models, plan, reclustering
from matching import term_frequencies as tf
from matching.backend import DuckDBSplinkBackend, MatcherBackend, tf_columns
from matching.clustering import cluster
from matching.standardize import STD_COLUMNS, check_unique_ids, standardize

# A run's new pairs: TEMP, read by this connection only (in the workspace file, 1.45M of them were written once more
# than scored_pairs needs, and its checkpoint wrote them again)
NEW_PAIRS = "_pairs_new"


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


def train(
    ws: Workspace,
    cfg: HubConfig,
    backend: MatcherBackend | None = None,
    progress: Callable[[str], None] | None = None,
) -> models.SavedModel:
    """Train a new model version on the current standardized records (`hub model train`), with the match plan
    for them (matching/plan.py)."""
    backend = backend or DuckDBSplinkBackend(ws.con)
    n = standardize_records(ws).records
    return models.save(ws.con, backend.train(STANDARDIZED, _plan(ws, cfg, progress), progress), n)


def _plan(ws: Workspace, cfg: HubConfig, progress: Callable[[str], None] | None) -> plan.MatchPlan:
    made = plan.for_records(cfg, ws.con, STANDARDIZED)
    for note in made.notes:
        (progress or (lambda _line: None))(f"match plan: {note}")
    return made


@dataclass(frozen=True)
class Standardized:
    records: int  # in standardized_records now
    redone: int  # records standardized this time (all of them on a full run)
    full: bool


def standardize_records(ws: Workspace, full: bool = False) -> Standardized:
    """Bring standardized_records up to date with every staged record as evidence: a value the hub wrote into a
    source and read back counts as the value it overwrote (hub/echoes.py), so it neither votes nor raises a match
    score. Only records new or changed since the last time are standardized (matching/changes.py); gone ones leave.
    `full`, or other rules or columns than last time: all of them, as on a first run."""
    con = ws.con
    evidence = echoes.create_evidence_view(con, ws.fields)
    if full or not _standardized_current(ws, evidence):  # standardize() checks the ids
        with ws.transaction():
            n = standardize(con, source=evidence, target=STANDARDIZED)
            con.execute(f"CREATE OR REPLACE TABLE {STANDARDIZED_BASIS} AS {changes.fingerprints_sql(evidence)}")
            changes.set_state(con, "standardize", changes.STANDARDIZE_RULES)
        return Standardized(n, n, True)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _fp_now AS {changes.fingerprints_sql(evidence)}")
    if scalar(
        con,
        "SELECT count(*) FROM (SELECT unique_id FROM _fp_now GROUP BY ALL HAVING count(*) > 1 OR unique_id IS NULL)",
    ):
        check_unique_ids(con, evidence)  # names them; standardize() below sees only the changed records
    con.execute(f"CREATE OR REPLACE TEMP TABLE _redo AS {changes.changed_ids_sql('_fp_now', STANDARDIZED_BASIS)}")
    try:
        redo = scalar(con, "SELECT count(*) FROM _redo")
        if redo:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE _redo_rows AS SELECT e.* FROM {evidence} AS e
                    WHERE {record_id_sql("e.source_system", "e.source_key")} IN (SELECT unique_id FROM _redo)"""
            )
            standardize(con, source="_redo_rows", target="_standardized_redo")
            with ws.transaction():
                con.execute(f"DELETE FROM {STANDARDIZED} WHERE unique_id IN (SELECT unique_id FROM _redo)")
                con.execute(f"INSERT INTO {STANDARDIZED} BY NAME SELECT * FROM _standardized_redo")
                con.execute(f"CREATE OR REPLACE TABLE {STANDARDIZED_BASIS} AS SELECT * FROM _fp_now")
    finally:
        for table in ("_fp_now", "_redo", "_redo_rows", "_standardized_redo"):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return Standardized(scalar(con, f"SELECT count(*) FROM {STANDARDIZED}"), redo, False)


def _standardized_current(ws: Workspace, evidence: str) -> bool:
    """Whether standardized_records was made by these rules from records with these columns, so that redoing the
    changed records brings it up to date."""
    if not (ws.has_table(STANDARDIZED) and ws.has_table(STANDARDIZED_BASIS)):
        return False
    if changes.state(ws.con, "standardize") != changes.STANDARDIZE_RULES:
        return False

    def columns(relation: str) -> list[str]:
        return [r[0] for r in ws.con.execute(f"SELECT column_name FROM (DESCRIBE {relation})").fetchall()]

    return sorted(columns(STANDARDIZED)) == sorted([*columns(evidence), *STD_COLUMNS])


def current_model(
    ws: Workspace,
    cfg: HubConfig,
    backend: MatcherBackend | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[models.SavedModel, bool]:
    """The latest saved model, training the first one when there is none; (model, trained now)."""
    saved = models.load(ws.con)
    if saved is not None:
        return saved, False
    if progress:
        progress("no model yet: training one")
    n = scalar(ws.con, f"SELECT count(*) FROM {STANDARDIZED}")
    trained = (backend or DuckDBSplinkBackend(ws.con)).train(STANDARDIZED, _plan(ws, cfg, progress), progress)
    return models.save(ws.con, trained, n), True


@dataclass(frozen=True)
class Scored:
    pairs: int  # in scored_pairs now
    rescored_records: int  # records whose pairs were scored this time (all of them on a full run)
    full: bool


def score_pairs(
    ws: Workspace, cfg: HubConfig, saved: models.SavedModel, backend: MatcherBackend | None = None, full: bool = False
) -> Scored:
    """Bring scored_pairs (pairs at or above the review threshold) up to date with `saved`, recording which version
    scored them (published with the golden records). Only the pairs touching a record new, changed or gone since the
    last scoring are scored again, and those of the records holding a value whose term frequency moved
    (matching/term_frequencies.py): the same pairs as scoring all of them, which `full`, another model version or
    threshold, or other standardization rules do."""
    con = ws.con
    backend = backend or DuckDBSplinkBackend(con)
    threshold = cfg.matching.review_threshold
    rules = f"{changes.STANDARDIZE_RULES} model v{saved.version} threshold {threshold!r}"
    tf.ensure_basis(con, STANDARDIZED, saved.model, saved.version)
    kept = {column: tf_scored(column) for column in tf_columns(saved.model)}
    incremental = (
        not full
        and changes.state(con, "score") == rules
        and all(ws.has_table(t) for t in (PAIRS, SCORED_BASIS, *kept.values()))
    )
    lookups: dict[str, str] = {}
    try:
        if incremental:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _touched AS {changes.changed_ids_sql(STANDARDIZED_BASIS, SCORED_BASIS)}"
            )
            if not scalar(con, "SELECT count(*) FROM _touched"):  # the very records scored last time: nothing to do
                return Scored(scalar(con, f"SELECT count(*) FROM {PAIRS}"), 0, False)
            lookups = tf.make_lookups(con, STANDARDIZED, saved.model, lambda column: f"_tf_next_{column}")
            con.execute(f"INSERT INTO _touched {tf.changed_holders(STANDARDIZED, lookups, kept)} EXCEPT "
                        "SELECT unique_id FROM _touched")  # fmt: skip
            rescored = scalar(con, "SELECT count(*) FROM _touched")
            backend.predict(STANDARDIZED, saved.model, threshold, NEW_PAIRS, lookups, "_touched", temporary=True)
        else:
            lookups = tf.make_lookups(con, STANDARDIZED, saved.model, lambda column: f"_tf_next_{column}")
            rescored = scalar(con, f"SELECT count(*) FROM {STANDARDIZED}")
            backend.predict(STANDARDIZED, saved.model, threshold, NEW_PAIRS, lookups, temporary=True)
        with ws.transaction():
            if not incremental:
                con.execute(f"CREATE OR REPLACE TABLE {PAIRS} AS SELECT * FROM {NEW_PAIRS}")
                con.execute(f"DROP TABLE IF EXISTS {RESCORED}")  # every record's pairs: the next publish diffs all
            else:
                if ws.has_table(RESCORED):  # both ends of every pair deleted or written, for the next publish
                    con.execute(
                        f"""INSERT INTO {RESCORED}
                            SELECT DISTINCT unnest([unique_id_l, unique_id_r]) FROM (
                              SELECT unique_id_l, unique_id_r FROM {PAIRS}
                              WHERE unique_id_l IN (SELECT unique_id FROM _touched)
                                 OR unique_id_r IN (SELECT unique_id FROM _touched)
                              UNION ALL SELECT unique_id_l, unique_id_r FROM {NEW_PAIRS})
                            UNION SELECT unique_id FROM _touched
                            EXCEPT SELECT record_id FROM {RESCORED}"""
                    )
                con.execute(
                    f"""DELETE FROM {PAIRS} WHERE unique_id_l IN (SELECT unique_id FROM _touched)
                                              OR unique_id_r IN (SELECT unique_id FROM _touched)"""
                )
                con.execute(f"INSERT INTO {PAIRS} BY NAME SELECT * FROM {NEW_PAIRS}")
            con.execute(f"CREATE OR REPLACE TABLE {SCORED_BASIS} AS SELECT * FROM {STANDARDIZED_BASIS}")
            for column, table in lookups.items():
                con.execute(f"CREATE OR REPLACE TABLE {kept[column]} AS SELECT * FROM {table}")
            changes.set_state(con, "score", rules)
            models.mark_scored(con, saved.version)
    finally:
        for table in ("_touched", NEW_PAIRS, *lookups.values()):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return Scored(scalar(con, f"SELECT count(*) FROM {PAIRS}"), rescored, not incremental)


@dataclass
class ClusterResult:
    auto_pairs: int
    clusters: int
    multi_record_clusters: int
    reclustered: int = 0  # records clustered this time (all of them on a full run)
    full: bool = True


def cluster_records(
    ws: Workspace,
    cfg: HubConfig,
    must_link: pd.DataFrame | None = None,
    cannot_link: pd.DataFrame | None = None,
    progress: Callable[[str], None] | None = None,
    frozen: pd.DataFrame | None = None,
    full: bool = False,
) -> ClusterResult:
    """clusters from the auto-match pairs plus steward decisions. `frozen` (record_id, golden_id: the records of
    people whose processing is restricted, hub.store.subjects.restricted) keeps each such group one cluster of
    exactly its records: no pair joins it to another record, no pair splits it. Only the components the changes since
    the last clustering reach are clustered again (matching/reclustering.py); `full`: all of them."""
    say = progress or (lambda _line: None)
    con = ws.con
    if not ws.has_table(PAIRS):
        raise NotReady("no scored pairs in the workspace yet: run the whole pipeline first (hub run)")
    _input(ws, cfg, must_link, cannot_link, frozen, say)
    incremental = not full and ws.has_table(CLUSTERS) and ws.has_table(CLUSTER_BASIS)
    edges = "SELECT id_l, id_r, p AS match_probability FROM _cluster_input WHERE kind = ?"
    try:
        if (
            incremental
            and not reclustering.seeds(con, "_cluster_input", STANDARDIZED, "_seeds")
            and scalar(con, f"SELECT (SELECT count(*) FROM {CLUSTERS}) = (SELECT count(*) FROM {STANDARDIZED})")
        ):  # the same input, no record new (a seed) or gone: the clusters are current
            return _counted(ws, scalar(con, "SELECT count(*) FROM _cluster_input WHERE kind = 'edge'"), 0, False)
        if incremental:
            redo = reclustering.grow(con, "_cluster_input", "_seeds", "_recluster")
            reclustering.gone(con, "_gone")
            ids = con.execute(
                f"SELECT record_id FROM _recluster WHERE record_id IN (SELECT unique_id FROM {STANDARDIZED})"
            ).df()["record_id"]
            edges += " AND id_l IN (SELECT record_id FROM _recluster) AND id_r IN (SELECT record_id FROM _recluster)"
        else:
            ids = con.execute(f"SELECT unique_id FROM {STANDARDIZED}").df()["unique_id"]
            redo = len(ids)
        part = {kind: con.execute(edges, [kind]).df() for kind in ("edge", "match", "not_match")}
        clusters = cluster(ids, part["edge"], part["match"], part["not_match"])
        # As an Arrow table DuckDB reads the ids without a pandas scan, and counts the clusters in parallel: together
        # half the time of storing and counting through pandas at 1M records.
        con.register("_clusters", pa.Table.from_pandas(clusters, preserve_index=False))
        with ws.transaction():
            if incremental:
                reclustering.note(ws, "_recluster", "_gone")  # for the next golden build
                con.execute(
                    f"""DELETE FROM {CLUSTERS}
                        WHERE record_id IN (SELECT record_id FROM _recluster UNION ALL SELECT record_id FROM _gone)"""
                )
                con.execute(f"INSERT INTO {CLUSTERS} SELECT record_id, cluster_id FROM _clusters")
                reclustering.keep(con)
            else:
                reclustering.note(ws, None, None)
                con.execute(f"CREATE OR REPLACE TABLE {CLUSTERS} AS SELECT record_id, cluster_id FROM _clusters")
                con.execute(f"CREATE OR REPLACE TABLE {CLUSTER_BASIS} AS SELECT * FROM _cluster_input")
            reclustering.after(ws)
        auto = scalar(con, "SELECT count(*) FROM _cluster_input WHERE kind = 'edge'")
    finally:
        con.unregister("_clusters")
        scratch = ("_cluster_input", "_seeds", "_recluster", "_gone", reclustering.ADDED, reclustering.REMOVED)
        for table in (*scratch, reclustering.CHURN):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return _counted(ws, auto, redo, not incremental)


def _counted(ws: Workspace, auto_pairs: int, reclustered: int, full: bool) -> ClusterResult:
    n_clusters, multi_record = ws.con.execute(
        f"""SELECT count(*), count(*) FILTER (WHERE n > 1)
            FROM (SELECT count(*) AS n FROM {CLUSTERS} GROUP BY cluster_id)"""
    ).fetchall()[0]
    return ClusterResult(auto_pairs, n_clusters, multi_record, reclustered, full)


def _input(
    ws: Workspace,
    cfg: HubConfig,
    must_link: pd.DataFrame | None,
    cannot_link: pd.DataFrame | None,
    frozen: pd.DataFrame | None,
    say: Callable[[str], None],
) -> None:
    """The clustering's input as one table, `_cluster_input` (reclustering rule 1): kind ('edge', 'match',
    'not_match'), id_l, id_r, p (the edge's match probability). Decisions about records gone from every source
    (deleted, quarantined) cannot apply: they are kept by whoever stores them but skipped here. Built in SQL, but where
    restricted people's groups are frozen into it (pandas: a few groups)."""
    con = ws.con
    frames = [
        pd.DataFrame({"kind": kind, "id_l": d["id_l"].astype("string"), "id_r": d["id_r"].astype("string")})
        for kind, d in (("match", must_link), ("not_match", cannot_link)) if d is not None and len(d)
    ]  # fmt: skip
    decided = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {c: pd.Series(dtype="string") for c in ("kind", "id_l", "id_r")}
    )  # fmt: skip
    con.register("_decided_in", decided)
    present = f"id_l IN (SELECT unique_id FROM {STANDARDIZED}) AND id_r IN (SELECT unique_id FROM {STANDARDIZED})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _decided AS SELECT * FROM _decided_in WHERE {present}")
    con.unregister("_decided_in")
    for kind, label in (("match", "match"), ("not_match", "not a match")):
        skipped = int((decided["kind"] == kind).sum()) - scalar(con, "SELECT count(*) FROM _decided WHERE kind = ?",
                                                                   [kind])  # fmt: skip
        if skipped:
            say(f"skipped {skipped} '{label}' decision(s) about records no longer present")
    edges = f"""SELECT 'edge' AS kind, unique_id_l AS id_l, unique_id_r AS id_r, match_probability AS p FROM {PAIRS}
                WHERE match_probability >= {float(cfg.matching.auto_match_threshold)!r}"""
    if frozen is not None and len(frozen):
        ids = con.execute(f"SELECT unique_id FROM {STANDARDIZED}").df()["unique_id"]
        edge, must, cannot = _freeze(
            con.execute(f"SELECT id_l, id_r, p AS match_probability FROM ({edges})").df(),
            con.execute("SELECT id_l, id_r FROM _decided WHERE kind = 'match'").df(),
            con.execute("SELECT id_l, id_r FROM _decided WHERE kind = 'not_match'").df(),
            frozen,
            ids,
        )
        parts = [edge.assign(kind="edge", p=edge["match_probability"])]
        parts += [f.assign(kind=k, p=None) for k, f in (("match", must), ("not_match", cannot)) if f is not None]
        con.register("_frozen_input", pd.concat(parts, ignore_index=True)[["kind", "id_l", "id_r", "p"]])
        edges, decisions = "SELECT kind, id_l, id_r, p FROM _frozen_input", ""
    else:
        decisions = "UNION ALL SELECT kind, id_l, id_r, NULL FROM _decided"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _cluster_input AS
            SELECT kind::VARCHAR AS kind, id_l::VARCHAR AS id_l, id_r::VARCHAR AS id_r, p::DOUBLE AS p
            FROM ({edges} {decisions})"""
    )
    con.unregister("_frozen_input")
    con.execute("DROP TABLE _decided")


def match(
    ws: Workspace,
    cfg: HubConfig,
    must_link: pd.DataFrame | None = None,
    cannot_link: pd.DataFrame | None = None,
    backend: MatcherBackend | None = None,
    progress: Callable[[str], None] | None = None,
    frozen: pd.DataFrame | None = None,
) -> MatchResult:
    """Standardize, score with the latest model (training one first if there is none), cluster, and
    pick the review band. The Dagster assets run the same steps one asset each."""
    say = progress or (lambda _line: None)
    backend = backend or DuckDBSplinkBackend(ws.con)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    n = standardize_records(ws).records
    seconds["standardize"] = time.perf_counter() - t
    say(f"standardized {n:,} records")

    t = time.perf_counter()
    saved, trained = current_model(ws, cfg, backend, say)
    if trained:
        seconds["train"] = time.perf_counter() - t

    t = time.perf_counter()
    scored = score_pairs(ws, cfg, saved, backend).pairs
    seconds["predict"] = time.perf_counter() - t
    say(f"scored {scored:,} pairs at or above {cfg.matching.review_threshold} with model v{saved.version}")

    t = time.perf_counter()
    clustered = cluster_records(ws, cfg, must_link, cannot_link, say, frozen)
    seconds["cluster"] = time.perf_counter() - t

    review = review_band(ws, cfg, must_link, cannot_link, frozen)
    return MatchResult(
        records=n,
        model_version=saved.version,
        trained=trained,
        pairs_scored=scored,
        auto_pairs=clustered.auto_pairs,
        review_candidates=review,
        clusters=clustered.clusters,
        multi_record_clusters=clustered.multi_record_clusters,
        seconds=seconds,
    )


def _freeze(
    edges: pd.DataFrame,
    must_link: pd.DataFrame | None,
    cannot_link: pd.DataFrame | None,
    frozen: pd.DataFrame,
    ids: pd.Series,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """Edges and "match" decisions without those that cross the edge of a frozen group, plus a chain of "match"
    pairs holding each group together (its records still present only); "not a match" decisions inside a group
    wait until it is released."""
    present = frozen[frozen["record_id"].isin(ids[ids.isin(frozen["record_id"])])]
    group = present.set_index("record_id")["golden_id"]

    def inside(pairs: pd.DataFrame) -> pd.Series:
        gl, gr = pairs["id_l"].map(group), pairs["id_r"].map(group)
        return (gl.isna() & gr.isna()) | (gl == gr).fillna(False)

    edges = edges[inside(edges)]
    must = must_link[inside(must_link)] if must_link is not None and len(must_link) else None
    first = present.groupby("golden_id")["record_id"].transform("min")
    chain = pd.DataFrame({"id_l": first, "id_r": present["record_id"]})[first != present["record_id"]]
    if cannot_link is not None and len(cannot_link):
        gl, gr = cannot_link["id_l"].map(group), cannot_link["id_r"].map(group)
        cannot_link = cannot_link[~(gl == gr).fillna(False)]
    must_link = pd.concat([f for f in (must, chain) if f is not None], ignore_index=True)[["id_l", "id_r"]]
    return edges, must_link, cannot_link


def review_band(
    ws: Workspace,
    cfg: HubConfig,
    must_link: pd.DataFrame | None = None,
    cannot_link: pd.DataFrame | None = None,
    frozen: pd.DataFrame | None = None,
) -> int:
    """review_candidates: pairs below the auto threshold that no steward decided, without the records of people
    whose processing is restricted (`frozen`: record_id); returns how many."""
    auto_threshold = cfg.matching.auto_match_threshold
    weights = [
        r[0] for r in ws.con.execute(f"SELECT column_name FROM (DESCRIBE {PAIRS})").fetchall() if r[0].startswith("mw_")
    ]
    explanation = ", ".join(f"'{c.removeprefix('mw_')}', round({c}, 2)" for c in weights)
    frames = [d[["id_l", "id_r"]].astype("string") for d in (must_link, cannot_link) if d is not None and len(d)]
    decided = pd.concat(frames) if frames else pd.DataFrame({"id_l": [], "id_r": []}, dtype="string")
    ws.con.register("_decided", decided)
    held = frozen["record_id"] if frozen is not None else pd.Series(dtype="string")
    ws.con.register("_frozen", pd.DataFrame({"record_id": held.astype("string")}))
    ws.con.execute(
        f"""CREATE OR REPLACE TABLE {REVIEW} AS
            WITH band AS MATERIALIZED (  -- the band first: joined to every cluster row, the filters ran 4x slower
              SELECT * FROM {PAIRS}
              WHERE match_probability < ?
                AND (least(unique_id_l, unique_id_r), greatest(unique_id_l, unique_id_r)) NOT IN
                    (SELECT (least(id_l, id_r), greatest(id_l, id_r)) FROM _decided)
                AND unique_id_l NOT IN (SELECT record_id FROM _frozen)
                AND unique_id_r NOT IN (SELECT record_id FROM _frozen))
            SELECT p.unique_id_l, p.unique_id_r, p.match_probability, p.match_weight,
                   json_object({explanation}) AS explanation,
                   cl.cluster_id = cr.cluster_id AS same_cluster
            FROM band p
            JOIN {CLUSTERS} cl ON cl.record_id = p.unique_id_l
            JOIN {CLUSTERS} cr ON cr.record_id = p.unique_id_r
            ORDER BY p.match_probability DESC""",
        [auto_threshold],
    )
    ws.con.unregister("_decided")
    ws.con.unregister("_frozen")
    return scalar(ws.con, f"SELECT count(*) FROM {REVIEW}")
