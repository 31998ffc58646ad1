"""Which clusters keep their golden id without a decision, so that `golden_record.ids.assign_ids` decides only the rest.

A cluster is *stable* when every one of its records had the same previous golden id G and G's previous records are
all, and only, in that cluster: no record joined, left or moved. By the rules of golden_record/ids.py it keeps G
(rules 1-3: it claims G alone, and nothing else claims G). The others are decided by `assign_ids` over the clusters
that are not stable and the previous rows of the ids that are not stable (records gone included), and it decides
there exactly what it decides over everything:
- no record of an id that is not stable sits in a stable cluster (that cluster would hold it, so its id would be
  that id, which is stable), so each claim (rule 2) sees all the records it counts, and `previous_size` is whole;
- merges (rule 4) are among ids one cluster claims, all of them in the part decided;
- the clusters that claim nothing (rules 5, 6) are not stable, each with all its records, so new ids are handed out
  in the same order of smallest record id.
An unchanged run has every cluster stable: it reads nothing into pandas and decides nothing. The incremental golden
build (golden_record/run.py) uses this; a full build decides every cluster as before. Set-based: one full join of
the clusters onto the previous xref, one GROUP BY of it by (cluster, previous id) with two window sums.

With the records whose cluster changed since the previous ids were decided (RECLUSTERED, matching/reclustering.py:
clustering adds the records of every component it clusters again and every record gone, a build empties it), only
the part they reach is compared. A cluster holding none of them has the very records it had then, when it got its
own id G and G got exactly its records; so it is stable. The part compared is the clusters holding a changed record
and the previous ids of their records and of the changed ones; no previous id outside it has a record inside it
(that record's cluster would hold a changed record, or be one), so the part is closed and decides as the whole does."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd

STABLE = "_gi_stable"  # TEMP: record_id, golden_id of the records of stable clusters
_HELD = "_gi_held"  # TEMP: record_id, cluster_id (NULL: gone), golden_id (NULL: new) -- scratch of `split`
_PAIRS = "_gi_stable_pairs"  # TEMP: cluster_id, golden_id of each stable cluster -- scratch of `split`
_TOUCHED, _TOUCHED_IDS = "_gi_touched", "_gi_touched_ids"  # TEMP: the clusters and previous ids compared -- `split`
_SHOWN = 5


@dataclass(frozen=True)
class Split:
    clusters: pd.DataFrame  # record_id, cluster_id of the clusters left to decide
    previous: pd.DataFrame  # record_id, golden_id of the previous ids left to decide
    stable: int  # clusters that keep their id


def split(con: duckdb.DuckDBPyConnection, clusters: str, previous: str, changed: str | None = None) -> Split:
    """Fill STABLE and return what is left to decide. `clusters`, `previous`: relations (tables or subqueries) with
    record_id, cluster_id and record_id, golden_id. `changed` (record_id): the records whose cluster changed since
    `previous` was decided, when known; then only the part they reach is compared. Raises ValueError for a record id
    twice in either (in the part compared), as `assign_ids` does."""
    untouched = None
    if changed is not None:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_TOUCHED} AS
                SELECT DISTINCT cluster_id FROM {clusters} WHERE record_id IN (SELECT record_id FROM {changed})"""
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_TOUCHED_IDS} AS
                SELECT DISTINCT golden_id FROM {previous} WHERE record_id IN (
                  SELECT record_id FROM {changed}
                  UNION ALL SELECT record_id FROM {clusters} WHERE cluster_id IN (SELECT cluster_id FROM {_TOUCHED}))"""
        )
        ids = f"(SELECT golden_id FROM {_TOUCHED_IDS})"
        untouched = f"(SELECT record_id, golden_id FROM {previous} WHERE golden_id NOT IN {ids})"
        clusters = f"(SELECT * FROM {clusters} WHERE cluster_id IN (SELECT cluster_id FROM {_TOUCHED}))"
        previous = f"(SELECT * FROM {previous} WHERE golden_id IN {ids})"
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {_HELD} AS
            SELECT record_id, c.cluster_id, p.golden_id
            FROM (SELECT record_id, cluster_id FROM {clusters}) AS c
            FULL JOIN (SELECT record_id, golden_id FROM {previous}) AS p USING (record_id)"""
    )
    try:
        if con.execute(f"SELECT 1 FROM {_HELD} GROUP BY record_id HAVING count(*) > 1 LIMIT 1").fetchall():
            _refuse_duplicates(con, {"clusters": clusters, "previous": previous})
        # A pair (cluster, previous id) is stable when it holds every record of its cluster and of its id.
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {_PAIRS} AS
                SELECT cluster_id, golden_id FROM (  -- the sums count new and gone records too
                    SELECT cluster_id, golden_id, n = sum(n) OVER (PARTITION BY cluster_id)
                                                  AND n = sum(n) OVER (PARTITION BY golden_id) AS whole
                    FROM (SELECT cluster_id, golden_id, count(*) AS n FROM {_HELD} GROUP BY ALL))
                WHERE whole AND cluster_id IS NOT NULL AND golden_id IS NOT NULL"""
        )
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {STABLE} AS
                SELECT record_id, golden_id FROM {_HELD} SEMI JOIN {_PAIRS} USING (cluster_id)"""
        )
        rest = con.sql(
            f"""SELECT record_id, cluster_id FROM {_HELD} ANTI JOIN {_PAIRS} USING (cluster_id)
                WHERE cluster_id IS NOT NULL"""
        ).df()
        gone = con.sql(
            f"""SELECT record_id, golden_id FROM {_HELD} ANTI JOIN {_PAIRS} USING (golden_id)
                WHERE golden_id IS NOT NULL"""
        ).df()
        stable = con.execute(f"SELECT count(*) FROM {_PAIRS}").fetchall()[0][0]
        if untouched is not None:  # every cluster outside the part keeps its id, with its records as they were
            con.execute(f"INSERT INTO {STABLE} SELECT record_id, golden_id FROM {untouched}")
            stable += con.execute(f"SELECT count(DISTINCT golden_id) FROM {untouched}").fetchall()[0][0]
    finally:
        for table in (_HELD, _PAIRS, _TOUCHED, _TOUCHED_IDS):
            con.execute(f"DROP TABLE IF EXISTS {table}")
    return Split(rest, gone, int(stable))


def _refuse_duplicates(con: duckdb.DuckDBPyConnection, relations: dict[str, str]) -> None:
    for name, relation in relations.items():
        twice = con.execute(
            f"SELECT record_id FROM {relation} GROUP BY record_id HAVING count(*) > 1 ORDER BY 1 LIMIT {_SHOWN}"
        ).fetchall()
        if twice:
            raise ValueError(f"{name} has duplicate record id(s), e.g. {[r[0] for r in twice]}")


def combine(con: duckdb.DuckDBPyConnection, assigned: pd.DataFrame, minted: list[str], into: str) -> None:
    """Every record's golden id into the temporary table `into` (record_id, golden_id): STABLE's and those `assign_ids`
    decided (`assigned`), whose new ids (`minted`) are checked against the stable ones, as `assign_ids` checks them
    against the previous ids it was given: reusing one would fuse two people's histories. Drops STABLE."""
    con.register("_gi_assigned", assigned[["record_id", "golden_id"]])
    con.register("_gi_minted", pd.DataFrame({"golden_id": pd.Series(minted, dtype="str")}))
    try:
        reused = con.execute(
            f"SELECT DISTINCT golden_id FROM _gi_minted SEMI JOIN {STABLE} USING (golden_id) ORDER BY 1"
        ).fetchall()
        if reused:
            raise ValueError(f"mint returned {len(reused)} id(s) already in use: {[r[0] for r in reused[:_SHOWN]]}")
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {into} AS
                SELECT record_id, golden_id FROM {STABLE} UNION ALL SELECT record_id, golden_id FROM _gi_assigned"""
        )
    finally:
        con.unregister("_gi_assigned")
        con.unregister("_gi_minted")
        con.execute(f"DROP TABLE IF EXISTS {STABLE}")
