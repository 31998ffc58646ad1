"""How fast `hub demo init` generates sources: time, rows per source, rows/s and peak memory.

python benchmarks/demo_generate.py --customers 1000000
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from connectors.demo import init_demo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="demo-bench-") as tmp:
        start = time.perf_counter()
        summary = init_demo(
            Path(tmp),
            customers=args.customers,
            seed=args.seed,
            progress=lambda line: print(f"  [{time.perf_counter() - start:7.1f}s] {line}"),
        )
        seconds = time.perf_counter() - start
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())

    print(f"\n{args.customers:,} customers in {seconds:.1f} s ({size / 2**20:,.0f} MiB on disk)")
    print(f"{'source':<10}{'table':<12}{'rows':>12}")
    customer_rows = all_rows = 0
    for source, tables in summary.tables.items():
        for i, (table, rows) in enumerate(tables.items()):
            print(f"{source:<10}{table:<12}{rows:>12,}")
            all_rows += rows
            customer_rows += rows if i == 0 else 0
    print(f"customer records: {customer_rows:,} ({customer_rows / seconds:,.0f}/s)")
    print(f"all rows:         {all_rows:,} ({all_rows / seconds:,.0f}/s)")
    # ru_maxrss is in KiB on Linux.
    print(f"peak RSS:         {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB")


if __name__ == "__main__":
    main()
