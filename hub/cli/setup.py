"""Getting started: `hub demo init` (demo sources and their hub.yaml) and `hub config check`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hub.cli.report import progress, table
from hub.cli.stages import Stages
from hub.config import load_config


def cmd_demo_init(args: argparse.Namespace, stages: Stages) -> int:
    summary = stages.init_demo(
        Path(args.dir),
        customers=args.customers,
        seed=args.seed,
        force=args.force,
        progress=progress,
        flavour=args.flavour,
    )
    rows = [[s, t, n] for s, tables in summary.tables.items() for t, n in tables.items()]
    print(table(["source", "table", "rows"], rows))
    print(f"\nconfig:       {summary.config_path}\nground truth: {summary.ground_truth_path}")
    print(f"truth values: {summary.truth_values_path}")
    return 0


def cmd_config_check(args: argparse.Namespace, stages: Stages) -> int:
    from hub.encryption import key_for
    from hub.store import store_problems

    cfg = load_config(args.config)
    plan = stages.matching_plan(cfg)  # an impossible matching choice is a ConfigError too (exit code 2)
    if not args.offline:
        problems = [p for name in cfg.sources for p in stages.source_problems(cfg, name)]
        problems += store_problems(cfg.serving_store, key_for(cfg))
        for problem in problems:
            print(f"error: {args.config}: {problem}", file=sys.stderr)
        if problems:
            return 2
    checked = "not connected (--offline)" if args.offline else "every source and the serving store connected"
    print(f"{args.config}: ok ({len(cfg.sources)} sources: {', '.join(cfg.sources)}; {checked})")
    print("\nmatching plan (from the fields the sources map; the first run sizes blocking keys on the records):")
    print(plan.describe())
    from hub.access import describe

    print("\nfield-level access (access:):")
    print(describe(cfg))
    kept = ", ".join(f"{k.removesuffix('_days')} {d} days" for k, d in cfg.retention.days().items() if d is not None)
    print(f"\nretention (retention:): {kept or 'everything kept'}")
    memory = cfg.workspace_memory_limit or "DuckDB's default, 80% of this machine's"
    print(f"\nworkspace: {cfg.workspace} (memory: {memory}; workspace_memory_limit:)")
    return 0
