"""Which records a write-back plan looks at: those whose plan could differ from the one last settled for them.

A record's plan (connectors/writeback_plan.py) is a function of its own rows in the workspace and of what the whole
source shares. Its own rows: the staged row (as pulled, or as read back after a write), its golden id and the golden
values the plan reads, its standardized evidence, its write-back state and echoes, the fields it lost on
(golden_contested), the pins and member conflicts of its golden record, its field warnings. Shared: the plan's SQL
(hub.yaml's mapping, accepted fields and policies, the styles learned from the source, the code that writes it) and
the value forms it compares with (hub.forms.fingerprint). A record's `basis` is a 64-bit hash of all of it.

A record the plan considered and found nothing to write into is *settled*: its basis goes into `writeback_basis`,
with the two report flags of rows left alone (address kept, conflicted). A later plan considers only records whose
basis is not the one stored: the others would be planned exactly as before, that is, not at all. A record with
something to write is never settled by that plan: it is settled only once a later plan finds it holding its
golden values as the workspace last confirmed them from the source (the rows read back after each write). A
write-back makes that plan itself before it ends, over the rows it wrote (connectors/writeback.py); a conflict,
a stale or restricted row, or a write-back that failed leaves its rows unsettled, to be considered again. So the
stored basis always describes a confirmed outcome, never a plan not yet carried out, and a failed write-back leaves
nothing to repair here. A full plan (`full`) considers every record and rewrites the source's basis.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pandas as pd

from hub import forms
from hub.catalogue import (
    ECHOES,
    FIELD_WARNINGS,
    GOLDEN_CONFLICTS,
    GOLDEN_CONTESTED,
    GOLDEN_LINEAGE,
    GOLDEN_MEMBERS,
    GOLDEN_VALUES,
    STAGED,
    STANDARDIZED,
    WRITEBACK_BASIS,
    WRITEBACK_STATE,
    columns_sql,
    of_system_sql,
    record_id_sql,
)
from hub.workspace import Workspace

# The golden address's lineage rows: the latest of their times is the golden address's (a plan reads it).
ADDRESS_AT = ("address_line1", "postal_code")

CONSIDER = "_writeback_consider"  # TEMP: source_key, basis, skip (settled and unchanged) of one plan's source
UNREAD = ("pulled_at",)  # staged columns no plan reads: a row pulled again with the same values is unchanged


@dataclass(frozen=True)
class Considered:
    records: int  # records the plan looks at
    address_kept: int  # settled records left out that count as `address_kept` in the plan's report
    conflicted: int  # ... and as `conflicted`


def ensure(ws: Workspace) -> None:
    ws.con.execute(f"CREATE TABLE IF NOT EXISTS {WRITEBACK_BASIS} ({columns_sql(WRITEBACK_BASIS)})")


def consider(
    ws: Workspace,
    source: str,
    golden: list[str],
    accepted: list[str],
    plan_sql: str,
    full: bool,
    only: pd.Series | None = None,
) -> Considered:
    """Fill CONSIDER with every record of `source` the plan can see (it joins a golden record), its basis and
    whether it is skipped. `golden`: the golden values `plan_sql` reads; `accepted`: the fields whose evidence and
    echoes it reads. Hashing is most of the cost, so only what the plan reads is hashed. `only`: just these keys
    (the rows a write-back just wrote, to settle them at once)."""
    ensure(ws)
    shared = hashlib.md5((plan_sql + forms.fingerprint()).encode(), usedforsecurity=False).hexdigest()
    staged = ", ".join(c for c in _columns(ws, STAGED) if c not in UNREAD)
    values = ", ".join(golden) or "NULL"
    evidence = ", ".join(["source_version", "source_updated_at", *accepted])
    written = ", ".join(f"{f}__written" for f in accepted) or "NULL"
    keys = pd.Series([] if only is None else only, dtype="string")
    ws.con.register("_writeback_only", pd.DataFrame({"source_key": keys.to_numpy()}))
    among = "" if only is None else " AND source_key IN (SELECT source_key FROM _writeback_only)"
    # the golden record's pins and, where the plan reads an address, the time of the golden one (writeback_plan)
    lineage, lineage_rows = "sum(hash(field))", "rule = 'pinned'"
    if "address_line1" in golden:
        lineage = f"hash({lineage} FILTER (WHERE rule = 'pinned'), max(value_at) FILTER (WHERE field IN {ADDRESS_AT}))"
        lineage_rows += f" OR field IN {ADDRESS_AT}"
    # Each table's columns are hashed before the joins: carried through them whole, they cost a third more.
    ws.con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {CONSIDER} AS
            WITH now AS (
                SELECT s.source_key, hash(s.h, m.golden_id, g.h, r.h, w.h, e.h, c.h, p.h, x.golden_id IS NOT NULL, u.h,
                                          $shared) AS basis
                FROM (SELECT source_key, {record_id_sql()} AS record_id, hash({staged}) AS h FROM {STAGED}
                      WHERE source_system = $source{among}) AS s
                JOIN {GOLDEN_MEMBERS} AS m ON m.record_id = s.record_id
                JOIN (SELECT golden_id, hash({values}) AS h FROM {GOLDEN_VALUES}) AS g ON g.golden_id = m.golden_id
                LEFT JOIN (SELECT unique_id, hash({evidence}) AS h FROM {STANDARDIZED} WHERE source_system = $source)
                          AS r ON r.unique_id = m.record_id
                LEFT JOIN (SELECT source_key, hash(golden_id, values_hash, source_version) AS h FROM {WRITEBACK_STATE}
                           WHERE source_system = $source) AS w ON w.source_key = s.source_key
                LEFT JOIN (SELECT source_key, hash({written}) AS h FROM {ECHOES} WHERE source_system = $source) AS e
                       ON e.source_key = s.source_key
                LEFT JOIN (SELECT record_id, sum(hash(field, rule)) AS h FROM {GOLDEN_CONTESTED}
                           WHERE {of_system_sql("record_id", "$source")} GROUP BY record_id) AS c
                       ON c.record_id = m.record_id
                LEFT JOIN (SELECT golden_id, {lineage} AS h FROM {GOLDEN_LINEAGE} WHERE {lineage_rows}
                           GROUP BY golden_id) AS p ON p.golden_id = m.golden_id
                LEFT JOIN (SELECT DISTINCT golden_id FROM {GOLDEN_CONFLICTS}) AS x ON x.golden_id = m.golden_id
                LEFT JOIN (SELECT source_key, sum(hash(field)) AS h FROM {FIELD_WARNINGS}
                           WHERE source_system = $source GROUP BY source_key) AS u ON u.source_key = s.source_key)
            SELECT now.source_key, now.basis, coalesce(NOT $full AND b.basis = now.basis, false) AS skip,
                   b.address_kept, b.conflicted
            FROM now LEFT JOIN (SELECT * FROM {WRITEBACK_BASIS} WHERE source_system = $source) AS b
                 ON b.source_key = now.source_key""",
        {"source": source, "shared": shared, "full": full},
    )
    ws.con.unregister("_writeback_only")
    records, kept, conflicted = ws.con.execute(
        f"""SELECT count(*) FILTER (NOT skip), count(*) FILTER (skip AND address_kept),
                   count(*) FILTER (skip AND conflicted) FROM {CONSIDER}"""
    ).fetchall()[0]
    return Considered(int(records), int(kept), int(conflicted))


def considered_sql() -> str:
    """SQL: the keys of the records the plan looks at (a subquery over CONSIDER)."""
    return f"SELECT source_key FROM {CONSIDER} WHERE NOT skip"


def carry(ws: Workspace, carried: pd.DataFrame) -> pd.DataFrame:
    """Take the `carried` records (source_key, address_kept, conflicted) out of the records the plan looks at and
    return them settled (source_key, basis, address_kept, conflicted), with the basis `consider` just gave them:
    records whose plan is known without making it (see writeback_plan.plan)."""
    ws.con.register("_writeback_carried", carried[["source_key", "address_kept", "conflicted"]])
    try:
        rows = ws.con.execute(
            f"""SELECT c.source_key, c.basis, k.address_kept, k.conflicted
                FROM {CONSIDER} AS c JOIN _writeback_carried AS k ON k.source_key = c.source_key WHERE NOT c.skip"""
        ).df()
        ws.con.execute(
            f"UPDATE {CONSIDER} SET skip = true WHERE source_key IN (SELECT source_key FROM _writeback_carried)"
        )
    finally:
        ws.con.unregister("_writeback_carried")
    return rows


def settled(ws: Workspace, outcome: pd.DataFrame) -> pd.DataFrame:
    """The considered records with nothing to write (source_key, basis, address_kept, conflicted), from the plan's
    `outcome` (source_key, todo, address_kept, conflicted) of the records it returned (the others it found
    nothing to do for)."""
    ws.con.register("_writeback_outcome", outcome)
    try:
        return ws.con.execute(
            f"""SELECT c.source_key, c.basis, coalesce(o.address_kept, false) AS address_kept,
                       coalesce(o.conflicted, false) AS conflicted
                FROM {CONSIDER} AS c LEFT JOIN _writeback_outcome AS o ON o.source_key = c.source_key
                WHERE NOT c.skip AND NOT coalesce(o.todo, false)"""
        ).df()
    finally:
        ws.con.unregister("_writeback_outcome")


def settle(ws: Workspace, source: str, settled: pd.DataFrame, unsettled: pd.Series, full: bool) -> None:
    """Store the basis of the `settled` records and forget the one of `unsettled` keys (the plan has something to
    write into them); a `full` plan first forgets the whole source's (records gone from it included)."""
    ensure(ws)
    with ws.transaction() as con:
        if full:
            con.execute(f"DELETE FROM {WRITEBACK_BASIS} WHERE source_system = ?", [source])
        elif len(unsettled):
            con.register("_writeback_unsettled", pd.DataFrame({"source_key": unsettled.astype("string")}))
            con.execute(
                f"""DELETE FROM {WRITEBACK_BASIS} WHERE source_system = ?
                    AND source_key IN (SELECT source_key FROM _writeback_unsettled)""",
                [source],
            )
            con.unregister("_writeback_unsettled")
        if len(settled):
            con.register("_writeback_settled", settled)
            con.execute(
                f"""INSERT OR REPLACE INTO {WRITEBACK_BASIS}
                    SELECT ?, source_key, basis, address_kept, conflicted FROM _writeback_settled""",
                [source],
            )
            con.unregister("_writeback_settled")


def _columns(ws: Workspace, table: str) -> list[str]:
    return [r[0] for r in ws.con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()]
