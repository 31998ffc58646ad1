"""The write-back steps on their own. A demo goes through the pipeline up to publish (every asset but the
write-backs) once and is kept as a snapshot; then, REPEATS times, a fresh copy of it is written back source by source
with `write_back`, as the pipeline's `writeback_<source>` steps run it, in this process. Per run and source: wall and
CPU seconds, rows updated, rows per second; then the medians. Issue 16's write-back target is measured on these steps
inside benchmarks/pipeline_scale.py's full run at 1M records; this isolates them, so a change to write-back can be
compared in minutes (the first write-back of a demo: every record gets its golden id, many get values).

    python benchmarks/writeback_step.py                                  # 50,000 people (~110k records), 3 runs
    python benchmarks/writeback_step.py --customers 200000 --repeats 1
    python benchmarks/writeback_step.py --dir /tmp/wb --repeats 5        # reuses the snapshot an earlier call kept
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

from connectors.demo import init_demo
from connectors.writeback import run_to_write, write_back
from hub import store
from hub.config import load_config
from hub.workspace import Workspace
from pipelines.build import build_definitions
from pipelines.sensors import PIPELINE_JOB


def snapshot(directory: Path, customers: int) -> None:
    """A demo of `customers` people in `directory`, run through the pipeline up to publish, unless already there."""
    if (directory / ".hub" / "workspace.duckdb").exists():
        print(f"snapshot: {directory} (kept from an earlier call)")
        return
    t = time.perf_counter()
    init_demo(directory, customers=customers, seed=5)
    defs = build_definitions(str(directory / "hub.yaml"))
    keys = [k for k in defs.resolve_all_asset_keys() if not k.path[-1].startswith("writeback_")]
    defs.resolve_job_def(PIPELINE_JOB).execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=keys,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
    )
    print(f"snapshot: {customers:,} people through the pipeline up to publish in {time.perf_counter() - t:.1f} s")


def write_all(directory: Path, copy: Path) -> dict[str, tuple[float, float, int]]:
    """Every source of a fresh copy of the snapshot written back: per source wall s, CPU s, rows updated."""
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(directory, copy)
    cfg = load_config(copy / "hub.yaml")
    out = {}
    for source in cfg.sources:
        ws = Workspace.for_config(cfg)
        try:
            with store.opened_for(cfg) as engine:
                run_id = run_to_write(ws, engine, False)
                started, cpu = time.perf_counter(), time.process_time()
                r = write_back(ws, cfg, engine, source, run_id)
                out[source] = (time.perf_counter() - started, time.process_time() - cpu, r.updated)
        finally:
            ws.close()
    shutil.rmtree(copy, ignore_errors=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="where the snapshot is kept (default: a new temporary folder)")
    parser.add_argument("--customers", type=int, default=50_000, help="people in the demo (50,000 = ~110k records)")
    parser.add_argument("--repeats", type=int, default=3, help="write-backs of a fresh copy of the snapshot")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress as it goes, through a pipe too
    directory = args.dir or Path(tempfile.mkdtemp(prefix="hub-writeback-")) / "demo"
    snapshot(directory, args.customers)
    runs = []
    for i in range(args.repeats):
        runs.append(write_all(directory, directory.with_name(directory.name + ".run")))
        print(f"run {i + 1}: " + "; ".join(
            f"{s} {w:.2f} s ({c:.2f} CPU s), {n:,} rows, {n / w:,.0f} rows/s" for s, (w, c, n) in runs[-1].items()
        ))  # fmt: skip
    print(f"\n{'source':10}{'median s':>10}{'CPU s':>10}{'rows':>10}{'rows/s':>10}")
    for source in runs[0]:
        wall = statistics.median(r[source][0] for r in runs)
        cpu = statistics.median(r[source][1] for r in runs)
        rows = runs[0][source][2]
        print(f"{source:10}{wall:>10.2f}{cpu:>10.2f}{rows:>10,}{rows / wall:>10,.0f}")
    total = statistics.median(sum(w for w, _, _ in r.values()) for r in runs)
    rows = sum(n for _, _, n in runs[0].values())
    print(f"{'all':10}{total:>10.2f}{'':>10}{rows:>10,}{rows / total:>10,.0f}")


if __name__ == "__main__":
    main()
