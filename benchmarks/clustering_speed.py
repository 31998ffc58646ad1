"""Clustering speed at scale: 1M records, ~3M scored edges, ~1,000 cannot-links inside clusters.

Synthetic graph shaped like matcher output: true clusters of 1-6 records (mostly complete, a few edges missing),
a sprinkle of false-positive "noise" edges between clusters, and reversed duplicate rows, so the edge table has
~3M rows. Cannot-links split real clusters (the worst case: each one forces the splitting step); must-links join
unrelated records. Prints wall time of `cluster()` and the process's peak RSS.

    python benchmarks/clustering_speed.py
    python benchmarks/clustering_speed.py --noise 400000   # noise past the percolation point: one giant component
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

from matching.clustering import cluster


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_graph(
    n: int, edges: int, noise: int, cannot: int, must: int, seed: int
) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Records (shuffled ids), edges, must-links and cannot-links as the pipeline would pass them."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"rec-{i:07d}" for i in rng.permutation(n)], dtype=object)

    sizes = rng.choice(np.arange(1, 7), size=n, p=[0.06, 0.06, 0.10, 0.18, 0.28, 0.32])
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    sizes[-1] -= sizes.sum() - n
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])

    lefts, rights = [], []
    for s in range(2, 7):
        first = starts[sizes == s]
        i, j = np.triu_indices(s, 1)
        lefts.append((first[:, None] + i).ravel())
        rights.append((first[:, None] + j).ravel())
    left, right = np.concatenate(lefts), np.concatenate(rights)
    kept = rng.random(len(left)) < 0.95  # a few true pairs score below threshold
    left, right = left[kept], right[kept]
    prob = rng.uniform(0.9, 1.0, len(left))

    noise_l, noise_r = rng.integers(0, n, noise), rng.integers(0, n, noise)
    left, right = np.concatenate([left, noise_l]), np.concatenate([right, noise_r])
    prob = np.concatenate([prob, rng.uniform(0.9, 0.95, noise)])

    dup = rng.integers(0, len(left), max(edges - len(left), 0))  # reversed repeats, e.g. from two blocking rules
    left, right = np.concatenate([left, right[dup]]), np.concatenate([right, left[dup]])
    prob = np.concatenate([prob, prob[dup]])
    order = rng.permutation(len(left))
    edge_frame = pd.DataFrame({"id_l": ids[left[order]], "id_r": ids[right[order]], "match_probability": prob[order]})

    big = np.flatnonzero(sizes >= 3)
    split = rng.choice(big, cannot, replace=False)
    offset_a = rng.integers(0, sizes[split])
    offset_b = (offset_a + rng.integers(1, sizes[split])) % sizes[split]
    cannot_frame = pd.DataFrame({"id_l": ids[starts[split] + offset_a], "id_r": ids[starts[split] + offset_b]})

    untouched = np.setdiff1d(np.arange(len(sizes)), split)
    pair = rng.choice(untouched, (must, 2), replace=False)
    must_frame = pd.DataFrame({"id_l": ids[starts[pair[:, 0]]], "id_r": ids[starts[pair[:, 1]]]})
    return pd.Series(ids, dtype="str"), edge_frame, must_frame, cannot_frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--edges", type=int, default=3_000_000, help="edge rows incl. reversed duplicates")
    parser.add_argument("--noise", type=int, default=20_000, help="random false-positive edges between clusters")
    parser.add_argument("--cannot", type=int, default=1_000)
    parser.add_argument("--must", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    t = time.perf_counter()
    records, edges, must, cannot = make_graph(args.records, args.edges, args.noise, args.cannot, args.must, args.seed)
    print(f"generated {len(records):,} records, {len(edges):,} edges in {time.perf_counter() - t:.1f}s")
    print(f"peak RSS after generating: {peak_rss_mib():,.0f} MiB")

    for run in range(args.repeat):
        t = time.perf_counter()
        out = cluster(records, edges, must_link=must, cannot_link=cannot)
        print(f"run {run + 1}: cluster() {time.perf_counter() - t:.2f}s")

    label = out.set_index("record_id")["cluster_id"]
    assert (label[cannot["id_l"]].to_numpy() != label[cannot["id_r"]].to_numpy()).all(), "cannot-link violated"
    assert (label[must["id_l"]].to_numpy() == label[must["id_r"]].to_numpy()).all(), "must-link violated"
    sizes = out.groupby("cluster_id").size()
    print(
        f"{len(out):,} records -> {len(sizes):,} clusters (largest {sizes.max():,}, singletons {(sizes == 1).sum():,})"
    )
    print(f"peak RSS: {peak_rss_mib():,.0f} MiB")


if __name__ == "__main__":
    main()
