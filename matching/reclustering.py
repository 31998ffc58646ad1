"""Which records a clustering run must cluster again: the components its changes reach, no others.

The clusters of a component depend on that component's records, auto-match edges (with their probabilities: a split
takes the strongest first) and steward decisions only (matching/clustering.py), and a cluster's id is its smallest
record id. So a component whose records, edges and decisions are as they were last time clusters as it did, and
clustering the others alone gives what clustering everything gives.

Rules:
1. The input of a run is one table of (kind, id_l, id_r, p): the auto-match edges, "match" and "not a match"
   decisions, after restricted people's groups were frozen into them. The last run's input is kept (CLUSTER_BASIS).
2. Seeds: both ends of every input row that is new or gone since (a row is its kind, ids and probability), and
   every record that is new since.
3. The records to cluster again: the last clusters of the seeds, grown by the last clusters of every record an
   auto edge or a "match" joins to them, until nothing joins them to the rest (a few rounds; each is one join).
   Only "not a match" decisions never join: they split inside a component, they never reach out of it.
Records gone since the last run leave `clusters`; everything else keeps its row.

For the golden build (golden_record/stable_ids.py), RECLUSTERED keeps the records whose cluster changed since the
last build: `note` adds the records of every component clustered again and every record gone, `mark_build` empties
it. It is trusted only while `clusters` is as the last of them left it (a fingerprint of its rows, kept in
match_state): `clusters` written any other way, or a full clustering, and the next build compares every cluster.
"""

from __future__ import annotations

import duckdb

from hub.catalogue import CLUSTER_BASIS, CLUSTERS, RECLUSTERED, columns_sql
from hub.workspace import Workspace, scalar, table_fingerprint
from matching import changes

_JOINING = "kind IN ('edge', 'match')"
ADDED, REMOVED = "_cluster_added", "_cluster_removed"  # TEMP: input rows new and gone since CLUSTER_BASIS (seeds)
CHURN = "_cluster_churn"  # TEMP: records new since the last clustering (new_id) and gone since (gone_id), by `seeds`


def seeds(con: duckdb.DuckDBPyConnection, input_table: str, ids_table: str, into: str) -> int:
    """Create `into` (record_id) with the seeds (rule 2) of `input_table` against CLUSTER_BASIS, `ids_table` holding
    the present unique_ids, and ADDED and REMOVED with the input rows that make them, CHURN with the records new and
    gone since the last clustering; returns how many seeds.

    When the auto-match edges are the basis's (equal stamps: a steward's decision re-clusters without scoring, so
    its input differs from the basis only in decisions), only the decisions are compared: two stamps of the edges
    cost a third of the two differences over a million of them. The records new and gone are one full join of the
    present ids and `clusters` (two anti-joins took twice its time at 1M records)."""
    same_edges = table_fingerprint(con, _edges(input_table)) == table_fingerprint(con, _edges(CLUSTER_BASIS))
    rows = "WHERE kind <> 'edge'" if same_edges else ""
    for table, new, old in ((ADDED, input_table, CLUSTER_BASIS), (REMOVED, CLUSTER_BASIS, input_table)):
        con.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT * FROM {new} {rows} EXCEPT SELECT * FROM {old}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {CHURN} AS
            SELECT i.unique_id AS new_id, c.record_id AS gone_id
            FROM (SELECT unique_id FROM {ids_table}) AS i FULL JOIN (SELECT record_id FROM {CLUSTERS}) AS c
              ON c.record_id = i.unique_id
            WHERE i.unique_id IS NULL OR c.record_id IS NULL"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
            WITH changed AS (SELECT * FROM {ADDED} UNION ALL SELECT * FROM {REMOVED})
            SELECT id_l AS record_id FROM changed UNION SELECT id_r FROM changed
            UNION SELECT new_id FROM {CHURN} WHERE new_id IS NOT NULL"""
    )
    return int(scalar(con, f"SELECT count(*) FROM {into}"))


def _edges(table: str) -> str:
    return f"(SELECT * FROM {table} WHERE kind = 'edge')"


def keep(con: duckdb.DuckDBPyConnection) -> None:
    """After `seeds` and the clustering it led to: CLUSTER_BASIS becomes that input, by its differences only (a set,
    as `seeds` reads it; rewritten whole it took half a second at 1M records)."""
    con.execute(
        f"""DELETE FROM {CLUSTER_BASIS} AS b USING {REMOVED} AS r
            WHERE b.kind = r.kind AND b.id_l = r.id_l AND b.id_r = r.id_r AND b.p IS NOT DISTINCT FROM r.p"""
    )
    con.execute(f"INSERT INTO {CLUSTER_BASIS} BY NAME SELECT * FROM {ADDED}")


def grow(con: duckdb.DuckDBPyConnection, input_table: str, seeds: str, into: str) -> int:
    """Create `into` (record_id) with the records to cluster again (rule 3) from the table `seeds`; returns how
    many."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
            SELECT record_id FROM {seeds}
            UNION SELECT c.record_id FROM {CLUSTERS} AS c
                  WHERE c.cluster_id IN (SELECT k.cluster_id FROM {CLUSTERS} AS k
                                         WHERE k.record_id IN (SELECT record_id FROM {seeds}))"""
    )
    while True:
        before = scalar(con, f"SELECT count(*) FROM {into}")
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _reach AS
                SELECT i.id_r AS record_id FROM {input_table} AS i SEMI JOIN {into} AS s ON s.record_id = i.id_l
                WHERE {_JOINING}
                UNION SELECT i.id_l FROM {input_table} AS i SEMI JOIN {into} AS s ON s.record_id = i.id_r
                WHERE {_JOINING}"""
        )
        con.execute(
            f"""INSERT INTO {into}
                SELECT record_id FROM _reach WHERE record_id NOT IN (SELECT record_id FROM {into})
                UNION SELECT c.record_id FROM {CLUSTERS} AS c
                      WHERE c.cluster_id IN (SELECT k.cluster_id FROM {CLUSTERS} AS k
                                             WHERE k.record_id IN (SELECT record_id FROM _reach))
                        AND c.record_id NOT IN (SELECT record_id FROM {into})"""
        )
        con.execute("DROP TABLE _reach")
        after = scalar(con, f"SELECT count(*) FROM {into}")
        if after == before:
            return int(after)


_LOGGED = "reclustered"  # match_state step: the fingerprint of `clusters` RECLUSTERED is up to date with


def _current(ws: Workspace) -> bool:
    return ws.has_table(RECLUSTERED) and changes.state(ws.con, _LOGGED) == table_fingerprint(ws.con, CLUSTERS)


def gone(con: duckdb.DuckDBPyConnection, into: str) -> None:
    """Create `into` (record_id) with the records of `clusters` no longer standardized (deleted, quarantined), as
    `seeds` found them."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT gone_id AS record_id FROM {CHURN} WHERE gone_id IS NOT NULL"
    )


def note(ws: Workspace, recluster: str | None, gone: str | None) -> None:
    """Before a clustering run replaces rows of `clusters`: note the records of `recluster` and `gone` (record_id:
    every record gone, see `gone`), if RECLUSTERED is up to date; None (a full clustering) or not up to date: forget
    it. `after` is called once `clusters` holds the new rows."""
    if recluster is None or gone is None or not _current(ws):
        ws.con.execute(f"DROP TABLE IF EXISTS {RECLUSTERED}")
        changes.set_state(ws.con, _LOGGED, None)
        return
    ws.con.execute(f"INSERT INTO {RECLUSTERED} SELECT record_id FROM {recluster} UNION SELECT record_id FROM {gone}")


def after(ws: Workspace) -> None:
    """`clusters` holds a clustering run's rows: RECLUSTERED, if still kept, is up to date with them."""
    if ws.has_table(RECLUSTERED):
        changes.set_state(ws.con, _LOGGED, table_fingerprint(ws.con, CLUSTERS))


def changed_since_build(ws: Workspace) -> str | None:
    """RECLUSTERED when it holds every record whose cluster changed since the last build, else None."""
    return RECLUSTERED if _current(ws) else None


def mark_build(ws: Workspace) -> None:
    """A build decided its ids from `clusters` as they are now: nothing has changed since (an empty RECLUSTERED)."""
    ws.con.execute(f"CREATE OR REPLACE TABLE {RECLUSTERED} ({columns_sql(RECLUSTERED)})")
    changes.set_state(ws.con, _LOGGED, table_fingerprint(ws.con, CLUSTERS))
