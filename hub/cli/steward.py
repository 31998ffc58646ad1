"""Steward work from the command line (`hub review list|decide|apply`)."""

from __future__ import annotations

import argparse
import sys

from hub.cli.context import serving_store
from hub.cli.report import golden_table, outcome, status, table
from hub.cli.stages import Stages
from hub.config import load_config


def cmd_review_list(args: argparse.Namespace, stages: Stages) -> int:
    from hub import store

    with serving_store(args) as engine, engine.connect() as conn:
        total, rows = store.review_page(conn, args.min_probability, args.max_probability, args.source, limit=args.limit)
    pairs = [[r.id_l, r.id_r, f"{r.match_probability:.3f}", r.golden_id_l or "-", r.golden_id_r or "-"] for r in rows]
    print(table(["record", "other record", "probability", "golden id", "other golden id"], pairs) if rows else "")
    print(f"{total:,} pair(s) in the queue" + (f", {len(rows):,} shown" if total > len(rows) else ""))
    return 0


def cmd_review_decide(args: argparse.Namespace, stages: Stages) -> int:
    from hub import store

    try:
        with serving_store(args) as engine, store.write_transaction(engine) as conn:
            store.decide(conn, args.id_l, args.id_r, args.decision, args.by, args.note)
    except ValueError as exc:  # unknown record, contradiction: nothing was stored
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.decision} {args.id_l} ~ {args.id_r} recorded by {args.by}; "
        "`hub review apply` applies it now, or the next pipeline run will"
    )
    return 0


def cmd_review_apply(args: argparse.Namespace, stages: Stages) -> int:
    load_config(args.config)
    r = stages.run_apply(args.config, args.log_level)
    lines = [f"apply_decisions run {r.run_id}: {status(r)}", "", golden_table(r), "", *outcome(r, "publish")]
    print("\n".join(lines))
    return 0 if r.success and not r.blocked else 1
