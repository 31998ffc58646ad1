"""Incremental golden builds: rebuild only the golden ids whose decision can have changed since the last PUBLISHED
build, keeping golden_members / golden_values / golden_lineage / golden_contested / golden_conflicts whole in the
workspace (rows of the rebuilt ids deleted, their new rows inserted), so the quality gate and write-back still see
every golden record.

A golden id is rebuilt when
- its member set changed (this run's ids against the last build's golden_members: merges, splits, new and deleted
  records, steward decisions),
- a member's inputs changed: a fingerprint per record over every column survivorship reads (of the records as the
  build sees them, consent times included), or whether its names are swapped back (decided over the whole
  population each run from the standardized names: cheap, and a change there changes what it votes with),
- its steward pins or the consent choices made through the hub for it changed (a hash per golden id of each),
- a population lookup it reads changed (survivorship/population.py): golden records per key where its typo test
  gives another answer with the new counts, or the chosen proper-case spelling of the lowered value it writes.
  These are known only once the ids above are rebuilt (their contributions change the totals), so they are a second
  pass; rebuilding them changes no contribution (their members, values and swaps are the same), so there is no
  third.

The build also reads two things of the serving store's from the workspace while the basis holds, so its store reads
are in proportion to the change, not to the store: the xref the store holds (`golden_xref`, written after each
publish) and the source consent state of the workspace's records (`golden_source_consent`: read in full by a full
build, then brought up to date after each publish by re-reading the store's rows of the records whose consent news
that publish stored; only publish writes source consent events, and erasure deletes a person's rows from both).

The basis is the state of the last build that was PUBLISHED: build marks golden_state unpublished, and publish marks
it published (with the store's run id) after the store transaction committed. A build whose basis is not the
store's last published run (a dry run's build, a blocked gate, a failed publish or a crash in between, another
workspace publishing) or whose survivorship config changed builds in full; so does `hub run --full`. A dry run's
build keeps the published basis aside first (`keep_aside`) and the next build puts it back (`restore`), so
previewing a run costs the next real one nothing.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import duckdb

from golden_record import input_scope, survivorship
from golden_record.survivorship.members import STD_COLUMNS, swapped_sql
from golden_record.survivorship.population import (
    CASE,
    PROPER_CASE_FIELDS,
    SPELL,
    VOTE,
    looked_up,
    lookups_sql,
    scoped,
    totals_sql,
)
from golden_record.survivorship.sql import Outputs, column_types
from golden_record.survivorship.units import TYPES
from golden_record.survivorship.votes import typo_sql
from hub import forms
from hub.catalogue import (
    GOLDEN_CONFLICTS,
    GOLDEN_CONSENT,
    GOLDEN_CONTESTED,
    GOLDEN_INPUTS,
    GOLDEN_KEPT,
    GOLDEN_LINEAGE,
    GOLDEN_LOOKUPS,
    GOLDEN_MEMBERS,
    GOLDEN_POPULATION,
    GOLDEN_SEEN,
    GOLDEN_SOURCE_CONSENT,
    GOLDEN_STATE,
    GOLDEN_VALUES,
    GOLDEN_XREF,
    RESCORED,
    columns_sql,
)
from hub.config import HubConfig
from hub.workspace import Workspace

WORKSPACE = Outputs()  # the golden tables themselves
SCRATCH = Outputs(
    values="_gi_values",
    lineage="_gi_lineage",
    contested="_gi_contested",
    conflicts="_gi_conflicts",
    population="_gi_population",
)
BASIS = (GOLDEN_MEMBERS, GOLDEN_VALUES, GOLDEN_LINEAGE, GOLDEN_CONTESTED, GOLDEN_CONFLICTS, GOLDEN_POPULATION,
         GOLDEN_INPUTS, GOLDEN_LOOKUPS, GOLDEN_SEEN, GOLDEN_STATE, GOLDEN_XREF, GOLDEN_SOURCE_CONSENT)  # fmt: skip


def config_key(cfg: HubConfig) -> str:
    """What the decisions depend on besides the data: survivorship rules, extra attributes, consent settings,
    which sources keep their own consent times, and the code and reference data that decide (survivorship, the
    value forms, nicknames and street types): after an upgrade the first build is a full one. Another key: build in
    full."""
    text = json.dumps(
        [repr(cfg.survivorship), list(cfg.attributes), repr(cfg.consent),
         sorted((n, sorted(s.fields)) for n, s in cfg.sources.items())],
        default=str,
    )  # fmt: skip
    digest = hashlib.sha256(text.encode())
    code = [*sorted(Path(survivorship.__file__).parent.glob("*.py")), Path(forms.__file__), Path(__file__),
            Path(input_scope.__file__)]  # fmt: skip
    for path in [*code, *sorted(forms.DATA_DIR.glob("*.csv"))]:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def basis_is(ws: Workspace, head: str | None, config: str) -> bool:
    """Whether the workspace's golden tables are those published as `head` (the store's last published run), built
    with this config: only then can a build start from them."""
    if head is None or not all(ws.has_table(t) for t in BASIS):
        return False
    rows = ws.con.execute(f"SELECT published_run, config FROM {GOLDEN_STATE}").fetchall()
    return rows == [(head, config)]


def keep_aside(con: duckdb.DuckDBPyConnection) -> None:
    """Before a dry run's build takes the golden tables: a copy of the published basis in the schema GOLDEN_KEPT,
    which the next build puts back (`restore`) while that publish is still the store's last one. A dry run then
    costs the next real run nothing; without it, the next build would find an unpublished basis and build in full."""
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {GOLDEN_KEPT}")
    for table in BASIS:
        con.execute(f"CREATE OR REPLACE TABLE {GOLDEN_KEPT}.{table} AS SELECT * FROM main.{table}")


def restore(ws: Workspace, head: str | None, config: str) -> bool:
    """Put back the basis a dry run's build kept aside when it is the published state of `head` under `config` (the
    schema GOLDEN_KEPT goes either way). Whether it was put back."""
    exists = "SELECT count(*) FROM duckdb_schemas() WHERE schema_name = ?"
    if not ws.con.execute(exists, [GOLDEN_KEPT]).fetchall()[0][0]:
        return False
    with ws.transaction():
        kept = ws.con.execute(f"SELECT published_run, config FROM {GOLDEN_KEPT}.{GOLDEN_STATE}").fetchall()
        back = head is not None and kept == [(head, config)]
        for table in BASIS if back else ():
            ws.con.execute(f"CREATE OR REPLACE TABLE main.{table} AS SELECT * FROM {GOLDEN_KEPT}.{table}")
        ws.con.execute(f"DROP SCHEMA {GOLDEN_KEPT} CASCADE")
    return back


def mark_built(ws: Workspace, config: str) -> None:
    """The golden tables now hold a build that is not published (yet), made from these standardized records and
    member records (golden_record/input_scope.py)."""
    ws.con.execute(
        f"""CREATE OR REPLACE TABLE {GOLDEN_STATE} AS
            SELECT NULL::VARCHAR AS published_run, ?::VARCHAR AS config, ?::VARCHAR AS standardized,
                   NULL::VARCHAR AS source_consent, (SELECT count(*) FROM {GOLDEN_INPUTS}) AS members""",
        [config, input_scope.standardized_stamp(ws)],
    )


def keep_source_consent(con: duckdb.DuckDBPyConnection, read: str) -> None:
    """A full build's read of the store's source consent state (`read`: source_system, source_key, channel, value,
    recorded_at) becomes golden_source_consent."""
    con.execute(
        f"""CREATE OR REPLACE TABLE {GOLDEN_SOURCE_CONSENT} AS
            SELECT source_system::VARCHAR AS source_system, source_key::VARCHAR AS source_key,
                   channel::VARCHAR AS channel, value::VARCHAR AS value, recorded_at::TIMESTAMP AS recorded_at
            FROM {read}"""
    )


def mark_published(ws: Workspace, run_id: str, xref: str, scope: str | None, consent: str) -> None:
    """After the store committed `run_id`: the golden tables are its state, the table `xref` (source_system,
    source_key, golden_id, match_probability, link_type) is the xref the store now holds, and `consent` (as
    keep_source_consent reads) the store's source consent state now. `scope` (source_system, source_key): an
    incremental publish's xref keys, those where `xref` differs from golden_xref (publish diffed only those), and
    `consent` is the state of the records whose news the publish stored (the rest is as the build read it); None: a
    full publish, and `consent` is all of it. Then no record's pairs changed since (RESCORED, xref_rows), and the
    source consent state is stamped (golden_record/input_scope.py)."""
    con = ws.con
    if scope is None:
        con.execute(
            f"""CREATE OR REPLACE TABLE {GOLDEN_XREF} AS
                SELECT source_system, source_key, golden_id, match_probability, link_type FROM {xref}"""
        )
        keep_source_consent(con, consent)
    else:
        keys = f"(SELECT (source_system, source_key) FROM {scope})"
        con.execute(f"DELETE FROM {GOLDEN_XREF} WHERE (source_system, source_key) IN {keys}")
        con.execute(
            f"""INSERT INTO {GOLDEN_XREF} BY NAME
                SELECT source_system, source_key, golden_id, match_probability, link_type
                FROM {xref} SEMI JOIN {scope} USING (source_system, source_key)"""
        )
        con.execute(
            f"""DELETE FROM {GOLDEN_SOURCE_CONSENT}
                WHERE (source_system, source_key) IN (SELECT (source_system, source_key) FROM {GOLDEN_CONSENT})"""
        )
        con.execute(
            f"""INSERT INTO {GOLDEN_SOURCE_CONSENT}
                SELECT source_system, source_key, channel, value, recorded_at::TIMESTAMP FROM {consent}"""
        )
    con.execute(
        f"UPDATE {GOLDEN_STATE} SET published_run = ?, source_consent = ?", [run_id, input_scope.consent_stamp(ws)]
    )
    con.execute(f"CREATE OR REPLACE TABLE {RESCORED} ({columns_sql(RESCORED)})")  # the next publish's scope starts


def fingerprint_sql(con: duckdb.DuckDBPyConnection, records: str, extras: list[str]) -> str:
    """SQL: the fingerprint of a member from `r`, its row of `records`: every column survivorship reads."""
    present = column_types(con, records)
    columns = ["unique_id", "source_system", "source_key", "source_updated_at", *TYPES, *extras]
    columns += [c for c in [*STD_COLUMNS.values(), "address_line1_std", "postal_code_std"] if c in present]
    return f"hash({', '.join(f'r.{c}' for c in columns)})"


def inputs_sql(con: duckdb.DuckDBPyConnection, members: str, records: str, extras: list[str]) -> str:
    """Per member record (of `members`: record_id, golden_id): its golden id, a fingerprint of every column of
    `records` survivorship reads, and whether its names are swapped back (over the whole population)."""
    swapped = swapped_sql(f"(SELECT golden_id AS _gid, record_id FROM {members})", records, column_types(con, records))
    return f"""SELECT m.record_id, m.golden_id, {fingerprint_sql(con, records, extras)} AS fingerprint,
                      s.record_id IS NOT NULL AS swapped
               FROM {members} AS m JOIN {records} AS r ON r.unique_id = m.record_id
               LEFT JOIN ({swapped}) AS s ON s.record_id = m.record_id"""


def seen_sql(pins: str, choices: str) -> str:
    """Per golden id: a hash of its pins and one of the hub's consent choices for it (NULL: none)."""
    return f"""SELECT golden_id, max(pins) AS pins, max(choices) AS choices FROM (
                 SELECT golden_id::VARCHAR AS golden_id, hash(string_agg(concat_ws(chr(31), field, value, pinned_by,
                        pinned_at::VARCHAR), chr(30) ORDER BY field)) AS pins, NULL::UBIGINT AS choices
                 FROM {pins} GROUP BY ALL
                 UNION ALL
                 SELECT golden_id::VARCHAR, NULL, hash(string_agg(concat_ws(chr(31), channel, value,
                        recorded_at::VARCHAR, source, recorded_by), chr(30) ORDER BY channel, recorded_at, value))
                 FROM {choices} GROUP BY ALL)
               GROUP BY golden_id"""


def member_changes(con: duckdb.DuckDBPyConnection, members: str) -> None:
    """`_gi_left` and `_gi_joined` (record_id, golden_id): basis memberships gone, and new ones. One full join on the
    record id (a record is in one golden id: the basis's were checked when built, `members`' are by survivorship,
    which refuses a record listed twice) rather than two set differences: half the time at a million members."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_moved AS
            SELECT record_id, o.golden_id AS old_id, n.golden_id AS new_id
            FROM {GOLDEN_MEMBERS} AS o FULL JOIN {members} AS n USING (record_id)
            WHERE o.golden_id IS DISTINCT FROM n.golden_id"""
    )
    for table, column in (("_gi_left", "old_id"), ("_gi_joined", "new_id")):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {table} AS
                SELECT DISTINCT record_id, {column} AS golden_id FROM _gi_moved WHERE {column} IS NOT NULL"""
        )
    con.execute("DROP TABLE _gi_moved")


def input_changes(con: duckdb.DuckDBPyConnection, inputs: str) -> None:
    """`_gi_inputs_new` (rows of `inputs`, every member's, new or different) and `_gi_inputs_gone` (record_id: basis
    inputs of records no longer built)."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_inputs_new AS
            SELECT n.* FROM {inputs} AS n LEFT JOIN {GOLDEN_INPUTS} AS o USING (record_id)
            WHERE o.record_id IS NULL OR o.fingerprint <> n.fingerprint OR o.swapped <> n.swapped
               OR o.golden_id IS DISTINCT FROM n.golden_id"""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_inputs_gone AS
            SELECT record_id FROM {GOLDEN_INPUTS} ANTI JOIN {inputs} USING (record_id)"""
    )


def affected_ids(con: duckdb.DuckDBPyConnection, seen: str) -> None:
    """`_gi_affected` (golden_id), after member_changes and input_changes (or input_scope.changes): the ids (old and
    new) whose members, member inputs, pins or hub consent choices changed since the basis. keep_state writes those
    differences into the basis."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_affected AS
            SELECT DISTINCT golden_id FROM (
              SELECT golden_id FROM _gi_left
              UNION ALL SELECT golden_id FROM _gi_joined
              UNION ALL SELECT golden_id FROM _gi_inputs_new
              UNION ALL
              SELECT coalesce(n.golden_id, o.golden_id) FROM {seen} AS n FULL JOIN {GOLDEN_SEEN} AS o USING (golden_id)
              WHERE n.pins IS DISTINCT FROM o.pins OR n.choices IS DISTINCT FROM o.choices)"""
    )


def base_sql(without: str) -> str:
    """The population contributions of every golden id of the basis but those in `without` (golden_id), as a
    relation: survivorship sums them for the lookups it reads (population.needed_sql)."""
    return f"(SELECT * FROM {GOLDEN_POPULATION} WHERE golden_id NOT IN (SELECT golden_id FROM {without}))"


def merge(con: duckdb.DuckDBPyConnection, rebuilt: str, members: str) -> None:
    """Replace the rows of the ids in `rebuilt` (and of their members, old and new) with survivorship's SCRATCH."""
    records = f"""(SELECT record_id FROM {GOLDEN_MEMBERS} WHERE golden_id IN (SELECT golden_id FROM {rebuilt})
                   UNION ALL SELECT record_id FROM {members} WHERE golden_id IN (SELECT golden_id FROM {rebuilt}))"""
    con.execute(f"DELETE FROM {GOLDEN_CONTESTED} WHERE record_id IN {records}")
    con.execute(f"INSERT INTO {GOLDEN_CONTESTED} BY NAME SELECT * FROM {SCRATCH.contested}")
    for table, scratch in [(GOLDEN_VALUES, SCRATCH.values), (GOLDEN_LINEAGE, SCRATCH.lineage),
                           (GOLDEN_CONFLICTS, SCRATCH.conflicts), (GOLDEN_POPULATION, SCRATCH.population)]:  # fmt: skip
        con.execute(f"DELETE FROM {table} WHERE golden_id IN (SELECT golden_id FROM {rebuilt})")
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {scratch}")


def touched_lookups(con: duckdb.DuckDBPyConnection, rebuilt: str) -> None:
    """`_gi_lookup_keys` (kind, key), before `merge` replaces the contributions of the ids in `rebuilt` with SCRATCH's:
    the lookups their old and new contributions feed (a voted key as it is, a spelling by its lowered value), the
    only ones the merge can change."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_lookup_keys AS
            SELECT DISTINCT kind, {looked_up("kind", "key")} AS key FROM (
              SELECT kind, key FROM {GOLDEN_POPULATION} WHERE golden_id IN (SELECT golden_id FROM {rebuilt})
              UNION ALL SELECT kind, key FROM {SCRATCH.population})"""
    )


def lookup_changes(con: duckdb.DuckDBPyConnection, done: str) -> None:
    """`_gi_lookups` (the derived population lookups of golden_population now, of the lookups `_gi_lookup_keys` names:
    touched_lookups) and `_gi_second` (golden_id): the ids not in `done` that read a lookup row that changed against
    golden_lookups (the basis): a typo test with another answer, or a lowered value whose spelling changed."""
    now = f"({totals_sql(scoped(GOLDEN_POPULATION, '_gi_lookup_keys'))})"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _gi_lookups AS {lookups_sql(now)}")
    as_touched = (
        f"CASE WHEN starts_with(o.kind, '{CASE}') THEN '{SPELL}' || substr(o.kind, {len(CASE) + 1}) ELSE o.kind END"
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_changed AS
            WITH o AS (SELECT o.* FROM {GOLDEN_LOOKUPS} AS o SEMI JOIN _gi_lookup_keys AS t
                       ON t.key = o.key AND t.kind = {as_touched})
            SELECT kind, key, o.n AS old_n, n.n AS new_n
            FROM _gi_lookups AS n FULL JOIN o USING (kind, key)
            WHERE n.n IS DISTINCT FROM o.n OR n.spelling IS DISTINCT FROM o.spelling"""
    )
    cases = " UNION ALL ".join(
        f"""SELECT v.golden_id FROM {GOLDEN_VALUES} AS v
            JOIN _gi_changed AS c ON c.kind = '{CASE}{f}' AND c.key = lower(v.{f})"""
        for f in PROPER_CASE_FIELDS
    )
    old = typo_sql("a", "b", pop="_old")
    new = typo_sql("a", "b", pop="_new")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gi_second AS
            WITH cand AS (
              SELECT DISTINCT p.golden_id, p.kind FROM {GOLDEN_POPULATION} AS p
              JOIN _gi_changed AS c USING (kind, key) WHERE starts_with(p.kind, '{VOTE}')),
            k AS (
              SELECT p.golden_id, p.kind, p.key AS _key, p.n AS _count, c.old_n AS _old, c.new_n AS _new
              FROM {GOLDEN_POPULATION} AS p SEMI JOIN cand USING (golden_id, kind)
              LEFT JOIN (SELECT kind, key, n AS old_n, n AS new_n FROM {GOLDEN_LOOKUPS}
                         ANTI JOIN _gi_changed USING (kind, key)
                         UNION ALL SELECT kind, key, old_n, new_n FROM _gi_changed) AS c USING (kind, key)),
            typos AS (
              SELECT DISTINCT a.golden_id FROM k AS a JOIN k AS b
                ON a.golden_id = b.golden_id AND a.kind = b.kind AND a._key <> b._key
              WHERE ({old}) IS DISTINCT FROM ({new}))
            SELECT DISTINCT golden_id FROM (SELECT golden_id FROM typos UNION ALL {cases})
            WHERE golden_id NOT IN (SELECT golden_id FROM {done})"""
    )


def keep_state(
    con: duckdb.DuckDBPyConnection, members: str, inputs: str, seen: str, delta: bool, relooked: bool
) -> None:
    """The build's members, member inputs, pins and choices seen, and population lookups: the next build's basis.
    `delta` (an incremental build, after affected_ids): only the differences are written, rather than a million rows
    each; the lookups only when it rebuilt anything (`relooked`: lookup_changes diffed them after the first pass, and
    the second pass changes no contribution), else the population did not change."""
    if not delta:
        con.execute(f"CREATE OR REPLACE TABLE {GOLDEN_MEMBERS} AS SELECT record_id, golden_id FROM {members}")
        con.execute(f"CREATE OR REPLACE TABLE {GOLDEN_INPUTS} AS SELECT * FROM {inputs}")
        con.execute(f"CREATE OR REPLACE TABLE {GOLDEN_SEEN} AS SELECT * FROM {seen}")
        con.execute(f"CREATE OR REPLACE TABLE {GOLDEN_LOOKUPS} AS {lookups_sql(f'({totals_sql(GOLDEN_POPULATION)})')}")
        return
    con.execute(f"DELETE FROM {GOLDEN_MEMBERS} WHERE record_id IN (SELECT record_id FROM _gi_left)")
    con.execute(f"INSERT INTO {GOLDEN_MEMBERS} BY NAME SELECT record_id, golden_id FROM _gi_joined")
    con.execute(
        f"""DELETE FROM {GOLDEN_INPUTS} WHERE record_id IN
            (SELECT record_id FROM _gi_inputs_new UNION ALL SELECT record_id FROM _gi_inputs_gone)"""
    )
    con.execute(f"INSERT INTO {GOLDEN_INPUTS} BY NAME SELECT * FROM _gi_inputs_new")
    con.execute(f"CREATE OR REPLACE TABLE {GOLDEN_SEEN} AS SELECT * FROM {seen}")
    if relooked:
        con.execute(f"DELETE FROM {GOLDEN_LOOKUPS} WHERE (kind, key) IN (SELECT (kind, key) FROM _gi_changed)")
        con.execute(
            f"INSERT INTO {GOLDEN_LOOKUPS} BY NAME SELECT * FROM _gi_lookups SEMI JOIN _gi_changed USING (kind, key)"
        )
