"""Pull throughput per source on the demo systems: full pull, then an incremental pull after ~1%
of each source's rows changed. Prints rows/s and peak memory (RSS).

    python benchmarks/pull_throughput.py --dir /tmp/demo1m            # an existing `hub demo init` dir
    python benchmarks/pull_throughput.py --customers 100000           # generate one first (temp dir)
"""

from __future__ import annotations

import argparse
import resource
import sqlite3
import tempfile
import time
from pathlib import Path

import pandas as pd

from connectors import pull_source
from connectors.demo import init_demo
from connectors.transforms import to_timestamp
from hub.config import load_config
from hub.workspace import Workspace


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def touch_one_percent(cfg, name: str) -> int:
    """Give ~1% of a SQLite source's rows a newer updated-at (one second past the newest), as a
    day of edits would; written in the column's own format."""
    src = cfg.sources[name]
    with sqlite3.connect(src.url.removeprefix("sqlite:///")) as conn:
        (top,) = conn.execute(f"SELECT max({src.updated_at}) FROM {src.table}").fetchone()
        fmt = src.updated_at_format
        if fmt in ("epoch", "epoch_ms"):
            newer = top + (1 if fmt == "epoch" else 1000)
        else:
            parsed, _ = to_timestamp(pd.Series([top]), fmt)
            later = (parsed.iloc[0] + pd.Timedelta(seconds=1)).tz_localize("UTC")
            newer = later.isoformat() if fmt in (None, "iso") else later.strftime(fmt)
        cur = conn.execute(f"UPDATE {src.table} SET {src.updated_at} = ? WHERE rowid % 100 = 7", (newer,))
        return cur.rowcount


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="existing demo directory (with hub.yaml)")
    parser.add_argument("--customers", type=int, default=100_000, help="people to generate when --dir is not given")
    args = parser.parse_args()

    directory = args.dir
    if directory is None:
        directory = Path(tempfile.mkdtemp(prefix="hub-bench-"))
        t = time.perf_counter()
        init_demo(directory, customers=args.customers, seed=1)
        print(f"generated demo for {args.customers:,} people in {time.perf_counter() - t:.1f}s at {directory}")
    cfg = load_config(directory / "hub.yaml")
    cfg = cfg.model_copy(update={"workspace": directory / ".bench" / "workspace.duckdb"})
    if cfg.workspace.exists():
        cfg.workspace.unlink()
    ws = Workspace.for_config(cfg)

    print(f"\n{'source':8} {'mode':12} {'rows':>10} {'staged':>10} {'quarant.':>9} {'seconds':>8} {'rows/s':>10}")
    total_rows, total_s = 0, 0.0
    for name in cfg.sources:
        r = pull_source(cfg, name, ws, full=True)
        total_rows, total_s = total_rows + r.rows_read, total_s + r.seconds
        print(f"{name:8} {r.mode:12} {r.rows_read:>10,} {r.records:>10,} {r.quarantined:>9,} {r.seconds:>8.1f} "
              f"{r.rows_per_second:>10,.0f}")  # fmt: skip
    print(f"{'all':8} {'full':12} {total_rows:>10,} {'':>10} {'':>9} {total_s:>8.1f} {total_rows / total_s:>10,.0f}")
    print(f"peak RSS after full pulls: {peak_rss_mib():,.0f} MiB\n")

    for name in cfg.sources:
        if cfg.sources[name].kind == "sql" and cfg.sources[name].url.startswith("sqlite"):
            touched = touch_one_percent(cfg, name)
            r = pull_source(cfg, name, ws)
            print(f"{name:8} {r.mode:12} {r.rows_read:>10,} {r.records:>10,} {r.quarantined:>9,} {r.seconds:>8.1f} "
                  f"  ({touched:,} rows touched)")  # fmt: skip
    print(f"peak RSS: {peak_rss_mib():,.0f} MiB")
    ws.close()


if __name__ == "__main__":
    main()
