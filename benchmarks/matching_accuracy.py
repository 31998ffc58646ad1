"""Matching accuracy on the demo data against its ground truth: the hub's matcher and a plain
Splink baseline (written the way Splink's tutorial does it) on the same pulled records.

Prints, at the auto-match threshold: pairwise precision / recall / F1 of the scored pairs,
the same of the clusters (pairs of records put together), cluster counts, and the review queue.

    python benchmarks/matching_accuracy.py --customers 20000            # generate a demo (temp dir)
    python benchmarks/matching_accuracy.py --dir demo                   # an existing demo
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import plain_splink

from connectors import pull_source
from connectors.demo import init_demo
from hub.config import load_config
from hub.workspace import Workspace
from matching.run import match


def pair_metrics(true_pairs: set, found_pairs: set) -> tuple[float, float, float]:
    tp = len(true_pairs & found_pairs)
    p = tp / len(found_pairs) if found_pairs else 1.0
    r = tp / len(true_pairs) if true_pairs else 1.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def cluster_metrics(labels: pd.DataFrame) -> tuple[float, float, float]:
    """Pair-counting precision/recall over clusters: labels has record_id, cluster_id, person_id."""
    c2 = lambda n: n * (n - 1) // 2  # noqa: E731
    together = labels.groupby(["cluster_id", "person_id"]).size().map(c2).sum()
    predicted = labels.groupby("cluster_id").size().map(c2).sum()
    actual = labels.groupby("person_id").size().map(c2).sum()
    p, r = together / predicted if predicted else 1.0, together / actual if actual else 1.0
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def as_pairs(df: pd.DataFrame, left: str, right: str) -> set:
    return {(a, b) if a < b else (b, a) for a, b in zip(df[left], df[right], strict=True)}


def true_pairs(truth: pd.DataFrame) -> set:
    pairs = truth.merge(truth, on="person_id")
    pairs = pairs[pairs.record_id_x < pairs.record_id_y]
    return set(zip(pairs.record_id_x, pairs.record_id_y, strict=True))


def baseline(ws: Workspace, threshold: float) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    t = time.perf_counter()
    lk = plain_splink.linker(ws)
    plain_splink.train(lk)
    pairs, labels, _ = plain_splink.predict_and_cluster(lk, threshold)
    return pairs, labels, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="existing demo directory (with hub.yaml, ground_truth.csv)")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    directory = args.dir or Path(tempfile.mkdtemp(prefix="hub-accuracy-"))
    if args.dir is None:
        init_demo(directory, customers=args.customers, seed=args.seed)
    cfg = load_config(directory / "hub.yaml")
    cfg = cfg.model_copy(update={"workspace": directory / ".bench-accuracy" / "workspace.duckdb"})
    if cfg.workspace.exists():
        cfg.workspace.unlink()
    ws = Workspace.for_config(cfg)
    for name in cfg.sources:
        pull_source(cfg, name, ws, full=True)

    truth = pd.read_csv(directory / "ground_truth.csv", dtype=str, keep_default_na=False)
    truth["record_id"] = truth.source_system + ":" + truth.source_key
    staged = set(ws.con.execute("SELECT source_system || ':' || source_key FROM staged_records").df().iloc[:, 0])
    truth = truth[truth.record_id.isin(staged)][["record_id", "person_id"]]
    truth_pairs = true_pairs(truth)
    threshold = cfg.matching.auto_match_threshold

    t = time.perf_counter()
    result = match(ws, cfg)
    hub_seconds = time.perf_counter() - t
    auto = ws.con.execute("SELECT unique_id_l, unique_id_r FROM scored_pairs WHERE match_probability >= ?",
                          [threshold]).df()  # fmt: skip
    hub_labels = ws.con.execute("SELECT record_id, cluster_id FROM clusters").df()
    base_pairs, base_labels, base_seconds = baseline(ws, threshold)

    people = truth.person_id.nunique()
    print(f"\n{len(truth):,} records of {people:,} people; {len(truth_pairs):,} true matching pairs; "
          f"auto-match threshold {threshold}\n")  # fmt: skip
    header = f"{'':24}{'pair P':>8}{'pair R':>8}{'pair F1':>8}{'clus P':>8}{'clus R':>8}{'clus F1':>8}"
    print(header + f"{'clusters':>10}{'seconds':>9}")
    for name, pairs, labels, seconds in (
        ("hub", auto, hub_labels, hub_seconds),
        ("plain Splink baseline", base_pairs, base_labels, base_seconds),
    ):
        pm = pair_metrics(truth_pairs, as_pairs(pairs, "unique_id_l", "unique_id_r"))
        cm = cluster_metrics(labels.merge(truth, on="record_id"))
        print(f"{name:24}" + "".join(f"{v:>8.4f}" for v in (*pm, *cm)) + f"{labels.cluster_id.nunique():>10,}"
              f"{seconds:>9.1f}")  # fmt: skip
    print(f"\ntrue people: {people:,}; hub review queue: {result.review_candidates:,} pairs "
          f"in [{cfg.matching.review_threshold}, {threshold}); model v{result.model_version}")  # fmt: skip
    ws.close()


if __name__ == "__main__":
    main()
