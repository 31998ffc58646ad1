"""Matching accuracy on the demo data against its ground truth: the hub's matcher and a plain
Splink baseline (written the way Splink's tutorial does it) on the same pulled records.

Prints, at the auto-match threshold: pair, pairwise-cluster and exact-cluster precision / recall /
F1 (definitions in benchmarks/linkage_metrics.py), clusters (golden records to be) vs true people,
the review queue, seconds, and per matcher the blocking ceiling (share of true pairs its blocking
rules ever compare) and the comparisons they generate (benchmarks/blocking_ceiling.py), then the
hub's missed true pairs by cause with a few examples (benchmarks/missed_pairs.py).

    python benchmarks/matching_accuracy.py --customers 20000 --seed 42            # generate a demo (temp dir)
    python benchmarks/matching_accuracy.py --customers 20000 --flavour international
    python benchmarks/matching_accuracy.py --dir demo                             # an existing demo
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import blocking_ceiling
import linkage_metrics as lm
import missed_pairs
import pandas as pd
import plain_splink

from connectors import pull_source
from connectors.demo import bad_rows, init_demo
from connectors.demo.flavours import FLAVOURS
from hub.catalogue import CLUSTERS, PAIRS, STAGED, STANDARDIZED, record_id_sql, record_ids
from hub.config import load_config
from hub.workspace import Workspace
from matching import models
from matching.run import match


def baseline(ws: Workspace, threshold: float) -> tuple[pd.DataFrame, pd.DataFrame, float, dict]:
    t = time.perf_counter()
    lk = plain_splink.linker(ws)
    model = plain_splink.train(lk)
    pairs, labels, _ = plain_splink.predict_and_cluster(lk, threshold)
    return pairs, labels, time.perf_counter() - t, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="existing demo directory (with hub.yaml, ground_truth.csv)")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--flavour", choices=tuple(FLAVOURS), default="default", help="demo flavour to generate")
    args = parser.parse_args()

    directory = args.dir or Path(tempfile.mkdtemp(prefix="hub-accuracy-"))
    if args.dir is None:
        init_demo(directory, customers=args.customers, seed=args.seed, flavour=args.flavour)
    cfg = load_config(directory / "hub.yaml")
    cfg = cfg.model_copy(update={"workspace": directory / ".bench-accuracy" / "workspace.duckdb"})
    if cfg.workspace.exists():
        cfg.workspace.unlink()
    ws = Workspace.for_config(cfg)
    for name in cfg.sources:
        pull_source(cfg, name, ws, full=True)

    truth = pd.read_csv(directory / "ground_truth.csv", dtype=str, keep_default_na=False)
    truth["record_id"] = record_ids(truth.source_system, truth.source_key)
    staged = set(ws.con.execute(f"SELECT {record_id_sql()} FROM {STAGED}").df().iloc[:, 0])
    # The ingest rule: only a missing key quarantines; an unreadable date or phone is a field warning, and its record
    # is matched on the rest, so it stays in the truth.
    warned = truth[truth.bad_reason.ne("") & ~truth.bad_reason.isin(bad_rows.QUARANTINED)]
    if lost := sorted(set(warned.record_id) - staged):
        raise SystemExit(f"records with only a field warning were not staged: {lost[:5]}")
    truth = truth[truth.record_id.isin(staged)][["record_id", "person_id"]]
    truth_pairs = lm.true_pairs(truth)
    threshold = cfg.matching.auto_match_threshold

    t = time.perf_counter()
    result = match(ws, cfg)
    hub_seconds = time.perf_counter() - t
    auto = ws.con.execute(
        f"SELECT unique_id_l AS id_l, unique_id_r AS id_r FROM {PAIRS} WHERE match_probability >= ?", [threshold]
    ).df()
    hub_labels = ws.con.execute(f"SELECT record_id, cluster_id FROM {CLUSTERS}").df()
    base_pairs, base_labels, base_seconds, base_model = baseline(ws, threshold)
    base_pairs = base_pairs.rename(columns={"unique_id_l": "id_l", "unique_id_r": "id_r"})

    people = truth.person_id.nunique()
    print(f"\n{args.flavour if args.dir is None else directory} demo: {len(truth):,} records of {people:,} people "
          f"({len(warned):,} with an unreadable date or phone, matched on the rest); "
          f"{len(truth_pairs):,} true matching pairs; auto-match threshold {threshold}\n")  # fmt: skip
    print(lm.HEADER + f"{'clusters':>10}{'seconds':>9}")
    for name, pairs, labels, seconds in (
        ("hub", auto, hub_labels, hub_seconds),
        ("plain Splink baseline", base_pairs, base_labels, base_seconds),
    ):
        clusters, exact = lm.cluster_scores(labels.merge(truth, on="record_id"))
        extra = f"{labels.cluster_id.nunique():>10,}{seconds:>9.1f}"
        print(lm.line(name, lm.pair_scores(pairs, truth), clusters, exact, extra))
    stages = ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items())
    print(f"\nclusters (golden records) {result.clusters:,} vs true people {people:,}; hub review queue: "
          f"{result.review_candidates:,} pairs in [{cfg.matching.review_threshold}, {threshold}); "
          f"model v{result.model_version}; hub seconds: {stages}")  # fmt: skip

    ws.con.register("_true_pairs", truth_pairs)
    hub_model = models.load(ws.con).model
    rules, source = blocking_ceiling.rule_sqls(hub_model)
    hub_blocking = blocking_ceiling.evaluate(ws.con, STANDARDIZED, "_true_pairs", rules, source)
    print("\nhub " + blocking_ceiling.report(hub_blocking))
    base_rules, _ = blocking_ceiling.rule_sqls(base_model)
    base_blocking = blocking_ceiling.evaluate(ws.con, plain_splink.INPUT, "_true_pairs", base_rules, "its model")
    print("plain Splink " + blocking_ceiling.report(base_blocking))
    ws.con.register("_labels", hub_labels)
    missed = missed_pairs.classify(ws.con, STANDARDIZED, "_true_pairs", "_labels", rules, threshold)
    shown = missed_pairs.examples(ws.con, STANDARDIZED, missed, hub_model)
    print("\nhub " + missed_pairs.report(missed, shown))
    ws.close()


if __name__ == "__main__":
    main()
