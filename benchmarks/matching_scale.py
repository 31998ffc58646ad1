"""Matching at scale: the hub's standardize + predict + cluster against plain Splink's predict +
cluster on the same ~1M source records, both with models trained beforehand. Prints per-stage
seconds and peak memory (RSS of this process, sampled every 0.1 s).

    python benchmarks/matching_scale.py                     # demo of 460,000 people (~1.0M records)
    python benchmarks/matching_scale.py --dir /tmp/demo1m   # an existing demo directory
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import plain_splink
import psutil

from connectors import pull_source
from connectors.demo import init_demo
from hub.config import load_config
from hub.workspace import Workspace
from matching.run import match, train


class PeakMemory:
    """Samples this process's RSS in a thread; `stage()` reports the peak within a block."""

    def __init__(self) -> None:
        self.proc, self.peak, self._stop = psutil.Process(), 0, False
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._stop:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.1)

    @contextmanager
    def stage(self, name: str, results: dict):
        self.peak = self.proc.memory_info().rss
        t = time.perf_counter()
        yield
        results[name] = (time.perf_counter() - t, self.peak / 2**30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="existing demo directory")
    parser.add_argument("--customers", type=int, default=460_000)
    args = parser.parse_args()
    mem, stages = PeakMemory(), {}

    directory = args.dir or Path(tempfile.mkdtemp(prefix="hub-scale-"))
    if args.dir is None:
        with mem.stage("generate demo", stages):
            init_demo(directory, customers=args.customers, seed=5)
    cfg = load_config(directory / "hub.yaml")
    cfg = cfg.model_copy(update={"workspace": directory / ".bench-scale" / "workspace.duckdb"})
    if cfg.workspace.exists():
        cfg.workspace.unlink()
    ws = Workspace.for_config(cfg)
    with mem.stage("pull (all sources)", stages):
        for name in cfg.sources:
            pull_source(cfg, name, ws, full=True)
    records = ws.con.execute("SELECT count(*) FROM staged_records").fetchall()[0][0]

    with mem.stage("hub: train model", stages):
        train(ws)
    with mem.stage("hub: standardize + predict + cluster", stages):
        result = match(ws, cfg)
    for name, seconds in result.seconds.items():
        stages[f"  hub: {name}"] = (seconds, float("nan"))

    threshold = cfg.matching.auto_match_threshold
    lk = plain_splink.linker(ws)
    with mem.stage("baseline: train model", stages):
        model = plain_splink.train(lk)
    lk = plain_splink.linker(ws, model)
    with mem.stage("baseline: predict + cluster", stages):
        _, _, base_pairs = plain_splink.predict_and_cluster(lk, threshold)

    print(f"\n{records:,} source records; hub scored {result.pairs_scored:,} pairs >= review threshold "
          f"({result.auto_pairs:,} auto-merge), baseline kept {base_pairs:,} pairs >= {threshold}\n")  # fmt: skip
    print(f"{'stage':42}{'seconds':>10}{'peak GiB':>10}")
    for name, (seconds, peak) in stages.items():
        print(f"{name:42}{seconds:>10.1f}{peak:>10.2f}")
    hub_s = stages["hub: standardize + predict + cluster"][0]
    base_s = stages["baseline: predict + cluster"][0]
    peak = max(p for _, p in stages.values() if p == p)  # nan for sub-stages
    print(f"\nhub / baseline time: {hub_s / base_s:.2f}x   peak RSS over all stages: {peak:.2f} GiB")
    ws.close()


if __name__ == "__main__":
    main()
