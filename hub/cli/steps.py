"""The pipeline's steps one at a time (`hub pull`, `hub model`, `hub match`, `hub golden`, `hub writeback`) and
all of them in one Dagster run (`hub run`). Each calls the same stage function the pipeline calls."""

from __future__ import annotations

import argparse

from hub.catalogue import FIELD_WARNINGS, QUARANTINE
from hub.cli.context import sources, workspace
from hub.cli.report import progress, run_summary, table
from hub.cli.stages import Stages
from hub.config import load_config


def cmd_pull(args: argparse.Namespace, stages: Stages) -> int:
    with workspace(args) as (cfg, ws):
        names = sources(args, cfg)
        results = [
            stages.pull_source(cfg, n, ws, full=args.full, reconcile=args.reconcile, progress=progress) for n in names
        ]
        reasons = [
            [n, r["problem"], int(r["rows"])] for n in names for r in ws.quarantine_reasons(n).to_dict("records")
        ]
        warnings = [
            [n, w["field"], w["column"], w["reason"], int(w["records"])]
            for n in names
            for w in ws.warning_counts(n).to_dict("records")
        ]
    rows = [
        [
            r.source,
            r.mode,
            r.rows_read,
            r.records,
            r.quarantined,
            r.warned,
            r.future,
            r.behind_cursor,
            r.deleted,
            r.erased,
            r.staged_total,
            r.quarantined_total,
            r.warned_total,
            f"{r.seconds:.1f}",
            f"{r.rows_per_second:,.0f}",
        ]
        for r in results
    ]
    print(
        table(
            [
                "source",
                "mode",
                "read",
                "staged",
                "quarantined",
                "with warnings",
                "future-stamped",
                "behind cursor",
                "deleted",
                "erased subject",
                "staged total",
                "quarantine total",
                "warnings total",
                "seconds",
                "rows/s",
            ],
            rows,
        )
    )
    if reasons:
        where = f"the rows, with every reason, are in the workspace table {QUARANTINE!r}"
        print(f"\nquarantined rows by problem ({where}):")
        print(table(["source", "problem", "rows"], reasons))
    if warnings:
        print(
            "\nstaged records with a value read as missing, by field (each value is in the workspace table "
            f"{FIELD_WARNINGS!r}):"
        )
        print(table(["source", "field", "column", "problem", "records"], warnings))
    print(f"\nworkspace: {cfg.workspace}")
    return 0


def cmd_model_train(args: argparse.Namespace, stages: Stages) -> int:
    with workspace(args) as (cfg, ws):
        saved = stages.train(ws, cfg, progress=progress)
    print(f"model v{saved.version} trained on {saved.records:,} records; every run scores with it until retrained")
    return 0


def cmd_model_list(args: argparse.Namespace, stages: Stages) -> int:
    with workspace(args) as (_cfg, ws):
        rows = [[f"v{v}", str(at)[:19], n] for v, at, n in stages.model_versions(ws.con)]
    print(table(["version", "trained at", "records"], rows) if rows else "no model trained yet")
    return 0


def cmd_match(args: argparse.Namespace, stages: Stages) -> int:
    from hub import store
    from hub.store.subjects import restricted

    with workspace(args) as (cfg, ws):
        with store.opened_for(cfg) as engine, engine.connect() as conn:
            must_link, cannot_link = store.decisions(conn)
            frozen = restricted(conn)
        r = stages.match(ws, cfg, must_link, cannot_link, progress=progress, frozen=frozen)
    m = cfg.matching
    print(table(
        ["records", "model", "pairs scored", f"auto-merge pairs (>= {m.auto_match_threshold})",
         f"review candidates ([{m.review_threshold}, {m.auto_match_threshold}))", "clusters", "multi-record"],
        [[r.records, f"v{r.model_version}" + (" (new)" if r.trained else ""), r.pairs_scored, r.auto_pairs,
          r.review_candidates, r.clusters, r.multi_record_clusters]],
    ))  # fmt: skip
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()))
    return 0


def cmd_golden(args: argparse.Namespace, stages: Stages) -> int:
    from hub import store

    with workspace(args) as (cfg, ws), store.opened_for(cfg) as engine:
        with engine.connect() as conn:
            must_link, _ = store.decisions(conn)
        r = stages.build_and_publish(ws, cfg, engine, must_link, progress=progress)
    p = r.published
    print(table(
        ["run", "golden records", "new versions", "changed", "lineage only", "unchanged", "ids minted", "merged away",
         "xref changes"],
        [[r.run_id, r.golden_records, p["new"], p["changed"], p["lineage_updated"], p["unchanged"], r.minted,
          r.merged_away, p["xref_changed"]]],
    ))  # fmt: skip
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()))
    print(f"serving store: {cfg.serving_store}")
    return 0


def cmd_run(args: argparse.Namespace, stages: Stages) -> int:
    load_config(args.config)  # a bad hub.yaml fails here with its key and exit code 2
    r = stages.run_pipeline(
        args.config, full=args.full, dry_run=args.dry_run, reconcile=args.reconcile, log_level=args.log_level
    )
    print(run_summary(r))
    return 0 if r.success and not r.blocked else 1


def cmd_writeback(args: argparse.Namespace, stages: Stages) -> int:
    import pandas as pd

    from hub import store

    diff_rows = 20

    def shown(value: str | float | None) -> str:  # one line of the diff: line breaks as \n, missing as (none)
        return "(none)" if pd.isna(value) else str(value).replace("\r", "\\r").replace("\n", "\\n")

    with workspace(args) as (cfg, ws):
        names = sources(args, cfg)
        with store.opened_for(cfg) as engine:
            run_id = stages.run_to_write(ws, engine, args.dry_run)  # None: a dry run's build
            results = [
                stages.write_back(ws, cfg, engine, n, run_id, dry_run=args.dry_run, progress=progress, full=args.full)
                for n in names
            ]
    values = f"golden values of run {run_id}" if run_id else "golden values of the dry run's build (never published)"
    print(f"{'dry run: nothing written. ' if args.dry_run else ''}{values}")
    print(table(
        ["source", "planned", "updated", "unchanged", "conflicts", "missing", "ambiguous", "stale", "values changed",
         "recovered", "seconds"],
        [[r.source, r.planned, r.updated, r.unchanged, r.conflicts, r.missing, r.ambiguous, r.stale, r.values_changed,
          r.recovered, f"{r.seconds:.1f}"] for r in results],
    ))  # fmt: skip
    for r in results:
        if r.styles:
            print(f"{r.source} writes: " + "; ".join(s.describe() for s in r.styles.values()))
        if r.address_kept:
            print(
                f"{r.source}: {r.address_kept:,} rows keep their own address (another place, not outdated by evidence)"
            )
        if r.conflicted:
            print(
                f"{r.source}: {r.conflicted:,} rows left alone: their golden record holds two birth dates, "
                "two countries or two first names (two people?)"
            )
    if args.dry_run:
        for r in results:
            if r.changes.empty:
                continue
            head = r.changes.sort_values(["source_key", "column"], kind="stable").head(diff_rows)
            print(f"\n{r.source}: would change")
            print(table(
                ["key", "column", "old -> new"],
                [[k, c, f"{shown(o)} -> {shown(n)}"]
                 for k, c, o, n in zip(head.source_key, head.column, head.old_value, head.new_value, strict=True)],
            ))  # fmt: skip
            if len(r.changes) > diff_rows:
                print(f"... and {len(r.changes) - diff_rows:,} more")
    for r in results:
        if r.conflict_rows.empty:
            continue
        head = r.conflict_rows.head(diff_rows)
        print(f"\n{r.source}: skipped")
        print(
            table(
                ["key", "status", "why"],
                [list(row) for row in head[["source_key", "status", "detail"]].itertuples(index=False)],
            )
        )
        if len(r.conflict_rows) > diff_rows:
            print(f"... and {len(r.conflict_rows) - diff_rows:,} more")
    if not args.dry_run:
        print(f"\naudit: {sum(r.values_changed for r in results):,} changes in writeback_audit (run {run_id})")
    print(f"serving store: {cfg.serving_store}")
    return 0
