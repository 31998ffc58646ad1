"""Serving-store reads with and without SQLCipher, side by side in one process: the same synthetic golden records
(benchmarks/store_publish.py's) published into a plain and an encrypted SQLite store, then rounds of lookups by id
and searches (e-mail, name) through the store functions the API calls, alternating plain and encrypted so both see
the same load on a shared machine. Prints medians of wall and CPU milliseconds per call. The HTTP layer on top is
the same for both (benchmarks/api_latency.py --encrypted measures it end to end).

    python benchmarks/encryption_reads.py --records 100000
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from store_publish import make_golden, make_xref

from hub import store
from hub.encryption import AtRestKey
from hub.store.search import SearchCriteria, search_candidates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=300, help="calls per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    golden = make_golden(args.records, rng)
    xref = make_xref(golden, rng)
    tmp = Path(tempfile.mkdtemp(prefix="hub-enc-reads-"))
    engines = {}
    for mode, key in (("plain", None), ("encrypted", AtRestKey(os.urandom(32), "benchmark"))):
        engine = store.open_store(f"sqlite:///{tmp / mode}.db", key)
        t = time.perf_counter()
        store.publish(engine, store.start_run(engine), golden, xref)
        print(f"{mode:10} publish of {args.records:,} golden records: {time.perf_counter() - t:.1f} s")
        engines[mode] = engine
    sample = golden.sample(args.calls, random_state=1)
    kinds: dict[str, Callable[[sa.Connection, object], object]] = {
        "by id": lambda conn, r: store.golden_by_id(conn, r.golden_id),
        "search e-mail": lambda conn, r: search_candidates(conn, SearchCriteria(email=r.email)),
        "search name": lambda conn, r: search_candidates(conn, SearchCriteria(name=f"{r.first_name} {r.last_name}")),
    }
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for kind, call in kinds.items():
            for mode, engine in engines.items():
                with engine.connect() as conn:
                    wall, cpu = time.perf_counter(), time.process_time()
                    for r in sample.itertuples(index=False):
                        call(conn, r)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                results.setdefault((kind, mode), []).append((wall * 1000 / args.calls, cpu * 1000 / args.calls))
    print(f"\nms per call, medians of {args.rounds} rounds of {args.calls} calls (wall / CPU)")
    print(f"{'':16}{'plain':>18}{'encrypted':>18}{'CPU ratio':>11}")
    for kind in kinds:
        p, e = (results[(kind, m)] for m in ("plain", "encrypted"))
        pw, pc = statistics.median(x[0] for x in p), statistics.median(x[1] for x in p)
        ew, ec = statistics.median(x[0] for x in e), statistics.median(x[1] for x in e)
        print(f"{kind:16}{pw:>9.2f} / {pc:<6.2f}{ew:>9.2f} / {ec:<6.2f}{ec / pc:>10.2f}x")
    sizes = {m: (tmp / f"{m}.db").stat().st_size / 2**20 for m in engines}
    print(f"\nfiles: plain {sizes['plain']:.0f} MiB, encrypted {sizes['encrypted']:.0f} MiB")
    for engine in engines.values():
        engine.dispose()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
