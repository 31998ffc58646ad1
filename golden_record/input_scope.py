"""Which members' survivorship inputs an incremental build must look at again, without fingerprinting them all.

An incremental build finds the golden ids to rebuild partly by diffing each member's inputs against the basis
(golden_inputs: a fingerprint of its row of the records view survivorship reads, and whether its names are swapped
back). Fingerprinting a million members and deciding the swap over all of them takes about a second, yet a
steward's decision, or a run whose sources did not change, alters them for a handful of members. The records view
is the standardized records with consent times from golden_source_consent (golden_record/run.py), so:

1. A member's row can differ from the basis's only if standardized_records changed since the build that made the
   basis, or its source consent state did. The first is told by a stamp of standardized_basis (a fingerprint per
   record of the evidence standardized_records was made from) and the standardize rules, which each build keeps in
   golden_state (`mark_built`). The second: the publish of the basis (incremental.mark_published) rewrote the
   golden_source_consent rows of exactly the records of golden_consent_news, and stamps both tables into
   golden_state; any other writer changes the stamp.
2. A member's swap can differ only if its names changed (1.), the population's name counts changed (the set of
   member records: golden_state keeps the basis's count of them; a record new since then joins a golden id with no
   golden_inputs row), or the members of its golden record changed: it is decided again within those golden
   records, the names counted over every member.

When both stamps and the record set hold, `changes` writes what incremental.input_changes would (`_gi_inputs_new`,
`_gi_inputs_gone`) and the swapped record ids (`_gi_swapped`) from the members of golden_consent_news' records and
of the golden ids whose members changed (incremental.member_changes), taking every other member's inputs from the
basis; otherwise it returns None and the caller fingerprints every member (incremental.inputs_sql)."""

from __future__ import annotations

from golden_record.survivorship.members import swapped_sql
from golden_record.survivorship.sql import column_types
from hub.catalogue import (
    GOLDEN_CONSENT,
    GOLDEN_INPUTS,
    GOLDEN_SOURCE_CONSENT,
    GOLDEN_STATE,
    STANDARDIZED_BASIS,
    record_id_sql,
)
from hub.workspace import Workspace, scalar, table_fingerprint
from matching import changes as standardize_changes


def standardized_stamp(ws: Workspace) -> str | None:
    """What standardized_records was made from (its basis and rules); None: not known."""
    if not ws.has_table(STANDARDIZED_BASIS):
        return None
    return f"{standardize_changes.state(ws.con, 'standardize')}:{table_fingerprint(ws.con, STANDARDIZED_BASIS)}"


def consent_stamp(ws: Workspace) -> str | None:
    """The source consent state and the consent news of the last build; None: not known."""
    if not (ws.has_table(GOLDEN_SOURCE_CONSENT) and ws.has_table(GOLDEN_CONSENT)):
        return None
    return f"{table_fingerprint(ws.con, GOLDEN_SOURCE_CONSENT)}|{table_fingerprint(ws.con, GOLDEN_CONSENT)}"


def _holds(ws: Workspace, members: str) -> bool:
    """Rules 1 and 2: the stamps golden_state keeps are those of now, and the member records are the basis's."""
    if not {"standardized", "source_consent", "members"} <= set(column_types(ws.con, GOLDEN_STATE)):
        return False
    rows = ws.con.execute(f"SELECT standardized, source_consent, members FROM {GOLDEN_STATE}").fetchall()
    if len(rows) != 1 or None in rows[0]:
        return False
    standardized, source_consent, count = rows[0]
    if count != scalar(ws.con, f"SELECT count(*) FROM {members}"):
        return False
    if count != scalar(ws.con, f"SELECT count(*) FROM {GOLDEN_INPUTS}"):
        return False
    if scalar(ws.con, f"SELECT count(*) FROM _gi_joined AS j LEFT JOIN {GOLDEN_INPUTS} AS o USING (record_id) "
                      "WHERE o.record_id IS NULL"):  # fmt: skip
        return False
    return standardized == standardized_stamp(ws) and source_consent == consent_stamp(ws)


def changes(ws: Workspace, members: str, records: str, fingerprint: str) -> int | None:
    """After incremental.member_changes: `_gi_inputs_new`, `_gi_inputs_gone` and `_gi_swapped` from the members whose
    inputs can have changed (module docstring), `fingerprint` being the SQL of a member's fingerprint over `r`, its
    row of `records`. Returns how many members it compared; None (nothing written): not known here, compare every
    member."""
    if not _holds(ws, members):
        return None
    con = ws.con
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_regrouped AS
            SELECT record_id FROM {members} WHERE golden_id IN
              (SELECT golden_id FROM _gi_joined UNION SELECT golden_id FROM _gi_left)"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_dirty AS
            SELECT {record_id_sql()} AS record_id FROM {GOLDEN_CONSENT}"""
    )
    groups = f"(SELECT golden_id AS _gid, record_id FROM {members})"
    deciding = f"(SELECT golden_id AS _gid, record_id FROM {members} SEMI JOIN _gi_regrouped USING (record_id))"
    swapped = swapped_sql(groups, records, column_types(con, records), deciding)
    con.execute(f"CREATE OR REPLACE TEMP TABLE _gi_reswapped AS {swapped}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_fresh AS
            SELECT r.unique_id AS record_id, {fingerprint} AS fingerprint
            FROM {records} AS r SEMI JOIN _gi_dirty AS d ON d.record_id = r.unique_id"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_inputs_new AS
            WITH look AS (SELECT record_id FROM _gi_dirty UNION SELECT record_id FROM _gi_regrouped),
            n AS (
              SELECT m.record_id, m.golden_id, coalesce(f.fingerprint, o.fingerprint) AS fingerprint,
                     CASE WHEN g.record_id IS NULL THEN o.swapped ELSE s.record_id IS NOT NULL END AS swapped,
                     o.record_id IS NULL AS new, o.golden_id AS old_golden_id,
                     o.fingerprint AS old_fingerprint, o.swapped AS old_swapped
              FROM {members} AS m SEMI JOIN look USING (record_id)
              LEFT JOIN {GOLDEN_INPUTS} AS o USING (record_id)
              LEFT JOIN _gi_fresh AS f USING (record_id)
              LEFT JOIN _gi_regrouped AS g USING (record_id)
              LEFT JOIN _gi_reswapped AS s USING (record_id))
            SELECT record_id, golden_id, fingerprint, swapped FROM n
            WHERE new OR old_fingerprint <> fingerprint OR old_swapped <> swapped
               OR old_golden_id IS DISTINCT FROM golden_id"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _gi_inputs_gone (record_id VARCHAR)")  # the record set is the basis's
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_swapped AS
            SELECT record_id FROM {GOLDEN_INPUTS} WHERE swapped
              AND record_id NOT IN (SELECT record_id FROM _gi_inputs_new)
            UNION ALL SELECT record_id FROM _gi_inputs_new WHERE swapped"""
    )
    compared = scalar(
        con, "SELECT count(*) FROM (SELECT record_id FROM _gi_dirty UNION SELECT record_id FROM _gi_regrouped)"
    )
    for table in ("_gi_regrouped", "_gi_dirty", "_gi_reswapped", "_gi_fresh"):
        con.execute(f"DROP TABLE {table}")
    return int(compared)
