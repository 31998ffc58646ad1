"""The pipeline's assets, generated from hub.yaml: one raw asset and one write-back asset per
configured source (a new source needs no code), and the matching and golden-record steps between.

Each asset calls the same function the CLI calls (connectors.pull_source, matching.run.*,
golden_record.run.*, connectors.writeback.write_back); state lives in the workspace and the
serving store, so assets pass nothing in memory and any one can be re-materialized alone.

A dry run (HubResource.dry_run) writes nothing anywhere but the workspace: golden ids are provisional,
published_golden reports what it would publish, and write-back reports what it would write.

Dagster keeps every run's metadata and log lines in its own storage, out of reach of `hub subject erase`: they hold
counts and names of columns, fields and reasons, never a person's values or source keys.
"""

import time

import dagster as dg
import pandas as pd
import sqlalchemy as sa

import expectations
from connectors import pull_source
from connectors.writeback import run_to_write, write_back
from golden_record.run import build, publish_build, record_blocked
from hub import store
from hub.catalogue import CLUSTERS, GOLDEN_VALUES, PAIRS, REVIEW, STANDARDIZED
from hub.config import HubConfig
from hub.store.subjects import restricted
from matching import run as matching
from pipelines.resources import HubResource, ServingStoreResource, WorkspaceResource

# A run tagged `hub/reconcile: true` (`hub run --reconcile`, or the launchpad's tags in the Dagster UI) compares every
# source row's values with staging, not just the keys. A tag rather than resource config: giving the hub resource any
# config at launch replaces all of it, hub.yaml's path included.
RECONCILE_TAG = "hub/reconcile"


def _md(frame: pd.DataFrame) -> dg.MetadataValue:
    return dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "_none_")


def _decisions(engine: sa.Engine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stewards' current (must_link, cannot_link) decisions from the serving store."""
    with engine.connect() as conn:
        return store.decisions(conn)


def source_asset(name: str, kind: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{name}",
        group_name="sources",
        kinds={"duckdb", kind if kind == "sql" else "file"},
        description=(
            f"Source '{name}' as canonical records in the workspace (incremental once a cursor exists), "
            "reconciled with the source's key set: deleted rows leave, rows the cursor missed are read."
        ),
    )
    def _pull(
        context: dg.AssetExecutionContext, hub: HubResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        with workspace.open() as (cfg, ws):
            reconcile = context.run.tags.get(RECONCILE_TAG) == "true"
            result = pull_source(cfg, name, ws, full=hub.full_pull, reconcile=reconcile, progress=context.log.info)
            by_reason = ws.quarantine_reasons(name)
            by_field = ws.warning_counts(name)
        return dg.MaterializeResult(
            metadata={
                "mode": result.mode,
                "rows_read": result.rows_read,
                "records_staged": result.records,
                "rows_quarantined": result.quarantined,
                "rows_with_warnings": result.warned,
                "rows_future_stamped": result.future,
                "rows_behind_cursor": result.behind_cursor,
                "rows_deleted": result.deleted,
                "rows_erased_subject": result.erased,
                "rows_sharing_a_key": result.shared_keys,
                "staged_total": result.staged_total,
                "quarantined_total": result.quarantined_total,
                "warned_total": result.warned_total,
                "rows_per_second": round(result.rows_per_second),
                "quarantine_by_problem": _md(by_reason),
                "field_warnings": _md(by_field),
            }
        )

    return _pull


def writeback_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"writeback_{name}",
        group_name="writeback",
        deps=["published_golden"],
        kinds={"sql"},
        description=(
            f"Golden values of the fields '{name}' accepts, written back into it: only changed rows, only those "
            "columns, skipping rows that changed since the pull; old -> new audited in the serving store. "
            "A dry run reports the diff and writes nothing."
        ),
    )
    def _write(
        context: dg.AssetExecutionContext,
        hub: HubResource,
        workspace: WorkspaceResource,
        serving_store: ServingStoreResource,
    ) -> dg.MaterializeResult:
        with workspace.open() as (cfg, ws), serving_store.open(cfg) as engine:
            run_id = run_to_write(ws, engine, hub.dry_run)  # None: a dry run's build
            r = write_back(
                ws, cfg, engine, name, run_id, dry_run=hub.dry_run, progress=context.log.info, full=hub.full_pull
            )
        by_column = r.changes.groupby("column").size().rename("values").reset_index() if len(r.changes) else r.changes
        return dg.MaterializeResult(
            metadata={
                "dry_run": r.dry_run,
                **({"run_id": run_id} if run_id else {}),  # none: the values of a dry run's build
                "rows_considered": r.considered,
                "rows_planned": r.planned,
                "rows_updated": r.updated,
                "rows_unchanged": r.unchanged,
                "conflicts": r.conflicts,
                "missing": r.missing,
                "values_changed": r.values_changed,
                "address_kept": r.address_kept,
                "conflicted": r.conflicted,
                "ambiguous": r.ambiguous,
                "recovered": r.recovered,
                "restricted": r.restricted,
                "style": dg.MetadataValue.md("\n".join(f"- {s.describe()}" for s in r.styles.values()) or "_none_"),
                "values_by_column": _md(by_column),
            }
        )

    return _write


def standardized_asset(sources: list[str]) -> dg.AssetsDefinition:
    @dg.asset(
        name="standardized_records",
        group_name="matching",
        deps=[f"raw_{name}" for name in sources],
        kinds={"duckdb"},
        description="Every staged record, standardized for matching.",
    )
    def _standardize(
        context: dg.AssetExecutionContext, hub: HubResource, workspace: WorkspaceResource
    ) -> dg.MaterializeResult:
        with workspace.open() as (_, ws):
            t = time.perf_counter()
            done = matching.standardize_records(ws, full=hub.full_pull)
            per_source = ws.con.execute(
                f"SELECT source_system, count(*) AS records FROM {STANDARDIZED} GROUP BY ALL ORDER BY 1"
            ).df()
        context.log.info(
            f"standardized {done.redone:,} of {done.records:,} records" + (" (all: a full run)" if done.full else "")
        )
        return dg.MaterializeResult(
            metadata={
                "records": done.records,
                "standardized_now": done.redone,
                "full": done.full,
                "per_source": _md(per_source),
                "seconds": round(time.perf_counter() - t, 1),
            }
        )

    return _standardize


@dg.asset(
    group_name="matching",
    deps=["standardized_records"],
    kinds={"splink"},
    description="The latest saved Splink model; the first run trains one (`hub model train` makes a new version).",
)
def match_model(context: dg.AssetExecutionContext, workspace: WorkspaceResource) -> dg.MaterializeResult:
    with workspace.open() as (cfg, ws):
        saved, trained = matching.current_model(ws, cfg, progress=context.log.info)
    return dg.MaterializeResult(
        metadata={
            "version": saved.version,
            "trained_now": trained,
            "trained_at": str(saved.trained_at)[:19],
            "trained_on_records": saved.records,
        }
    )


@dg.asset(
    group_name="matching",
    deps=[match_model],
    kinds={"splink", "duckdb"},
    description="Candidate pairs at or above the review threshold, with per-comparison match weights.",
)
def scored_pairs(
    context: dg.AssetExecutionContext, hub: HubResource, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    with workspace.open() as (cfg, ws):
        saved, _ = matching.current_model(ws, cfg)
        t = time.perf_counter()
        done = matching.score_pairs(ws, cfg, saved, full=hub.full_pull)
        auto = ws.con.execute(
            f"SELECT count(*) FROM {PAIRS} WHERE match_probability >= ?", [cfg.matching.auto_match_threshold]
        ).fetchall()[0][0]
    how = "all records (a full run)" if done.full else f"the pairs of {done.rescored_records:,} changed records"
    context.log.info(f"scored {how} with model v{saved.version}: {done.pairs:,} pairs")
    return dg.MaterializeResult(
        metadata={
            "pairs": done.pairs,
            "records_rescored": done.rescored_records,
            "full": done.full,
            "auto_match_pairs": auto,
            "model_version": saved.version,
            "seconds": round(time.perf_counter() - t, 1),
        }
    )


@dg.asset(
    group_name="matching",
    deps=[scored_pairs],
    kinds={"duckdb"},
    description="Records grouped into people: auto-match pairs plus steward decisions.",
)
def clusters(
    context: dg.AssetExecutionContext,
    hub: HubResource,
    workspace: WorkspaceResource,
    serving_store: ServingStoreResource,
) -> dg.MaterializeResult:
    with workspace.open() as (cfg, ws), serving_store.open(cfg) as engine:
        must_link, cannot_link = _decisions(engine)
        with engine.connect() as conn:
            frozen = restricted(conn)
        r = matching.cluster_records(
            ws, cfg, must_link, cannot_link, progress=context.log.info, frozen=frozen, full=hub.full_pull
        )
        context.log.info(f"clustered {r.reclustered:,} records" + (" (all: a full run)" if r.full else ""))
        records = ws.con.execute(f"SELECT count(*) FROM {CLUSTERS}").fetchall()[0][0]
    return dg.MaterializeResult(
        metadata={
            "steward_match_decisions": len(must_link),
            "steward_not_match_decisions": len(cannot_link),
            "records": records,
            "clusters": r.clusters,
            "multi_record_clusters": r.multi_record_clusters,
            "auto_merge_pairs": r.auto_pairs,
            "records_reclustered": r.reclustered,
            "full": r.full,
            "records_merged": records - r.clusters,
        }
    )


@dg.asset(
    group_name="matching",
    deps=[clusters],
    kinds={"duckdb"},
    description=(
        "Uncertain pairs (review band) no steward decided, strongest first, with explanations; "
        "published to the serving store's review_queue with the golden records."
    ),
)
def review_queue(workspace: WorkspaceResource, serving_store: ServingStoreResource) -> dg.MaterializeResult:
    with workspace.open() as (cfg, ws), serving_store.open(cfg) as engine:
        with engine.connect() as conn:
            frozen = restricted(conn)
        n = matching.review_band(ws, cfg, *_decisions(engine), frozen=frozen)
        by_band = ws.con.execute(
            f"""SELECT round(floor(match_probability * 10) / 10, 1) AS probability_from, count(*) AS pairs,
                       count(*) FILTER (WHERE same_cluster) AS in_one_cluster
                FROM {REVIEW} GROUP BY ALL ORDER BY 1 DESC"""
        ).df()
    return dg.MaterializeResult(metadata={"queue_size": n, "pairs_by_probability": _md(by_band)})


@dg.asset(
    group_name="golden",
    deps=[clusters],
    kinds={"duckdb"},
    description=(
        "Golden records built in the workspace (stable ids, survivorship, lineage), before the quality gate: only the "
        "golden ids whose members, member values, pins, consent choices or population lookups changed since the last "
        "published build are rebuilt (`rebuilt`); `hub run --full` rebuilds all. "
        "a dry run's new ids are provisional. When the gate fails, the blocked publish is recorded in the serving "
        "store's run log (not in a dry run)."
    ),
)
def golden_records(
    context: dg.AssetExecutionContext,
    hub: HubResource,
    workspace: WorkspaceResource,
    serving_store: ServingStoreResource,
) -> dg.MaterializeResult:
    with workspace.open() as (cfg, ws), serving_store.open(cfg) as engine:
        b = build(ws, cfg, engine, progress=context.log.info, dry_run=hub.dry_run, full=hub.full_pull)
        by_size = ws.con.execute(
            f"SELECT record_count AS records, count(*) AS golden_records FROM {GOLDEN_VALUES} GROUP BY ALL ORDER BY 1"
        ).df()
        # The gate runs here, once per build: its record in the run log is written here, since a check writes
        # nothing, and its verdict is kept for this build, which the blocking check (pipelines/checks.py) reports.
        gate = expectations.check_golden(ws)
        expectations.gate.keep(ws, gate)
        if not gate.success:
            context.log.error(f"publish and write-back blocked: {gate.without_examples().summary()}")
            if not hub.dry_run:  # a dry run writes nothing into the serving store, not even this
                record_blocked(engine, gate.summary())
    return dg.MaterializeResult(
        metadata={
            "dry_run": hub.dry_run,
            **b.counts(),
            "full_build": b.full,
            "inputs_compared": b.compared,
            "kept": b.kept,
            "seconds": {k: round(v, 1) for k, v in b.seconds.items()},
            "golden_records_by_size": _md(by_size),
            "gate_rows_validated": gate.validated,
            "gate_scope": gate.scope,
        }
    )


@dg.asset(
    group_name="golden",
    deps=[golden_records, review_queue],
    kinds={"sql"},
    description=(
        "The golden records, xref, redirects and review queue made current in the serving store, in one transaction "
        "(a new version only where values changed). A dry run publishes nothing and reports what it would publish."
    ),
)
def published_golden(
    context: dg.AssetExecutionContext,
    hub: HubResource,
    workspace: WorkspaceResource,
    serving_store: ServingStoreResource,
) -> dg.MaterializeResult:
    with workspace.open() as (cfg, ws), serving_store.open(cfg) as engine:
        t = time.perf_counter()
        must_link, _ = _decisions(engine)
        p = publish_build(ws, cfg, engine, must_link, progress=context.log.info, dry_run=hub.dry_run)
        if p.run_id:  # the build is published: if the gate passed it, the next gate may start from it
            expectations.gate.mark_published(ws, p.run_id)
    run = {"run_id": p.run_id} if p.run_id else {}  # a dry run publishes none
    return dg.MaterializeResult(
        metadata={"dry_run": hub.dry_run, **run, **p.counts(), "seconds": round(time.perf_counter() - t, 1)}
    )


@dg.asset(
    group_name="golden",
    deps=[published_golden],
    kinds={"sql"},
    description=(
        "Retention (hub.yaml retention:): superseded golden-record versions, write-back audit rows, PII read log "
        "entries older than their setting deleted from the serving store, counted per table. A dry run counts."
    ),
)
def retention_purge(hub: HubResource, serving_store: ServingStoreResource) -> dg.MaterializeResult:
    cfg = hub.config()
    with serving_store.open(cfg) as engine:
        counts = store.purge(engine, cfg.retention.days(), dry_run=hub.dry_run)
    return dg.MaterializeResult(metadata={"dry_run": hub.dry_run, **{f"purged_{t}": n for t, n in counts.items()}})


def pipeline_assets(cfg: HubConfig) -> list[dg.AssetsDefinition]:
    raw = [source_asset(name, src.kind) for name, src in cfg.sources.items()]
    core = [match_model, scored_pairs, clusters, review_queue, golden_records, published_golden, retention_purge]
    return [*raw, standardized_asset(list(cfg.sources)), *core, *(writeback_asset(name) for name in cfg.sources)]
