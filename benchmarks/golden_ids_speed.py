"""Stable golden id assignment at scale: 1M records, ~2% of clusters merged or split between two runs.

Run 1 mints an id for every cluster (first publish). Between runs, 1% of clusters merge pairwise, 1% of the
clusters with 2+ records split in two, 0.5% of records disappear and 0.5% new records arrive (half join an
existing cluster, half are new singletons). Run 2 carries the ids forward; run 3 repeats run 2's input and must
mint nothing and change nothing. Record order is shuffled, and cluster ids are the smallest record id as
matching.clustering labels them. Prints wall time of each `assign_ids()` call and the process's peak RSS.

    python benchmarks/golden_ids_speed.py
    python benchmarks/golden_ids_speed.py --records 5000000 --changed 0.05
"""

from __future__ import annotations

import argparse
import itertools
import resource
import time

import numpy as np
import pandas as pd

from golden_record.ids import IdAssignment, assign_ids


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def frame(records: np.ndarray, codes: np.ndarray, names: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """record_id, cluster_id (the cluster's smallest record id) for integer records and cluster codes, shuffled."""
    smallest = np.full(codes.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(smallest, codes, records)
    order = rng.permutation(len(records))
    return pd.DataFrame(
        {"record_id": pd.Series(names[records[order]], dtype="str"), "cluster_id": names[smallest[codes[order]]]}
    ).astype("str")


def evolve(
    records: np.ndarray, codes: np.ndarray, changed: float, churn: float, new_from: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, int]:
    """Merge changed/2 of the clusters pairwise, split changed/2 of the multi-record ones, churn records."""
    n_codes = codes.max() + 1
    sizes = np.bincount(codes, minlength=n_codes)
    remap = np.arange(n_codes)
    pairs = rng.choice(n_codes, (int(n_codes * changed / 2), 2), replace=False)
    remap[pairs[:, 1]] = pairs[:, 0]
    codes = remap[codes]

    multi = np.setdiff1d(np.flatnonzero(sizes >= 2), pairs.ravel())
    split = np.zeros(n_codes, dtype=bool)
    split[rng.choice(multi, int(n_codes * changed / 2), replace=False)] = True
    moves = split[codes] & (rng.random(len(codes)) < 0.4)
    codes = np.where(moves, codes + n_codes, codes)

    keep = rng.random(len(records)) >= churn
    records, codes = records[keep], codes[keep]
    arriving = int(len(records) * churn)
    new_records = np.arange(new_from, new_from + arriving)
    joins = rng.random(arriving) < 0.5
    new_codes = np.where(joins, codes[rng.integers(0, len(codes), arriving)], 2 * n_codes + np.arange(arriving))
    return np.concatenate([records, new_records]), np.concatenate([codes, new_codes]), new_from + arriving


def timed(label: str, *args) -> IdAssignment:
    """Wall time, and CPU time over all threads: on a shared machine the wall time alone is noisy."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = assign_ids(*args)
    print(
        f"{label}: assign_ids() {time.perf_counter() - wall:.2f}s wall, {time.process_time() - cpu:.2f}s CPU -- "
        f"kept {out.kept:,}, minted {len(out.minted):,}, redirects {len(out.redirects):,}, dropped {len(out.dropped):,}"
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--changed", type=float, default=0.02, help="share of clusters merged or split")
    parser.add_argument("--churn", type=float, default=0.005, help="share of records deleted, and of records added")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="times to repeat run 2")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    start = time.perf_counter()
    n = args.records
    names = np.array([f"rec-{i:08d}" for i in range(n + int(n * args.churn) + 1)], dtype=object)
    sizes = rng.choice(np.arange(1, 7), size=n, p=[0.06, 0.06, 0.10, 0.18, 0.28, 0.32])
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    sizes[-1] -= sizes.sum() - n
    records, codes = np.arange(n), np.repeat(np.arange(len(sizes)), sizes)
    first = frame(records, codes, names, rng)
    records, codes, _ = evolve(records, codes, args.changed, args.churn, n, rng)
    second = frame(records, codes, names, rng)
    print(f"generated {len(first):,} -> {len(second):,} records in {time.perf_counter() - start:.1f}s")
    print(f"peak RSS after generating: {peak_rss_mib():,.0f} MiB")

    counter = itertools.count(1)

    def mint(count: int) -> list[str]:
        return [f"G{i:09d}" for i in itertools.islice(counter, count)]

    run1 = timed("run 1 (first publish)", first, pd.DataFrame(), pd.DataFrame(), mint)
    created = pd.DataFrame({"golden_id": run1.minted, "created_at": pd.Timestamp("2025-01-01", tz="UTC")})
    for attempt in range(args.repeat):  # later attempts mint again; only the last one's ids are carried on
        run2 = timed(f"run 2 (2% merged/split), #{attempt + 1}", second, run1.members, created, mint)
    live = pd.concat([created, pd.DataFrame({"golden_id": run2.minted, "created_at": pd.Timestamp.now("UTC")})])
    live = live[~live["golden_id"].isin(run2.redirects["retired_id"]) & ~live["golden_id"].isin(run2.dropped)]
    run3 = timed("run 3 (unchanged)", second.sample(frac=1, random_state=2), run2.members, live, mint)

    same = run3.members.sort_values("record_id", ignore_index=True).equals(
        run2.members.sort_values("record_id", ignore_index=True)
    )
    assert not run3.minted and run3.redirects.empty and same, "ids changed on rerun"
    assert run2.members["record_id"].is_unique and run2.members["golden_id"].notna().all()
    print(f"peak RSS: {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
