"""The `hub` command line. Each command calls the same function the pipeline calls.

Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage (the message names the key).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hub.config import ConfigError, HubConfig, load_config

if TYPE_CHECKING:
    import sqlalchemy as sa

    from hub.workspace import Workspace
    from pipelines.run import PipelineSummary

DEFAULT_CONFIG = "hub.yaml"


@contextmanager
def _workspace(args: argparse.Namespace) -> Iterator[tuple[HubConfig, Workspace]]:
    """The validated config and its workspace, held for this command alone and closed when it is done."""
    from hub.workspace import Workspace, exclusive

    cfg = load_config(args.config)
    wait = cfg.pipeline.workspace_wait_seconds
    with exclusive(cfg.workspace, f"hub {args.command}", wait, _progress):
        ws = Workspace.for_config(cfg)
        try:
            yield cfg, ws
        finally:
            ws.close()


def _store(args: argparse.Namespace) -> AbstractContextManager[sa.Engine]:
    """The config's serving store, disposed when the command is done."""
    from hub import store

    return store.opened(load_config(args.config).serving_store)


def _progress(line: str) -> None:
    print(f"  .. {line}", file=sys.stderr, flush=True)


def _table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[f"{v:,}" if isinstance(v, int) else str(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    fmt = lambda r: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))  # noqa: E731
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in cells)])


def cmd_demo_init(args: argparse.Namespace) -> int:
    from connectors.demo import init_demo

    summary = init_demo(
        Path(args.dir),
        customers=args.customers,
        seed=args.seed,
        force=args.force,
        progress=_progress,
        flavour=args.flavour,
    )
    rows = [[s, t, n] for s, tables in summary.tables.items() for t, n in tables.items()]
    print(_table(["source", "table", "rows"], rows))
    print(f"\nconfig:       {summary.config_path}\nground truth: {summary.ground_truth_path}")
    print(f"truth values: {summary.truth_values_path}")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    from connectors.check import source_problems
    from hub.store import store_problems
    from matching.plan import for_config

    cfg = load_config(args.config)
    plan = for_config(cfg)  # an impossible matching choice is a ConfigError too (exit code 2)
    if not args.offline:
        problems = [p for name in cfg.sources for p in source_problems(cfg, name)]
        problems += store_problems(cfg.serving_store)
        for problem in problems:
            print(f"error: {args.config}: {problem}", file=sys.stderr)
        if problems:
            return 2
    checked = "not connected (--offline)" if args.offline else "every source and the serving store connected"
    print(f"{args.config}: ok ({len(cfg.sources)} sources: {', '.join(cfg.sources)}; {checked})")
    print("\nmatching plan (from the fields the sources map; the first run sizes blocking keys on the records):")
    print(plan.describe())
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    from connectors import pull_source

    with _workspace(args) as (cfg, ws):
        names = args.source or list(cfg.sources)
        unknown = [n for n in names if n not in cfg.sources]
        if unknown:
            raise ConfigError(
                "sources", f"no source named {unknown} (configured: {list(cfg.sources)})", Path(args.config)
            )
        results = [pull_source(cfg, n, ws, full=args.full, reconcile=args.reconcile, progress=_progress) for n in names]
        reasons = [[n, r.problem, int(r.rows)] for n in names for r in ws.quarantine_reasons(n).itertuples()]
        warnings = [
            [n, w.field, w.column, w.reason, int(w.records)] for n in names for w in ws.warning_counts(n).itertuples()
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
            r.staged_total,
            r.quarantined_total,
            r.warned_total,
            f"{r.seconds:.1f}",
            f"{r.rows_per_second:,.0f}",
        ]
        for r in results
    ]
    print(
        _table(
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
        print("\nquarantined rows by problem (the rows, with every reason, are in the workspace table 'quarantine'):")
        print(_table(["source", "problem", "rows"], reasons))
    if warnings:
        print(
            "\nstaged records with a value read as missing, by field (each value is in the workspace table "
            "'field_warnings'):"
        )
        print(_table(["source", "field", "column", "problem", "records"], warnings))
    print(f"\nworkspace: {cfg.workspace}")
    return 0


def cmd_model_train(args: argparse.Namespace) -> int:
    from matching.run import train

    with _workspace(args) as (cfg, ws):
        saved = train(ws, cfg, progress=_progress)
    print(f"model v{saved.version} trained on {saved.records:,} records; every run scores with it until retrained")
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    from matching import models

    with _workspace(args) as (_cfg, ws):
        rows = [[f"v{v}", str(at)[:19], n] for v, at, n in models.versions(ws.con)]
    print(_table(["version", "trained at", "records"], rows) if rows else "no model trained yet")
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    from hub import store
    from matching.run import match

    with _workspace(args) as (cfg, ws):
        with store.opened(cfg.serving_store) as engine, engine.connect() as conn:
            must_link, cannot_link = store.decisions(conn)
        r = match(ws, cfg, must_link, cannot_link, progress=_progress)
    m = cfg.matching
    print(_table(
        ["records", "model", "pairs scored", f"auto-merge pairs (>= {m.auto_match_threshold})",
         f"review candidates ([{m.review_threshold}, {m.auto_match_threshold}))", "clusters", "multi-record"],
        [[r.records, f"v{r.model_version}" + (" (new)" if r.trained else ""), r.pairs_scored, r.auto_pairs,
          r.review_candidates, r.clusters, r.multi_record_clusters]],
    ))  # fmt: skip
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()))
    return 0


def cmd_golden(args: argparse.Namespace) -> int:
    from golden_record.run import build_and_publish
    from hub import store

    with _workspace(args) as (cfg, ws), store.opened(cfg.serving_store) as engine:
        with engine.connect() as conn:
            must_link, _ = store.decisions(conn)
        r = build_and_publish(ws, cfg, engine, must_link, progress=_progress)
    p = r.published
    print(_table(
        ["run", "golden records", "new versions", "changed", "lineage only", "unchanged", "ids minted", "merged away",
         "xref changes"],
        [[r.run_id, r.golden_records, p["new"], p["changed"], p["lineage_updated"], p["unchanged"], r.minted,
          r.merged_away, p["xref_changed"]]],
    ))  # fmt: skip
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()))
    print(f"serving store: {cfg.serving_store}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from pipelines.run import run_pipeline

    load_config(args.config)  # a bad hub.yaml fails here with its key and exit code 2
    r = run_pipeline(
        args.config, full=args.full, dry_run=args.dry_run, reconcile=args.reconcile, log_level=args.log_level
    )
    print(run_summary(r))
    return 0 if r.success and not r.blocked else 1


def run_summary(r: PipelineSummary) -> str:
    """The end-of-run report of `hub run` and `make demo`."""
    lines = [f"pipeline run {r.run_id}: {_status(r)}", ""]
    if r.dry_run:
        lines += [
            "DRY RUN: nothing was written anywhere but the workspace: no publish, no run-log row, no ids minted, "
            "nothing written back. Below is what a real run would do.",
            "",
        ]
    pulls = [
        [s, r.value(f"raw_{s}", "mode", "-"), r.value(f"raw_{s}", "rows_read", 0),
         r.value(f"raw_{s}", "rows_quarantined", 0), r.value(f"raw_{s}", "rows_with_warnings", 0),
         r.value(f"raw_{s}", "rows_future_stamped", 0), r.value(f"raw_{s}", "rows_behind_cursor", 0),
         r.value(f"raw_{s}", "rows_deleted", 0), r.value(f"raw_{s}", "staged_total", 0),
         r.value(f"raw_{s}", "quarantined_total", 0), r.value(f"raw_{s}", "warned_total", 0)]
        for s in r.sources
    ]  # fmt: skip
    heads = ["source", "pull", "read", "quarantined", "with warnings", "future-stamped", "behind cursor", "deleted",
             "staged total", "quarantined total", "warnings total"]  # fmt: skip
    lines += [_table(heads, pulls), ""]
    lines += [_golden_table(r), ""]
    writes = [
        [s, r.value(f"writeback_{s}", "rows_planned", "-"), r.value(f"writeback_{s}", "rows_updated", "-"),
         r.value(f"writeback_{s}", "values_changed", "-"), r.value(f"writeback_{s}", "conflicts", "-"),
         r.value(f"writeback_{s}", "ambiguous", "-"), r.value(f"writeback_{s}", "address_kept", "-"),
         r.value(f"writeback_{s}", "conflicted", "-"), r.value(f"writeback_{s}", "recovered", "-")]
        for s in r.sources
    ]  # fmt: skip
    dry = any(r.value(f"writeback_{s}", "dry_run") for s in r.sources)
    lines.append("write-back" + (" (DRY RUN: nothing written)" if dry else "") + ":")
    heads = ["source", "rows planned", "rows updated", "values written", "conflicts skipped", "ambiguous key",
             "own address kept", "two people?", "recovered"]  # fmt: skip
    lines += [_table(heads, writes), ""]
    for s in r.sources:
        if r.value(f"writeback_{s}", "ambiguous"):
            keys = r.value(f"writeback_{s}", "ambiguous_keys")
            lines += [f"{s}: {r.value(f'writeback_{s}', 'ambiguous'):,} rows not written, their key matches several "
                      f"source rows (batch rolled back or duplicate key): {keys}", ""]  # fmt: skip
    if dry:
        for s in r.sources:
            preview = r.value(f"writeback_{s}", "changes_preview")
            lines += [f"{s}: first changes that would be written", str(preview), ""]
    lines += _outcome(r, "publish and write-back")
    return "\n".join(lines)


def _status(r: PipelineSummary) -> str:
    return "BLOCKED by a quality gate" if r.blocked else ("succeeded" if r.success else "FAILED")


def _golden_table(r: PipelineSummary) -> str:
    """Golden records and their publish; for a dry run, what would be minted and published."""
    golden = r.metadata.get("golden_records", {})
    published = r.metadata.get("published_golden", {})
    run = "dry run: would publish" if published.get("dry_run") else published.get("run_id", "not published")
    return _table(
        ["golden records", "ids minted", "merged away", "auto-merge pairs", "records merged", "review queue",
         "published run", "new versions", "changed", "lineage only", "retired"],
        [[golden.get("golden_records", "-"), golden.get("minted", "-"), golden.get("merged_away", "-"),
          r.value("clusters", "auto_merge_pairs", "-"), r.value("clusters", "records_merged", "-"),
          r.value("review_queue", "queue_size", "-"), run, published.get("new", "-"), published.get("changed", "-"),
          published.get("lineage_updated", "-"), published.get("retired", "-")]],
    )  # fmt: skip


def _outcome(r: PipelineSummary, gated: str) -> list[str]:
    """Expectation results, then what a blocking one stopped, skipped steps and errors."""
    checks = [[c.asset, "pass" if c.passed else "FAIL", "yes" if c.blocking else "no", c.summary] for c in r.checks]
    lines = ["expectations:", _table(["asset", "result", "blocking", "summary"], checks)]
    if r.blocked:
        lines += ["", f"{gated} did not run: a blocking expectation on golden records failed (above)."]
    if r.skipped_steps:
        lines.append(f"skipped: {', '.join(r.skipped_steps)}")
    for e in r.errors:
        lines += ["", f"error in {e}"]
    return lines


def cmd_writeback(args: argparse.Namespace) -> int:
    import pandas as pd

    from connectors.writeback import WritebackError, run_to_write, write_back
    from hub import store

    diff_rows = 20

    def shown(value: object) -> str:  # one line of the diff: line breaks as \n, missing as (none)
        return "(none)" if pd.isna(value) else str(value).replace("\r", "\\r").replace("\n", "\\n")

    with _workspace(args) as (cfg, ws):
        names = args.source or list(cfg.sources)
        unknown = [n for n in names if n not in cfg.sources]
        if unknown:
            raise ConfigError(
                "sources", f"no source named {unknown} (configured: {list(cfg.sources)})", Path(args.config)
            )
        with store.opened(cfg.serving_store) as engine:
            try:
                run_id = run_to_write(ws, engine, args.dry_run)  # None: a dry run's build
                results = [
                    write_back(ws, cfg, engine, n, run_id, dry_run=args.dry_run, progress=_progress) for n in names
                ]
            except WritebackError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
    values = f"golden values of run {run_id}" if run_id else "golden values of the dry run's build (never published)"
    print(f"{'dry run: nothing written. ' if args.dry_run else ''}{values}")
    print(_table(
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
                f"{r.source}: {r.conflicted:,} rows left alone: their golden record holds two birth dates or "
                "two countries (two people?)"
            )
    if args.dry_run:
        for r in results:
            if r.changes.empty:
                continue
            head = r.changes.sort_values(["source_key", "column"], kind="stable").head(diff_rows)
            print(f"\n{r.source}: would change")
            print(_table(
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
            _table(
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


def cmd_review_list(args: argparse.Namespace) -> int:
    from hub import store

    with _store(args) as engine, engine.connect() as conn:
        total, rows = store.review_page(conn, args.min_probability, args.max_probability, args.source, limit=args.limit)
    table = [[r.id_l, r.id_r, f"{r.match_probability:.3f}", r.golden_id_l or "-", r.golden_id_r or "-"] for r in rows]
    print(_table(["record", "other record", "probability", "golden id", "other golden id"], table) if rows else "")
    print(f"{total:,} pair(s) in the queue" + (f", {len(rows):,} shown" if total > len(rows) else ""))
    return 0


def cmd_review_decide(args: argparse.Namespace) -> int:
    from hub import store

    try:
        with _store(args) as engine, store.write_transaction(engine) as conn:
            store.decide(conn, args.id_l, args.id_r, args.decision, args.by, args.note)
    except ValueError as exc:  # unknown record, contradiction: nothing was stored
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.decision} {args.id_l} ~ {args.id_r} recorded by {args.by}; "
        "`hub review apply` applies it now, or the next pipeline run will"
    )
    return 0


def cmd_review_apply(args: argparse.Namespace) -> int:
    from pipelines.build import APPLY_JOB
    from pipelines.run import run_pipeline

    load_config(args.config)
    r = run_pipeline(args.config, log_level=args.log_level, job_name=APPLY_JOB)
    lines = [f"apply_decisions run {r.run_id}: {_status(r)}", "", _golden_table(r), "", *_outcome(r, "publish")]
    print("\n".join(lines))
    return 0 if r.success and not r.blocked else 1


def cmd_export(args: argparse.Namespace) -> int:
    from hub.export import export

    with _store(args) as engine:
        n = export(engine, args.table, Path(args.out), args.format)
    print(f"{n:,} {args.table} rows written to {args.out}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn
    from sqlalchemy import make_url

    from hub.api import create_app

    cfg = load_config(args.config)
    shown = make_url(cfg.serving_store).render_as_string(hide_password=True)
    print(f"serving {shown} on http://{args.host}:{args.port} (OpenAPI: /docs)", file=sys.stderr)
    uvicorn.run(create_app(cfg, config_path=args.config), host=args.host, port=args.port, log_level=args.log_level)
    return 0


def cmd_apikey_create(args: argparse.Namespace) -> int:
    from hub.api import keys

    with _store(args) as engine:
        key, raw = keys.create_key(engine, args.name, args.role)
    print(f"API key {key.key_id} ({key.role}, {key.name!r}) created. The key, shown this once (only a hash is kept):")
    print(raw)
    return 0


def cmd_apikey_list(args: argparse.Namespace) -> int:
    from hub.api import keys

    with _store(args) as engine:
        rows = [
            [k.key_id, k.name, k.role, str(k.created_at)[:19], str(k.revoked_at)[:19] if k.revoked_at else "-"]
            for k in keys.list_keys(engine)
        ]
    print(_table(["key id", "name", "role", "created", "revoked"], rows) if rows else "no API keys yet")
    return 0


def cmd_apikey_revoke(args: argparse.Namespace) -> int:
    from hub.api import keys

    with _store(args) as engine:
        done = keys.revoke_key(engine, args.key_id)
    if not done:
        print(f"error: no live API key {args.key_id!r} (see hub apikey list)", file=sys.stderr)
        return 1
    print(f"API key {args.key_id} revoked")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Customer data hub")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="demo source systems").add_subparsers(dest="demo_command", required=True)
    init = demo.add_parser("init", help="create four demo source databases, a hub.yaml and the ground-truth files")
    init.add_argument("--dir", required=True, help="directory to create them in")
    init.add_argument("--customers", type=int, default=2000, help="number of distinct people (default 2000)")
    init.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same data")
    init.add_argument("--force", action="store_true", help="replace demo databases already in DIR")
    init.add_argument(
        "--flavour",
        choices=("default", "international"),
        default="default",
        help="where the people come from: default (GB, US) or international (IE, DE, FR, AU)",
    )
    init.set_defaults(func=cmd_demo_init)

    config = sub.add_parser("config", help="hub.yaml").add_subparsers(dest="config_command", required=True)
    check = config.add_parser(
        "check", help="validate a hub.yaml and check it against every source and the serving store"
    )
    check.add_argument("--config", default=DEFAULT_CONFIG)
    check.add_argument("--offline", action="store_true", help="validate the file alone; connect to nothing")
    check.set_defaults(func=cmd_config_check)

    pull = sub.add_parser("pull", help="pull sources into the workspace (incremental once a cursor exists)")
    pull.add_argument("--config", default=DEFAULT_CONFIG)
    pull.add_argument("--source", action="append", help="only this source (repeatable)")
    pull.add_argument("--full", action="store_true", help="ignore saved cursors and re-read every row")
    pull.add_argument("--reconcile", action="store_true",
                      help="compare every row's values with staging, not only keys")  # fmt: skip
    pull.set_defaults(func=cmd_pull)

    match = sub.add_parser("match", help="standardize, score and cluster the pulled records")
    match.add_argument("--config", default=DEFAULT_CONFIG)
    match.set_defaults(func=cmd_match)

    golden = sub.add_parser("golden", help="build golden records from the clusters and publish them")
    golden.add_argument("--config", default=DEFAULT_CONFIG)
    golden.set_defaults(func=cmd_golden)

    run = sub.add_parser("run", help="run the whole Dagster pipeline in this process and print a summary")
    run.add_argument("--config", default=DEFAULT_CONFIG)
    run.add_argument("--full", action="store_true", help="ignore saved cursors and re-read every source row")
    run.add_argument("--reconcile", action="store_true",
                     help="compare every row's values with staging, not only keys")  # fmt: skip
    run.add_argument("--dry-run", action="store_true",
                     help="report what would be published and written back; write nothing (no publish, no run log, "
                          "no minted ids, no write-back)")  # fmt: skip
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                     help="Dagster console log level for progress lines (default INFO)")  # fmt: skip
    run.set_defaults(func=cmd_run)

    wb = sub.add_parser("writeback", help="write the harmonized golden values back into the sources")
    wb.add_argument("--config", default=DEFAULT_CONFIG)
    wb.add_argument("--source", action="append", help="only this source (repeatable)")
    wb.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
    wb.set_defaults(func=cmd_writeback)

    review = sub.add_parser("review", help="the steward review queue").add_subparsers(dest="review_command",
                                                                                     required=True)  # fmt: skip
    rl = review.add_parser("list", help="uncertain pairs nobody decided yet, strongest first")
    rl.add_argument("--config", default=DEFAULT_CONFIG)
    rl.add_argument("--min-probability", type=float, default=0.0)
    rl.add_argument("--max-probability", type=float, default=1.0)
    rl.add_argument("--source", help="only pairs with a record of this source")
    rl.add_argument("--limit", type=int, default=20, help="pairs to show (default 20)")
    rl.set_defaults(func=cmd_review_list)
    rd = review.add_parser("decide", help="record a steward decision about two source records")
    rd.add_argument("id_l", help="a record id, source_system:source_key")
    rd.add_argument("id_r", help="the other record id")
    rd.add_argument("decision", choices=["match", "not_match"])
    rd.add_argument("--by", required=True, help="who decides (stored with the decision)")
    rd.add_argument("--note", help="why")
    rd.add_argument("--config", default=DEFAULT_CONFIG)
    rd.set_defaults(func=cmd_review_decide)
    ra = review.add_parser(
        "apply", help="apply steward decisions and pins to golden records now (re-cluster, rebuild, gate, publish)"
    )
    ra.add_argument("--config", default=DEFAULT_CONFIG)
    ra.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    ra.set_defaults(func=cmd_review_apply)

    exp = sub.add_parser("export", help="export golden records or the xref from the serving store")
    exp.add_argument("table", choices=["golden", "xref"])
    exp.add_argument("--out", required=True, help="file to write (.csv or .parquet)")
    exp.add_argument("--format", choices=["csv", "parquet"], help="default: from the file extension")
    exp.add_argument("--config", default=DEFAULT_CONFIG)
    exp.set_defaults(func=cmd_export)

    serve = sub.add_parser("serve", help="serve the REST API over the serving store (uvicorn)")
    serve.add_argument("--config", default=DEFAULT_CONFIG)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(func=cmd_serve)

    apikey = sub.add_parser("apikey", help="REST API keys").add_subparsers(dest="apikey_command", required=True)
    create = apikey.add_parser("create", help="create a key and print it (once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--role", required=True, choices=["reader", "steward", "admin"])
    create.add_argument("--config", default=DEFAULT_CONFIG)
    create.set_defaults(func=cmd_apikey_create)
    keys = apikey.add_parser("list", help="list keys (ids, names, roles; never the keys)")
    keys.add_argument("--config", default=DEFAULT_CONFIG)
    keys.set_defaults(func=cmd_apikey_list)
    revoke = apikey.add_parser("revoke", help="revoke a key; requests with it are refused from then on")
    revoke.add_argument("key_id")
    revoke.add_argument("--config", default=DEFAULT_CONFIG)
    revoke.set_defaults(func=cmd_apikey_revoke)

    model = sub.add_parser("model", help="the match model").add_subparsers(dest="model_command", required=True)
    train = model.add_parser("train", help="train a new model version on the pulled records")
    train.add_argument("--config", default=DEFAULT_CONFIG)
    train.set_defaults(func=cmd_model_train)
    listing = model.add_parser("list", help="list trained model versions")
    listing.add_argument("--config", default=DEFAULT_CONFIG)
    listing.set_defaults(func=cmd_model_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    from connectors import SourceError

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, SourceError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
