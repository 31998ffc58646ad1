"""Turn scored pairs into clusters of "the same person", with steward decisions always winning.

A steward's "not a match" (cannot-link) must never end up in one cluster, and a "match" (must-link) always
must, whatever the scores say. Dropping a cannot-linked edge is not enough: A-B and B-C still chain A and C
together, so a component holding a cannot-linked pair has to be cut.

How, and why it is fast at 1M records / 3M edges:

1. **Encode** ids as integer codes = their rank in sorted order (one DuckDB query; hashing millions of
   strings is the slow part and DuckDB's parallel hash join does it several times faster than pandas). Rank
   order makes "smallest record id in a cluster" a plain integer minimum.
2. **Contradictions** first, by the rule the store also enforces (hub.decisions): a cannot-linked pair that
   must-links join cannot be honoured either way, so raise `ConflictingDecisions` naming the pair and the
   must-link chain that joins it, rather than silently picking a side.
3. **Bulk**: `scipy.sparse.csgraph.connected_components` over edges + must-links. This is the answer for
   every component that contains no cannot-linked pair -- in practice nearly all of them.
4. **Split** only the components holding a cannot-linked pair, with a greedy constrained union-find:
   start from the must-link groups, then take edges in descending probability (ties by ids), skipping any
   merge that would put a cannot-linked pair together. A record therefore goes with the side it has the
   strongest single edge to, and a weak bridge between two strong groups is the edge that gets cut. Every
   skipped edge would still violate a cannot-link at the end (clusters only grow), so the result is
   maximal: no further edge could be merged. The Python loop runs over the edges of these components only;
   they are rare and small. (A pathological giant component that also holds a cannot-link costs about 3 s
   per million of its edges on a 2-core machine -- slow, but still correct.)

`cluster_id` is the smallest record id in the cluster: deterministic for the same input, independent of edge
order, but only a label -- the stable golden id is assigned elsewhere.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from hub.decisions import ConflictingDecisions, conflicts
from hub.encryption import scratch_duckdb

__all__ = ["ConflictingDecisions", "cluster"]

_SHOWN = 5  # how many offending ids / pairs an error message spells out


def cluster(
    records: pd.Series | np.ndarray,
    edges: pd.DataFrame,
    must_link: pd.DataFrame | None = None,
    cannot_link: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Cluster `records` by `edges` (pairs already at/above the match threshold) under steward decisions.

    `edges` has columns id_l, id_r, match_probability; `must_link` / `cannot_link` have id_l, id_r. Pair
    direction, duplicates and self-pairs in `edges` / `must_link` do not matter. Returns one row per record,
    sorted by record_id, with columns record_id and cluster_id (the smallest record id in its cluster).

    Raises ValueError for null or duplicate record ids, missing columns, missing probabilities, or ids in
    edges / decisions that are not in `records`; `ConflictingDecisions` when must-links join a cannot-linked
    pair (a record cannot-linked to itself counts too).
    """
    ids, ((el, er, ep), (ml, mr, _), (cl, cr, _)) = _encode(records, edges, must_link, cannot_link)
    n = len(ids)
    if n == 0:
        return _frame(ids, np.empty(0, dtype=np.int64))

    keep = el != er
    el, er, ep = el[keep], er[keep], ep[keep]

    if len(cl):
        pairs, chains = conflicts(_pairs(must_link), _pairs(cannot_link))
        if pairs:
            raise ConflictingDecisions(pairs, chains)
    _, must_group = connected_components(_graph(n, ml, mr), directed=False)

    n_comp, comp = connected_components(_graph(n, np.concatenate([el, ml]), np.concatenate([er, mr])), directed=False)
    rep = _smallest_member(comp, n_comp)[comp]

    inside = comp[cl] == comp[cr]
    if inside.any():
        hot = np.zeros(n_comp, dtype=bool)
        hot[comp[cl[inside]]] = True
        _split(rep, comp, hot, must_group, el, er, ep, cl[inside], cr[inside])

    return _frame(ids, rep)


def _frame(ids: pa.ChunkedArray, rep: np.ndarray) -> pd.DataFrame:
    # Arrow-backed strings and an Arrow take: building the output from Python str objects costs more than
    # the clustering itself at 1M records.
    return pd.DataFrame(
        {"record_id": pd.Series(ids, dtype="str"), "cluster_id": pd.Series(pc.take(ids, rep), dtype="str")}
    )


def _encode(
    records: pd.Series | np.ndarray, *frames: pd.DataFrame | None
) -> tuple[pa.ChunkedArray, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Sorted record ids, and each pair frame as (code_l, code_r, probability) arrays of record ranks.

    One private in-memory DuckDB connection; all pair frames go through a single pair of hash joins.
    """
    recs = pd.Series(records, copy=False).rename("id").reset_index(drop=True).to_frame()
    if recs["id"].isna().any():
        raise ValueError(f"records contain {int(recs['id'].isna().sum())} null id(s)")
    con = scratch_duckdb()
    try:
        con.register("recs", recs)
        con.execute("CREATE TEMP TABLE codes AS SELECT id, row_number() OVER (ORDER BY id) - 1 AS code FROM recs")
        ids = con.sql("SELECT id FROM codes ORDER BY code").arrow().read_all().column("id")
        if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type) or pa.types.is_null(ids.type)):
            raise TypeError(f"record ids must be strings, got {ids.type}")
        if len(ids) > 1 and pc.any(same := pc.equal(ids[1:], ids[:-1])).as_py():
            dupes = pc.unique(ids[1:].filter(same))
            raise ValueError(f"records contain {len(dupes)} duplicate id(s), e.g. {dupes[:_SHOWN].to_pylist()}")

        names = ("edges", "must_link", "cannot_link")
        selects = []
        for code, (name, frame) in enumerate(zip(names, frames, strict=True)):
            if frame is None or len(frame) == 0:
                continue
            scored = name == "edges"
            columns = ["id_l", "id_r", "match_probability"] if scored else ["id_l", "id_r"]
            if missing := [c for c in columns if c not in frame.columns]:
                raise ValueError(f"{name} needs columns {columns}; missing {missing}")
            if scored and (nulls := int(frame["match_probability"].isna().sum())):
                raise ValueError(f"{name} has {nulls} missing match_probability")
            con.register(name, frame[columns])
            probability = "CAST(match_probability AS DOUBLE)" if scored else "0.0"
            selects.append(f"SELECT {code} AS kind, id_l, id_r, {probability} AS p FROM {name}")

        got = {"kind": np.empty(0, np.int64), "l": np.empty(0, np.int64), "r": np.empty(0, np.int64), "p": np.empty(0)}
        if selects:
            got = con.sql(
                "SELECT kind, coalesce(l.code, -1) AS l, coalesce(r.code, -1) AS r, p "
                f"FROM ({' UNION ALL '.join(selects)}) AS pairs "
                "LEFT JOIN codes AS l ON pairs.id_l = l.id LEFT JOIN codes AS r ON pairs.id_r = r.id"
            ).fetchnumpy()
        kind, left, right = (np.asarray(got[c], dtype=np.int64) for c in ("kind", "l", "r"))
        prob = np.asarray(got["p"], dtype=np.float64)
        for bad in np.unique(kind[(left < 0) | (right < 0)]):
            name = names[bad]
            unknown = [
                row[0]
                for row in con.sql(
                    f"SELECT DISTINCT id FROM (SELECT id_l AS id FROM {name} UNION ALL SELECT id_r FROM {name}) "
                    "WHERE id IS NULL OR id NOT IN (SELECT id FROM codes) ORDER BY id NULLS FIRST"
                ).fetchall()
            ]
            raise ValueError(f"{name} refers to {len(unknown)} id(s) not in records, e.g. {unknown[:_SHOWN]}")
        return ids, [(left[kind == k], right[kind == k], prob[kind == k]) for k in range(len(names))]
    finally:
        con.close()


def _graph(n: int, left: np.ndarray, right: np.ndarray) -> sparse.csr_array:
    """Adjacency over record codes (int32 indices keep the 3M-edge build cheap); duplicates do not matter."""
    index = np.int32 if n < np.iinfo(np.int32).max else np.int64
    return sparse.csr_array((np.ones(len(left), dtype=bool), (left.astype(index), right.astype(index))), shape=(n, n))


def _smallest_member(group: np.ndarray, n_groups: int) -> np.ndarray:
    """Smallest code in each group, indexed by group label."""
    smallest = np.full(n_groups, len(group), dtype=np.int64)
    np.minimum.at(smallest, group, np.arange(len(group)))
    return smallest


def _pairs(frame: pd.DataFrame | None) -> list[tuple[str, str]]:
    """A decision frame's (id_l, id_r) pairs, for hub.decisions (steward decisions: a few thousand at most)."""
    return [] if frame is None else list(zip(frame["id_l"], frame["id_r"], strict=True))


def _split(
    rep: np.ndarray,
    comp: np.ndarray,
    hot: np.ndarray,
    must_group: np.ndarray,
    el: np.ndarray,
    er: np.ndarray,
    ep: np.ndarray,
    cl: np.ndarray,
    cr: np.ndarray,
) -> None:
    """Re-cluster the `hot` components (those holding a cannot-linked pair) in place in `rep`.

    Greedy constrained union-find over the hot components' records, in local indices that keep code order.
    `cannot[root]` holds the roots it must never join, kept current as clusters merge.
    """
    nodes = np.flatnonzero(hot[comp])
    local = np.full(len(comp), -1, dtype=np.int64)
    local[nodes] = np.arange(len(nodes))

    # Must-link groups never cross components, so each hot record starts in its group's smallest member.
    group_ids, group_of = np.unique(must_group[nodes], return_inverse=True)
    start = _smallest_member(group_of, len(group_ids))[group_of]
    parent: list[int] = start.tolist()
    size: list[int] = np.bincount(start, minlength=len(nodes)).tolist()

    sel = hot[comp[el]]
    lo, hi, prob = local[np.minimum(el[sel], er[sel])], local[np.maximum(el[sel], er[sel])], ep[sel]
    order = np.lexsort((hi, lo, -prob))  # strongest first; ties by ids, so edge order never matters

    cannot: dict[int, set[int]] = {}
    for a, b in zip(start[local[cl]].tolist(), start[local[cr]].tolist(), strict=True):
        cannot.setdefault(a, set()).add(b)
        cannot.setdefault(b, set()).add(a)

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(lo[order].tolist(), hi[order].tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra == rb:
            continue
        ca, cb = cannot.get(ra), cannot.get(rb)
        if ca is not None and rb in ca:
            continue  # this merge would put a cannot-linked pair together
        if size[ra] < size[rb]:
            ra, rb, ca, cb = rb, ra, cb, ca
        parent[rb] = ra
        size[ra] += size[rb]
        if cb:  # rb is gone: its partners now must never join ra
            for x in cb:
                partners = cannot[x]
                partners.discard(rb)
                partners.add(ra)
            if ca is None:
                cannot[ra] = cb
            else:
                ca |= cb
            del cannot[rb]

    roots = np.fromiter((find(i) for i in range(len(nodes))), dtype=np.int64, count=len(nodes))
    rep[nodes] = nodes[_smallest_member(roots, len(nodes))[roots]]
