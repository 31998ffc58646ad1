"""The xref a publish sends: per source record its golden id, the strongest auto-match probability inside its golden
record, and how it was linked (singleton, auto, or steward when a 'match' decision involves it).

An incremental publish computes the rows only of the records whose row can differ from the xref last published
(golden_xref), and diffs those. A record's row reads its golden id, the size of that golden record, its steward
decisions and its scored pairs to the other members, so it can change only when
1. its golden id is one the build rebuilt (golden_rebuilt: every id whose member set changed since the last publish
   is among them) or one it retired (golden_redirects), as a member now or as published;
2. its scored pairs changed since the last publish (RESCORED: matching.run records both ends of every pair it
   deletes or writes, and publish empties it; with no such table, after a full scoring or in a workspace older than
   it, every record counts);
3. a 'match' decision involves it now, or did when the xref was last published (link_type 'steward').
Every other record keeps its golden id, that golden record's members, its pairs to them and its link type."""

from __future__ import annotations

import pandas as pd

from hub.catalogue import (
    GOLDEN_MEMBERS,
    GOLDEN_REBUILT,
    GOLDEN_REDIRECTS,
    GOLDEN_XREF,
    PAIRS,
    RESCORED,
    key_sql,
    record_id_sql,
    system_sql,
)
from hub.workspace import Workspace

NOW = "_golden_xref_now"  # this publish's xref rows: all of them, or those of the records SCOPE is drawn from
SCOPE = "_golden_xref_scope"  # an incremental publish's xref keys: those that differ from golden_xref, or are gone
_RECORDS = "_golden_xref_records"  # an incremental publish's records whose row can have changed (the rules above)


def compute(ws: Workspace, must_link: pd.DataFrame | None, incremental: bool) -> None:
    """NOW, and for an incremental publish SCOPE too. `must_link` (id_l, id_r): the 'match' decisions in force."""
    steward = pd.concat([must_link["id_l"], must_link["id_r"]]) if must_link is not None and len(must_link) else []
    con = ws.con
    con.register("_steward", pd.DataFrame({"record_id": pd.Series(list(steward), dtype="string")}))
    try:
        scoped = incremental and ws.has_table(RESCORED)
        if scoped:
            con.execute(
                f"""CREATE OR REPLACE TEMP TABLE {_RECORDS} AS
                    SELECT record_id FROM {GOLDEN_MEMBERS} WHERE golden_id IN (SELECT golden_id FROM {GOLDEN_REBUILT})
                    UNION SELECT {record_id_sql()} FROM {GOLDEN_XREF}
                    WHERE link_type = 'steward' OR golden_id IN
                      (SELECT golden_id FROM {GOLDEN_REBUILT} UNION ALL SELECT retired_id FROM {GOLDEN_REDIRECTS})
                    UNION SELECT record_id FROM {RESCORED}
                    UNION SELECT record_id FROM _steward"""
            )
        con.execute(f"CREATE OR REPLACE TEMP TABLE {NOW} AS {_rows_sql(_RECORDS if scoped else None)}")
        if not incremental:
            return
        published = GOLDEN_XREF
        if scoped:
            published = f"""(SELECT x.* FROM {GOLDEN_XREF} AS x SEMI JOIN
                               (SELECT {system_sql("record_id")} AS source_system, {key_sql("record_id")} AS source_key
                                FROM {_RECORDS}) AS r USING (source_system, source_key))"""
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {SCOPE} AS
                SELECT source_system, source_key FROM (SELECT * FROM {NOW} EXCEPT SELECT * FROM {published})
                UNION SELECT source_system, source_key FROM (SELECT source_system, source_key FROM {published}
                                                              EXCEPT SELECT source_system, source_key FROM {NOW})"""
        )
    finally:
        con.unregister("_steward")
        con.execute(f"DROP TABLE IF EXISTS {_RECORDS}")


def _rows_sql(records: str | None) -> str:
    """The xref rows of the records in the table `records` (record_id), or of every member (None)."""
    members, pairs, sized = GOLDEN_MEMBERS, PAIRS, ""
    if records is not None:
        sized = "WHERE golden_id IN (SELECT golden_id FROM m)"
        members = f"(SELECT * FROM {GOLDEN_MEMBERS} SEMI JOIN {records} USING (record_id))"
        pairs = f"""(SELECT * FROM {PAIRS} WHERE unique_id_l IN (SELECT record_id FROM {records})
                     UNION ALL SELECT * FROM {PAIRS} WHERE unique_id_r IN (SELECT record_id FROM {records})
                                                     AND unique_id_l NOT IN (SELECT record_id FROM {records}))"""
    return f"""
        WITH m AS (SELECT record_id, golden_id FROM {members}),
        probs AS (  -- both ends of every pair inside one golden record, in one pass
          SELECT id, max(p) AS p FROM (
            SELECT unnest([s.unique_id_l, s.unique_id_r]) AS id, s.match_probability AS p
            FROM {pairs} s
            JOIN {GOLDEN_MEMBERS} a ON a.record_id = s.unique_id_l
            JOIN {GOLDEN_MEMBERS} b ON b.record_id = s.unique_id_r
            WHERE a.golden_id = b.golden_id) GROUP BY id),
        sizes AS (SELECT golden_id, count(*) AS n FROM {GOLDEN_MEMBERS} {sized} GROUP BY golden_id)
        SELECT {system_sql("m.record_id")} AS source_system, {key_sql("m.record_id")} AS source_key,
               m.golden_id, probs.p AS match_probability,
               CASE WHEN m.record_id IN (SELECT record_id FROM _steward) THEN 'steward'
                    WHEN sizes.n = 1 THEN 'singleton' ELSE 'auto' END AS link_type
        FROM m JOIN sizes USING (golden_id) LEFT JOIN probs ON probs.id = m.record_id"""
