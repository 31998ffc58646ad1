"""The `hub` command line. Each command calls the same function the pipeline calls.

Exit codes: 0 ok, 1 runtime failure, 2 bad configuration or usage (the message names the key).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hub.config import ConfigError, HubConfig, load_config

if TYPE_CHECKING:
    from hub.workspace import Workspace

DEFAULT_CONFIG = "hub.yaml"


@contextmanager
def _workspace(args: argparse.Namespace) -> Iterator[tuple[HubConfig, Workspace]]:
    """The validated config and its workspace, closed when the command is done."""
    from hub.workspace import Workspace

    cfg = load_config(args.config)
    ws = Workspace.for_config(cfg)
    try:
        yield cfg, ws
    finally:
        ws.close()


def _progress(line: str) -> None:
    print(f"  .. {line}", file=sys.stderr, flush=True)


def _table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[f"{v:,}" if isinstance(v, int) else str(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    fmt = lambda r: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))  # noqa: E731
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in cells)])


def cmd_demo_init(args: argparse.Namespace) -> int:
    from connectors.demo import init_demo

    summary = init_demo(Path(args.dir), customers=args.customers, seed=args.seed, force=args.force, progress=_progress)
    rows = [[s, t, n] for s, tables in summary.tables.items() for t, n in tables.items()]
    print(_table(["source", "table", "rows"], rows))
    print(f"\nconfig:       {summary.config_path}\nground truth: {summary.ground_truth_path}")
    return 0


def cmd_config_check(args: argparse.Namespace) -> int:
    cfg = load_config(args.config)
    print(f"{args.config}: ok ({len(cfg.sources)} sources: {', '.join(cfg.sources)})")
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
        results = [pull_source(cfg, n, ws, full=args.full, progress=_progress) for n in names]
        reasons = [[n, r.problem, int(r.rows)] for n in names for r in ws.quarantine_reasons(n).itertuples()]
    rows = [
        [
            r.source,
            r.mode,
            r.rows_read,
            r.records,
            r.quarantined,
            r.staged_total,
            r.quarantined_total,
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
                "staged total",
                "quarantine total",
                "seconds",
                "rows/s",
            ],
            rows,
        )
    )
    if reasons:
        print("\nquarantined rows by problem (the rows, with every reason, are in the workspace table 'quarantine'):")
        print(_table(["source", "problem", "rows"], reasons))
    print(f"\nworkspace: {cfg.workspace}")
    return 0


def cmd_model_train(args: argparse.Namespace) -> int:
    from matching.run import train

    with _workspace(args) as (_cfg, ws):
        saved = train(ws, progress=_progress)
    print(f"model v{saved.version} trained on {saved.records:,} records; every run scores with it until retrained")
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    from matching import models

    with _workspace(args) as (_cfg, ws):
        rows = [[f"v{v}", str(at)[:19], n] for v, at, n in models.versions(ws.con)]
    print(_table(["version", "trained at", "records"], rows) if rows else "no model trained yet")
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    from matching.run import match

    with _workspace(args) as (cfg, ws):
        r = match(ws, cfg, progress=_progress)
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

    with _workspace(args) as (cfg, ws):
        engine = store.open_store(cfg.serving_store)
        try:
            r = build_and_publish(ws, cfg, engine, progress=_progress)
        finally:
            engine.dispose()
    p = r.published
    print(_table(
        ["run", "golden records", "new versions", "changed", "unchanged", "ids minted", "merged away", "xref changes"],
        [[r.run_id, r.golden_records, p["new"], p["changed"], p["unchanged"], r.minted, r.merged_away,
          p["xref_changed"]]],
    ))  # fmt: skip
    print("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in r.seconds.items()))
    print(f"serving store: {cfg.serving_store}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from hub import store
    from hub.export import export

    cfg = load_config(args.config)
    engine = store.open_store(cfg.serving_store)
    try:
        n = export(engine, args.table, Path(args.out), args.format)
    finally:
        engine.dispose()
    print(f"{n:,} {args.table} rows written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hub", description="Customer data hub")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="demo source systems").add_subparsers(dest="demo_command", required=True)
    init = demo.add_parser("init", help="create four demo source databases, a hub.yaml and a ground-truth file")
    init.add_argument("--dir", required=True, help="directory to create them in")
    init.add_argument("--customers", type=int, default=2000, help="number of distinct people (default 2000)")
    init.add_argument("--seed", type=int, default=42, help="random seed; the same seed gives the same data")
    init.add_argument("--force", action="store_true", help="replace demo databases already in DIR")
    init.set_defaults(func=cmd_demo_init)

    config = sub.add_parser("config", help="hub.yaml").add_subparsers(dest="config_command", required=True)
    check = config.add_parser("check", help="validate a hub.yaml")
    check.add_argument("--config", default=DEFAULT_CONFIG)
    check.set_defaults(func=cmd_config_check)

    pull = sub.add_parser("pull", help="pull sources into the workspace (incremental once a cursor exists)")
    pull.add_argument("--config", default=DEFAULT_CONFIG)
    pull.add_argument("--source", action="append", help="only this source (repeatable)")
    pull.add_argument("--full", action="store_true", help="ignore saved cursors and re-read every row")
    pull.set_defaults(func=cmd_pull)

    match = sub.add_parser("match", help="standardize, score and cluster the pulled records")
    match.add_argument("--config", default=DEFAULT_CONFIG)
    match.set_defaults(func=cmd_match)

    golden = sub.add_parser("golden", help="build golden records from the clusters and publish them")
    golden.add_argument("--config", default=DEFAULT_CONFIG)
    golden.set_defaults(func=cmd_golden)

    exp = sub.add_parser("export", help="export golden records or the xref from the serving store")
    exp.add_argument("table", choices=["golden", "xref"])
    exp.add_argument("--out", required=True, help="file to write (.csv or .parquet)")
    exp.add_argument("--format", choices=["csv", "parquet"], help="default: from the file extension")
    exp.add_argument("--config", default=DEFAULT_CONFIG)
    exp.set_defaults(func=cmd_export)

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
