"""Shared by the scale benchmarks: a demo workspace to run on, stage timing, and peak memory
(RSS of this process sampled every 0.1 s)."""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

from connectors import pull_source
from connectors.demo import init_demo
from hub.config import HubConfig, load_config
from hub.workspace import Workspace


class PeakMemory:
    def __init__(self) -> None:
        self.proc, self.peak = psutil.Process(), 0
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.1)

    @contextmanager
    def stage(self, name: str, results: dict[str, tuple[float, float]]) -> Iterator[None]:
        """Record (seconds, peak GiB) of the block under `name`."""
        self.peak = self.proc.memory_info().rss
        t = time.perf_counter()
        yield
        results[name] = (time.perf_counter() - t, self.peak / 2**30)


def print_stages(stages: dict[str, tuple[float, float]]) -> None:
    print(f"{'stage':44}{'seconds':>10}{'peak GiB':>10}")
    for name, (seconds, peak) in stages.items():
        print(f"{name:44}{seconds:>10.1f}" + (f"{peak:>10.2f}" if peak == peak else ""))


def demo_arguments(doc: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="existing demo directory")
    parser.add_argument("--customers", type=int, default=460_000, help="people to generate (460,000 = ~1M records)")
    return parser.parse_args()


def pulled_demo(args: argparse.Namespace, mem: PeakMemory, stages: dict, name: str) -> tuple[HubConfig, Workspace]:
    """A demo (generated unless --dir is given) pulled into a fresh workspace and serving store under
    DIR/.bench-<name>/, so benchmarks never touch the demo's own hub state."""
    directory = args.dir or Path(tempfile.mkdtemp(prefix=f"hub-{name}-"))
    if args.dir is None:
        with mem.stage("generate demo", stages):
            init_demo(directory, customers=args.customers, seed=5)
    bench = directory / f".bench-{name}"
    for stale in ("workspace.duckdb", "serving.db"):
        (bench / stale).unlink(missing_ok=True)
    cfg = load_config(directory / "hub.yaml").model_copy(
        update={"workspace": bench / "workspace.duckdb", "serving_store": f"sqlite:///{bench / 'serving.db'}"}
    )
    ws = Workspace.for_config(cfg)
    with mem.stage("pull (all sources)", stages):
        for source in cfg.sources:
            pull_source(cfg, source, ws, full=True)
    return cfg, ws
