"""Stable golden ids: decide which golden id each of this run's clusters carries.

Cluster ids are per-run labels; golden ids are what downstream systems (and the write-back into every source)
hold on to, so they are minted once and carried forward. The only inputs are this run's clusters, the last
published record -> golden id map (xref) and when each live id was created, so the same inputs always give the
same ids. The rules:

1. **Unchanged input gives identical ids**, and mints nothing.
2. **Claim**: each previous golden id is claimed by the new cluster that holds the most of its previous records
   (ties: the smallest cluster_id). An id whose records are all gone (deleted / quarantined) is **dropped**:
   reported, never reused, and it still resolves through golden-record history.
3. **Keep**: a cluster that claims exactly one previous id keeps it. A new record joining a cluster changes
   nothing.
4. **Merge**: a cluster that claims several ids keeps the one with the most previous records, then the older
   one (earlier created_at; an unknown created_at counts as newest), then the smaller id. The others are retired
   with a redirect retired_id -> surviving_id (reason 'merge'); the survivor is always live in this run. Only
   ids whose records share a cluster can tie, so only their created_at is needed (`tie_candidates`).
5. **Split**: when a previous cluster's records now sit in several clusters, the part holding most of them keeps
   the id (rule 2); the other parts that claim no id get new ids. No redirect is involved: the old id still
   resolves, to the largest part.
6. **New**: every cluster that claims nothing gets a new id from the caller's `mint(n)`, called once with the
   number needed (not at all when none is); ids are handed out in the order of each cluster's smallest record
   id, so minting is deterministic. Minted ids must be new: they are checked to be unique and unused by any
   previous or live id; never handing out an older, dropped or retired id again is the id sequence's job.
7. **Retired ids always resolve in one hop**: the store adds this run's redirects and repoints older ones at
   them (A retired into B earlier, B into C now: A -> C) -- `repoint_redirects` does exactly that.

A retired id is never resurrected. After A and B merge (A kept, B -> A) and split again, the part holding most
of A's records keeps A and the other part gets a new id, not B: downstream systems and the sources were already
told that B is A, and a redirect must not change meaning later. Bringing B back would also need older history
than the last published xref, and the part need not be the records B once had.

Everything is set-based SQL in one private in-memory DuckDB connection (one hash join of the previous xref onto
this run's records, a few GROUP BYs and window functions); there is no Python loop over records, clusters or merge
groups. 1M records take about 1.3 s (2.2 s CPU) on a 2-core machine (benchmarks/golden_ids_speed.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from hub.encryption import scratch_duckdb

__all__ = ["IdAssignment", "assign_ids", "repoint_redirects", "tie_candidates"]

_SHOWN = 5  # how many offending ids an error message spells out


@dataclass
class IdAssignment:
    """This run's golden ids, and what changed relative to the previous run."""

    members: pd.DataFrame  # record_id, golden_id: one row per record of this run, in the order of `clusters`
    minted: list[str]  # ids created in this run, in the order they were handed out (rule 6)
    redirects: pd.DataFrame  # retired_id, surviving_id, reason ('merge'), sorted by retired_id
    dropped: list[str]  # previous ids with no records left, sorted
    kept: int  # clusters that kept an existing id


def assign_ids(
    clusters: pd.DataFrame,
    previous: pd.DataFrame,
    golden_created: pd.DataFrame,
    mint: Callable[[int], list[str]],
) -> IdAssignment:
    """Give every cluster of this run a golden id by the rules in the module docstring.

    `clusters` has record_id, cluster_id (this run); `previous` has record_id, golden_id (the last published
    xref; may be empty); `golden_created` has golden_id, created_at (live ids; only breaks ties between equally
    large merged clusters, so it may be empty or miss ids). Record and golden ids are strings.

    Raises ValueError for missing columns, null ids, duplicate record ids (in `clusters` or `previous`),
    duplicate ids in `golden_created`, or `mint` returning the wrong number of ids, duplicates or ids already in
    use; TypeError for ids that are not strings.
    """
    frames = {
        "clusters": _columns(clusters, "clusters", ["record_id", "cluster_id"]),
        "previous": _columns(previous, "previous", ["record_id", "golden_id"]),
        "golden_created": _columns(golden_created, "golden_created", ["golden_id", "created_at"]),
    }
    # Members come back in input order: sorting 1M string ids would cost more than everything else together.
    frames["clusters"] = frames["clusters"].assign(pos=np.arange(len(frames["clusters"])))
    # One comparable type whatever the store hands over (strings, naive or aware timestamps); naive means UTC.
    created = pd.to_datetime(frames["golden_created"]["created_at"], utc=True).dt.tz_localize(None)
    frames["golden_created"] = frames["golden_created"].assign(created_at=created)

    con = scratch_duckdb()
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        _check_strings(con, {"clusters": ["record_id"], "previous": ["record_id", "golden_id"]})
        _check_unique(con)

        con.execute(_CLAIMS)
        kept = con.execute(_KEPT).fetchall()[0][0]
        outcome = con.sql(_OUTCOME).to_arrow_table()
        retired = outcome.filter(pc.is_valid(outcome.column("surviving_id")))
        dropped = outcome.column("golden_id").filter(pc.is_null(outcome.column("surviving_id"))).to_pylist()

        unclaimed = con.sql(_UNCLAIMED).to_arrow_table().column("cluster_id")
        minted: list[str] = []
        if len(unclaimed):
            minted = list(mint(len(unclaimed)))
            con.register("new", pa.table({"cluster_id": unclaimed, "golden_id": _as_strings(minted, len(unclaimed))}))
            _check_new(con)
            con.execute("INSERT INTO assigned SELECT cluster_id, golden_id FROM new")

        golden_ids = con.sql(_MEMBERS).to_arrow_table().column("golden_id")
    finally:
        con.close()

    members = pd.DataFrame(
        {
            "record_id": frames["clusters"]["record_id"].astype("str").reset_index(drop=True),
            "golden_id": pd.Series(golden_ids, dtype="str"),
        }
    )
    redirects = pd.DataFrame(
        {
            "retired_id": pd.Series(retired.column("golden_id"), dtype="str"),
            "surviving_id": pd.Series(retired.column("surviving_id"), dtype="str"),
            "reason": pd.Series(["merge"] * retired.num_rows, dtype="str"),
        }
    )
    return IdAssignment(members=members, minted=minted, redirects=redirects, dropped=dropped, kept=kept)


# Rule 2: one row per previous id -- the cluster claiming it (NULL: all its records are gone) and how many records
# it had. Ordering on (gone, -count, cluster_id) makes the claim deterministic.
_CLAIMS = """
CREATE TEMP TABLE claims AS
WITH parts AS (
    SELECT p.golden_id, c.cluster_id, count(*) AS n
    FROM previous AS p LEFT JOIN clusters AS c USING (record_id)
    GROUP BY ALL
)
SELECT golden_id, cluster_id, sum(n) OVER (PARTITION BY golden_id) AS previous_size
FROM parts
QUALIFY row_number() OVER (PARTITION BY golden_id ORDER BY cluster_id IS NULL, n DESC, cluster_id) = 1
"""

# Rules 3 and 4: of the ids a cluster claims, it keeps the largest, then oldest, then smallest. Returns the count.
_KEPT = """
CREATE TEMP TABLE assigned AS
SELECT cluster_id, golden_id
FROM claims LEFT JOIN golden_created USING (golden_id)
WHERE cluster_id IS NOT NULL
QUALIFY row_number() OVER (
    PARTITION BY cluster_id ORDER BY previous_size DESC, created_at ASC NULLS LAST, golden_id
) = 1
"""

# Every previous id not kept: retired into its cluster's survivor, or dropped (no cluster: surviving_id NULL).
_OUTCOME = """
SELECT c.golden_id, a.golden_id AS surviving_id
FROM claims AS c LEFT JOIN assigned AS a USING (cluster_id)
WHERE a.golden_id IS DISTINCT FROM c.golden_id
ORDER BY c.golden_id
"""

# Rules 5 and 6: clusters that claimed nothing, in the order their new ids are handed out.
_UNCLAIMED = """
SELECT cluster_id FROM clusters ANTI JOIN assigned USING (cluster_id)
GROUP BY cluster_id ORDER BY min(record_id)
"""

_MEMBERS = "SELECT a.golden_id FROM clusters AS c JOIN assigned AS a USING (cluster_id) ORDER BY c.pos"


def tie_candidates(clusters: pd.DataFrame, previous: pd.DataFrame) -> list[str]:
    """The previous ids whose created_at can decide anything: rule 4 reads it only among the ids one cluster claims,
    and a cluster claims only ids of records it holds, so only ids whose records share a cluster with another
    previous id's records can be in a tie. `assign_ids` given the created_at of just these (sorted) decides as with
    all of them: a run reads a few ids' times from the store instead of every live id's."""
    con = scratch_duckdb()
    try:
        con.register("clusters", clusters[["record_id", "cluster_id"]])
        con.register("previous", previous[["record_id", "golden_id"]])
        rows = con.execute(
            """WITH held AS (SELECT DISTINCT c.cluster_id, p.golden_id
                             FROM clusters AS c JOIN previous AS p USING (record_id)),
                    shared AS (SELECT cluster_id FROM held GROUP BY cluster_id HAVING count(*) > 1)
               SELECT DISTINCT golden_id FROM held SEMI JOIN shared USING (cluster_id) ORDER BY golden_id"""
        ).fetchall()
    finally:
        con.close()
    return [r[0] for r in rows]


def repoint_redirects(existing: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """The full redirect table after this run: older redirects into an id retired now follow it, then `new`.

    Every retired id keeps resolving in one hop: A -> B from an earlier run and B -> C now give A -> C and B -> C.
    One hop is enough because a surviving id is live in the run that names it. Extra columns of `existing` (e.g.
    when it was retired) are kept; the original reason stays. The store's SQL equivalent is
    ``UPDATE redirects SET surviving_id = n.surviving_id FROM new AS n WHERE redirects.surviving_id = n.retired_id``
    followed by inserting `new`.

    Raises ValueError if `new` retires an id, or redirects to an id, that was already retired: a retired id is
    never live again.
    """
    if len(new) == 0 or len(existing) == 0:
        return (new if len(new) else existing).reset_index(drop=True)
    retired = existing["retired_id"]
    if len(again := new["retired_id"][new["retired_id"].isin(retired)]):
        raise ValueError(f"{len(again)} id(s) retired twice, e.g. {sorted(again)[:_SHOWN]}")
    if len(dead := new["surviving_id"][new["surviving_id"].isin(retired)]):
        raise ValueError(f"{len(dead)} redirect(s) point at an already retired id, e.g. {sorted(dead)[:_SHOWN]}")
    onward = existing["surviving_id"].map(new.set_index("retired_id")["surviving_id"])
    repointed = existing.assign(surviving_id=onward.fillna(existing["surviving_id"]))
    return pd.concat([repointed, new], ignore_index=True)


def _columns(frame: pd.DataFrame, name: str, columns: list[str]) -> pd.DataFrame:
    """The needed columns with null-free ids. An empty frame may come without columns (e.g. on the first run)."""
    if len(frame) == 0:
        types = {"created_at": "datetime64[us]"}
        return pd.DataFrame({c: pd.Series([], dtype=types.get(c, "str")) for c in columns})
    if missing := [c for c in columns if c not in frame.columns]:
        raise ValueError(f"{name} needs columns {columns}; missing {missing}")
    for column in columns:
        if column != "created_at" and (nulls := int(frame[column].isna().sum())):
            raise ValueError(f"{name} has {nulls} null {column}(s)")
    return frame[columns]


def _check_strings(con: duckdb.DuckDBPyConnection, columns: dict[str, list[str]]) -> None:
    for table, names in columns.items():
        types = {d[0]: str(d[1]) for d in con.execute(f"SELECT * FROM {table} LIMIT 0").description}
        for column in names:
            if types[column] != "VARCHAR":
                raise TypeError(f"{table}.{column} must hold strings, got {types[column]}")


def _check_unique(con: duckdb.DuckDBPyConnection) -> None:
    """Each record has one cluster and one previous id, each live id one created_at -- anything else is ambiguous."""
    dupes = con.execute(
        """
        SELECT 'clusters', 'record id', record_id FROM clusters GROUP BY ALL HAVING count(*) > 1
        UNION ALL SELECT 'previous', 'record id', record_id FROM previous GROUP BY ALL HAVING count(*) > 1
        UNION ALL SELECT 'golden_created', 'golden id', golden_id FROM golden_created GROUP BY ALL HAVING count(*) > 1
        ORDER BY ALL
        """
    ).fetchall()
    if dupes:
        table, what = dupes[0][:2]
        ids = [row[2] for row in dupes if row[0] == table]
        raise ValueError(f"{table} has {len(ids)} duplicate {what}(s), e.g. {ids[:_SHOWN]}")


def _as_strings(minted: list[str], wanted: int) -> pa.Array:
    try:
        ids = pa.array(minted)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise TypeError(f"mint must return strings: {exc}") from exc
    if not (pa.types.is_string(ids.type) or pa.types.is_large_string(ids.type)) or ids.null_count:
        raise TypeError(f"mint must return non-null strings, got {ids.type} with {ids.null_count} null(s)")
    if len(ids) != wanted:
        raise ValueError(f"mint({wanted}) returned {len(ids)} id(s)")
    return ids


def _check_new(con: duckdb.DuckDBPyConnection) -> None:
    """Minted ids must be new: reusing a live, previous or twice-minted id would fuse two people's histories."""
    twice = con.execute("SELECT golden_id FROM new GROUP BY ALL HAVING count(*) > 1 ORDER BY ALL").fetchall()
    if twice:
        raise ValueError(f"mint returned {len(twice)} duplicate ids, e.g. {[r[0] for r in twice[:_SHOWN]]}")
    reused = con.execute(
        "SELECT golden_id FROM new WHERE golden_id IN "
        "(SELECT golden_id FROM previous UNION ALL SELECT golden_id FROM golden_created) ORDER BY ALL"
    ).fetchall()
    if reused:
        raise ValueError(f"mint returned {len(reused)} id(s) already in use: {[r[0] for r in reused[:_SHOWN]]}")
