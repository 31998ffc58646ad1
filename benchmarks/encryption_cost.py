"""What encryption at rest costs a pipeline run: the same demo run through the whole Dagster job with the stores plain
and encrypted (DuckDB's encryption for the workspace, SQLCipher for the SQLite serving store), alternately, each on a
fresh copy; then, on each finished workspace, standardize + predict once more (matching.run.match with the trained
model). Prints every run (wall and CPU seconds: the machine may be shared) and the medians.

    python benchmarks/encryption_cost.py                        # 2,000 customers, 3 runs each
    python benchmarks/encryption_cost.py --customers 20000 --repeats 1
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg

from connectors.demo import init_demo
from hub.config import load_config
from hub.encryption import new_key
from hub.workspace import Workspace
from matching.run import match
from pipelines.run import run_pipeline


def one_run(pristine: Path, work: Path, encrypted: bool) -> dict[str, float]:
    shutil.copytree(pristine, work)
    config = work / "hub.yaml"
    if encrypted:
        (work / "hub.key").write_text(new_key())
        with config.open("a") as fh:
            fh.write(f"encryption:\n  key_file: {work / 'hub.key'}\n  duckdb_crypto: builtin\n")
    t, cpu = time.perf_counter(), time.process_time()
    summary = run_pipeline(str(config), instance=dg.DagsterInstance.ephemeral(), log_level="WARNING")
    wall, cpu = time.perf_counter() - t, time.process_time() - cpu
    if not summary.success:
        raise RuntimeError(f"run failed: {summary.errors}")
    cfg = load_config(config)
    ws = Workspace.for_config(cfg)
    try:
        seconds = match(ws, cfg).seconds
    finally:
        ws.close()
    sizes = sum(p.stat().st_size for p in (work / ".hub").iterdir() if p.is_file()) / 2**20
    shutil.rmtree(work)
    return {
        "full run": wall,
        "cpu": cpu,
        "standardize": seconds["standardize"],
        "predict": seconds["predict"],
        "MiB": sizes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="hub-encryption-"))
    init_demo(base / "pristine", customers=args.customers, seed=42)
    results: dict[str, list[dict[str, float]]] = {"plain": [], "encrypted": []}
    for i in range(args.repeats):
        for mode in ("plain", "encrypted"):
            r = one_run(base / "pristine", base / f"{mode}{i}", mode == "encrypted")
            results[mode].append(r)
            print(f"{mode:10} run {i + 1}: " + ", ".join(f"{k} {v:.1f}" for k, v in r.items()), flush=True)
    print(f"\nmedians over {args.repeats} run(s), {args.customers:,} customers (seconds; files in MiB)")
    print(f"{'':12}{'full run':>10}{'run cpu':>10}{'standardize':>13}{'predict':>10}{'MiB':>8}")
    for mode, runs in results.items():
        m = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        cols = f"{m['full run']:>10.1f}{m['cpu']:>10.1f}{m['standardize']:>13.2f}{m['predict']:>10.2f}"
        print(f"{mode:12}{cols}{m['MiB']:>8.1f}")
    shutil.rmtree(base)


if __name__ == "__main__":
    main()
