"""The hub's data-quality suites: what each pipeline stage must hold before the next one trusts it.

Each suite reads the workspace with DuckDB (set-based SQL, only the columns it checks), hands the frames
to Great Expectations (expectations.runner) and returns a SuiteResult. Two suites warn, one blocks:
- `check_raw_source`: one source's staged records right after a pull (warns: a source with some bad rows
  is normal, and its bad rows were quarantined, or their unreadable values read as missing, already);
- `check_standardized`: the matcher's input (warns);
- `check_golden`: the gate before publish (BLOCKING: a failure stops publish and write-back), because a
  golden record that loses a source record, holds one twice, or carries an invalid email or phone would
  reach every downstream system and, through write-back, every source.
A table that does not exist yet counts as empty, so a fresh workspace validates instead of crashing.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time, timedelta

import duckdb
import pandas as pd

from expectations import gate
from expectations.runner import Check, SuiteResult, gx, run_suite
from hub.catalogue import (
    GOLDEN_MEMBERS,
    GOLDEN_REBUILT,
    GOLDEN_REDIRECTS,
    GOLDEN_VALUES,
    GOLDEN_XREF,
    QUARANTINE,
    STAGED,
    STANDARDIZED,
    empty_sql,
    record_id_sql,
)
from hub.config import HubConfig
from hub.model import plausible_birth_dates
from hub.validity import E164_DIGITS_REGEX, E164_REGEX, EMAIL_REGEX  # the rules a pin is checked by too
from hub.workspace import Workspace, scalar

CLOCK_SKEW = timedelta(days=1)  # a source's clock may run ahead of ours
RAW_EMAIL_MOSTLY = 0.98  # emails are not validated at pull: a few bad ones are normal in real data
MAX_QUARANTINE_SHARE = 0.05
MAX_WARNED_SHARE = 0.05  # records holding a value the hub could not read (field_warnings)
NAMED_MOSTLY = 0.95

# The columns each suite reads from tables that appear later in a run, for an empty stand-in.
_LATER_TABLES = {
    STANDARDIZED: ["unique_id", "source_system", "email_std", "phone_std", "name_concat_std"],
    GOLDEN_VALUES: ["golden_id", "email", "phone", "record_count"],
    GOLDEN_MEMBERS: ["record_id", "golden_id"],
}


def check_raw_source(ws: Workspace, cfg: HubConfig, source: str) -> SuiteResult:
    """One source's staged records after a pull: keys, dates, emails, how many records hold a value read as
    missing (field warnings), and how much was quarantined.

    Every run checks the whole source, so, as in `check_standardized`, set-based SQL finds the offending rows (keys
    missing or repeated, dates out of range, emails outside the regex GX is given) and GX validates those, reporting
    over all of the source's rows. The email check allows a share of bad emails (`mostly`), which GX reckons over the
    rows it is handed: it is given the `mostly` that allows over those rows exactly the count allowed over all."""
    if source not in cfg.sources:
        raise ValueError(f"'{source}' is not a source in hub.yaml (known: {sorted(cfg.sources)})")
    E = gx().expectations
    now = datetime.now(UTC).replace(tzinfo=None)
    earliest, latest = plausible_birth_dates(now.date())
    updated_at = cfg.sources[source].updated_at is not None
    email = EMAIL_REGEX.replace("'", "''")
    params = {"source": source, "earliest": earliest, "latest": latest, "future": now + CLOCK_SKEW}
    records = _df(
        ws.con,
        f"""SELECT source_key, date_of_birth, source_updated_at, email FROM {STAGED}
            WHERE source_system = $source
              AND (source_key IS NULL OR date_of_birth < $earliest OR date_of_birth > $latest
                   OR source_updated_at > $future{" OR source_updated_at IS NULL" if updated_at else ""}
                   OR NOT regexp_matches(email, '{email}')
                   OR source_key IN (SELECT source_key FROM {STAGED} WHERE source_system = $source
                                     GROUP BY source_key HAVING count(*) > 1))""",
        params,
    )
    staged, quarantined = ws.counts(source)
    emails = scalar(ws.con, f"SELECT count(email) FROM {STAGED} WHERE source_system = ?", [source])
    warned = ws.warned(source)
    total = staged + quarantined
    shares = pd.DataFrame(
        {
            "warned_share": [warned / staged if staged else None],
            "quarantine_share": [quarantined / total if total else None],
        },
        dtype="float64",
    )

    checks = [
        Check("source keys are present", E.ExpectColumnValuesToNotBeNull(column="source_key"), element_count=staged),
        Check("source keys are unique", E.ExpectColumnValuesToBeUnique(column="source_key"), element_count=staged),
        Check(
            "birth dates are plausible",
            E.ExpectColumnValuesToBeBetween(
                column="date_of_birth",
                min_value=datetime.combine(earliest, time.min),
                max_value=datetime.combine(latest, time.max),
            ),
            element_count=staged,
        ),
    ]
    if updated_at:
        checks.append(
            Check(
                "updated-at is present",
                E.ExpectColumnValuesToNotBeNull(column="source_updated_at"),
                examples_from="source_key",
                element_count=staged,
            )
        )
    mostly = _mostly_over(RAW_EMAIL_MOSTLY, emails, int(records["email"].count()))
    checks += [
        Check(
            "updated-at is not in the future",
            E.ExpectColumnValuesToBeBetween(column="source_updated_at", max_value=now + CLOCK_SKEW),
            element_count=staged,
        ),
        Check(
            "emails are plausible",
            E.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_REGEX, mostly=mostly),
            element_count=staged,
        ),
    ]
    with_warnings = f"{warned:,} of {staged:,} records" + (f" ({warned / staged:.1%})" if staged else "")
    warnings = Check(
        f"at most {MAX_WARNED_SHARE:.0%} of records hold a value read as missing",
        E.ExpectColumnValuesToBeBetween(column="warned_share", min_value=0, max_value=MAX_WARNED_SHARE),
        observed=f"{with_warnings} with field warnings",
    )
    share = f"{quarantined:,} of {total:,} rows quarantined" + (f" ({quarantined / total:.1%})" if total else "")
    quarantine = Check(
        f"at most {MAX_QUARANTINE_SHARE:.0%} of rows quarantined",
        E.ExpectColumnValuesToBeBetween(column="quarantine_share", min_value=0, max_value=MAX_QUARANTINE_SHARE),
        observed=share,
    )
    scope = f"rows found by SQL over all {staged:,} staged records of {source}: {len(records):,} offending"
    return run_suite(f"raw {source}", [(records, checks), (shares, [warnings, quarantine])], scope)


def check_standardized(ws: Workspace, cfg: HubConfig | None = None) -> SuiteResult:
    """The matcher's input: one row per staged record with a usable id, and standardized contact columns
    in the form the comparisons expect. Source systems are the configured ones when `cfg` is given,
    else those with staged records (a standardized record of any other source is stale).

    Every run checks every standardized record, so the rows are found by set-based SQL over all of them (ids missing
    or repeated, unknown sources, emails and phones outside the regexes GX is given: the same RE2 patterns) and GX
    validates those rows, reporting over every record (`element_count`); the row count and the share of records with
    a name are validated as values of a one-row frame. Handing GX a million rows instead cost 2.5 s a run at 1M
    records, most of it fingerprinting the frame."""
    E = gx().expectations
    table = _relation(ws.con, STANDARDIZED)
    staged = scalar(ws.con, f"SELECT count(*) FROM {STAGED}")
    if cfg is not None:
        sources = sorted(cfg.sources)
    else:
        sources = [r[0] for r in ws.con.execute(f"SELECT DISTINCT source_system FROM {STAGED} ORDER BY 1").fetchall()]
    email, phone = EMAIL_REGEX.replace("'", "''"), E164_DIGITS_REGEX.replace("'", "''")
    records = _df(
        ws.con,
        f"""SELECT unique_id, source_system, email_std, phone_std FROM {table}
            WHERE unique_id IS NULL OR NOT list_contains($sources::VARCHAR[], source_system) OR source_system IS NULL
               OR NOT regexp_matches(email_std, '{email}') OR NOT regexp_matches(phone_std, '{phone}')
               OR unique_id IN (SELECT unique_id FROM {table} GROUP BY unique_id HAVING count(*) > 1)""",
        {"sources": sources},
    )
    total, named = ws.con.execute(f"SELECT count(*), count(name_concat_std) FROM {table}").fetchall()[0]
    counts = pd.DataFrame({"standardized": [total], "named_share": [named / total if total else None]}).astype(
        {"standardized": "int64", "named_share": "float64"}
    )
    checks = [
        Check("record ids are present", E.ExpectColumnValuesToNotBeNull(column="unique_id"), element_count=total),
        Check("record ids are unique", E.ExpectColumnValuesToBeUnique(column="unique_id"), element_count=total),
        Check(
            "source systems are known",
            E.ExpectColumnValuesToBeInSet(column="source_system", value_set=sources),
            examples_from="unique_id",
            element_count=total,
        ),
        Check(
            "standardized emails are plausible",
            E.ExpectColumnValuesToMatchRegex(column="email_std", regex=EMAIL_REGEX),
            element_count=total,
        ),
        Check(
            "standardized phones are E.164 digits",
            E.ExpectColumnValuesToMatchRegex(column="phone_std", regex=E164_DIGITS_REGEX),
            element_count=total,
        ),
    ]
    whole = [
        Check(
            "every staged record is standardized",
            E.ExpectColumnValuesToBeBetween(column="standardized", min_value=staged, max_value=staged),
            observed=f"{total:,} standardized records for {staged:,} staged",
        ),
        Check(
            f"at least {NAMED_MOSTLY:.0%} of records have a name",
            E.ExpectColumnValuesToBeBetween(column="named_share", min_value=NAMED_MOSTLY, max_value=1),
            observed=f"{total - named:,} of {total:,} records without a name",
        ),
    ]
    scope = f"rows found by SQL over all {total:,} standardized records: {len(records):,} offending"
    return run_suite("standardized", [(records, checks), (counts, whole)], scope)


def check_golden(ws: Workspace) -> SuiteResult:
    """BLOCKING gate before publish: golden ids sound, nothing lost or counted twice, no golden record
    without a source, and only valid emails and phones survive.

    Whole-table invariants (golden ids present and unique, every record placed exactly once, members staged) are
    decided over ALL rows by set-based SQL, and GX is handed every offending row, so it reports exact counts and
    examples. Row-level expectations (valid email and phone, members >= 1, record_count >= 1) are validated over
    every golden record, except on an incremental build over a basis this gate passed and that was published
    (expectations.gate.passed_basis): then only over the golden ids the build rebuilt (golden_rebuilt). No other row
    can have changed since that basis: an incremental build (golden_record.incremental) deletes and re-inserts the
    golden_values rows of exactly the ids it decides again, and every id whose member set changed (merges, splits,
    new, moved and deleted records, steward decisions) is one of those (the old id and the new: membership is
    diffed both ways), as is every id whose member inputs, pins, consent choices or population lookups changed; an
    id no longer built has no row left to validate. So a golden_values row outside golden_rebuilt, and its member
    count, are the basis's, which passed. The placement rows GX sees besides the offending ones are those of records
    whose placement can have changed: members now of rebuilt ids and members at the basis (golden_xref, the xref
    that build published) of rebuilt ids or of ids the build retired (golden_redirects); a record new or gone in
    staging or quarantine either joined or left one of those ids, or is misplaced now and so an offending row.
    Otherwise (a full build, no basis the gate passed) GX sees every row, as the gate did before it was incremental.
    `validated` and `scope` of the result say which rows GX saw."""
    E = gx().expectations
    changed = gate.passed_basis(ws)
    golden, golden_total = _golden_frame(ws.con, changed)
    placements, records_total = _placements_frame(ws.con, changed)
    # On an incremental gate GX sees some of the rows a whole-table check covers: it reports over all of them.
    whole_golden = golden_total if changed else None
    whole_records = records_total if changed else None
    golden_checks = [
        Check(
            "golden ids are present",
            E.ExpectColumnValuesToNotBeNull(column="golden_id"),
            element_count=whole_golden,
        ),
        Check(
            "golden ids are unique",
            E.ExpectColumnValuesToBeUnique(column="golden_id"),
            element_count=whole_golden,
        ),
        Check(
            "every golden record has source records",
            E.ExpectColumnValuesToBeBetween(column="members", min_value=1),
            examples_from="golden_id",
        ),
        Check(
            "golden record counts are at least 1",
            E.ExpectColumnValuesToBeBetween(column="record_count", min_value=1),
            examples_from="golden_id",
        ),
        Check("only valid emails survive", E.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_REGEX)),
        Check("only valid phones survive", E.ExpectColumnValuesToMatchRegex(column="phone", regex=E164_REGEX)),
    ]
    placement_checks = [
        Check(
            "every source record is in exactly one golden record or in quarantine",
            E.ExpectColumnValuesToBeBetween(column="placements", min_value=1, max_value=1),
            examples_from="record_id",
            element_count=whole_records,
        ),
        Check(
            "golden members are staged records",
            E.ExpectColumnValuesToBeInSet(column="member_of", value_set=["staged"]),
            examples_from="record_id",
            element_count=whole_records,
        ),
    ]
    scope = (
        f"changed since the last gated publish: {len(golden):,} of {golden_total:,} golden records, "
        f"{len(placements):,} of {records_total:,} record placements"
        if changed
        else "all rows"
    )
    return run_suite("golden", [(golden, golden_checks), (placements, placement_checks)], scope)


def _golden_frame(con: duckdb.DuckDBPyConnection, changed: bool) -> tuple[pd.DataFrame, int]:
    """Per golden_values row: its id, surviving email and phone, record_count and its number of members; and how
    many rows golden_values has. `changed`: only the rows of rebuilt ids and those with a missing or duplicate id."""
    values, members = _relation(con, GOLDEN_VALUES), _relation(con, GOLDEN_MEMBERS)
    rows = f"SELECT golden_id, email, phone, record_count FROM {values}"
    if changed:
        rows += f""" WHERE golden_id IN (SELECT golden_id FROM {GOLDEN_REBUILT}) OR golden_id IS NULL
                     OR golden_id IN (SELECT golden_id FROM {values} GROUP BY golden_id HAVING count(*) > 1)"""
    frame = _df(
        con,
        f"""WITH g AS ({rows}),
                 m AS (SELECT golden_id, count(*) AS members FROM {members}
                       WHERE golden_id IN (SELECT golden_id FROM g) GROUP BY golden_id)
            SELECT g.golden_id, g.email, g.phone, g.record_count, coalesce(m.members, 0) AS members
            FROM g LEFT JOIN m ON m.golden_id = g.golden_id""",
    )
    return frame, (scalar(con, f"SELECT count(*) FROM {values}") if changed else len(frame))


def _placements_frame(con: duckdb.DuckDBPyConnection, changed: bool) -> tuple[pd.DataFrame, int]:
    """One row per record id seen in staging, quarantine or a golden record, and how many there are.

    `placements`: for a source record, the golden records it is a member of (of those in golden_values: a
    membership of a golden record that does not exist places it nowhere), plus one if it is only in
    quarantine (a key staged once and quarantined again as a duplicate is a staged record); exactly 1 means
    it is accounted for once. NULL for an id that is no source record at all (skipped by that check).
    `member_of`: for a golden member, whether it is a staged record, a quarantined one, or no source record.
    Quarantined rows without a key cannot be members of anything and are left out.
    `changed`: computed over every id, but only the offending rows and those of records whose placement can have
    changed (check_golden) are returned."""
    values, members = _relation(con, GOLDEN_VALUES), _relation(con, GOLDEN_MEMBERS)
    # one pass over the three tables grouped by record id (rather than joining them): a third less CPU
    placements = f"""
        SELECT record_id,
               CASE WHEN bool_or(staged) THEN count(*) FILTER (member)
                    WHEN bool_or(quarantined) THEN count(*) FILTER (member) + 1 END AS placements,
               CASE WHEN NOT bool_or(member) THEN NULL
                    WHEN bool_or(staged) THEN 'staged'
                    WHEN bool_or(quarantined) THEN 'quarantined'
                    ELSE 'no source record' END AS member_of
        FROM (SELECT {record_id_sql()} AS record_id, true AS staged, false AS quarantined, false AS member
              FROM {STAGED}
              UNION ALL SELECT {record_id_sql()}, false, true, false FROM {QUARANTINE} WHERE source_key IS NOT NULL
              UNION ALL SELECT record_id, false, false, true FROM {members}
              WHERE record_id IS NOT NULL AND golden_id IN (SELECT golden_id FROM {values}))
        GROUP BY record_id"""
    if changed:  # the golden ids rebuilt, and those this build retired (golden_redirects)
        ids = f"SELECT golden_id FROM {GOLDEN_REBUILT} UNION ALL SELECT retired_id FROM {GOLDEN_REDIRECTS}"
        con.execute(f"CREATE OR REPLACE TEMP TABLE _gate_placements AS {placements}")
        try:
            total = scalar(con, "SELECT count(*) FROM _gate_placements")
            frame = _df(
                con,
                f"""SELECT * FROM _gate_placements
                    WHERE placements <> 1 OR member_of <> 'staged'
                       OR record_id IN (SELECT record_id FROM {members} WHERE golden_id IN ({ids}))
                       OR record_id IN (SELECT {record_id_sql()} FROM {GOLDEN_XREF} WHERE golden_id IN ({ids}))""",
            )
        finally:
            con.execute("DROP TABLE IF EXISTS _gate_placements")
    else:
        frame = _df(con, placements)
        total = len(frame)
    # three distinct values: as a category GX's set test and its batch fingerprint skip a million strings
    frame["member_of"] = frame["member_of"].astype("category")
    return frame, total


def _mostly_over(mostly: float, considered: int, handed: int) -> float:
    """The `mostly` that, over `handed` non-null values holding every unexpected one, lets GX pass exactly when
    `mostly` would over all `considered` (GX passes when (n - unexpected) / n >= mostly, in floats)."""
    if not handed:
        return mostly
    allowed = math.floor(considered * (1 - mostly))  # the most unexpected values `mostly` allows over all ...
    while allowed >= 0 and (float(considered) - float(allowed)) / float(considered) < mostly:
        allowed -= 1  # ... as GX computes it (1 - 0.98 is not exactly 0.02)
    while (float(considered) - float(allowed + 1)) / float(considered) >= mostly:
        allowed += 1
    return max(0.0, (float(handed) - float(allowed)) / float(handed))


def _relation(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """`table`, or an empty stand-in with the columns the suites read if the run has not made it yet."""
    if scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]):
        return table
    return empty_sql(table, _LATER_TABLES[table])


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> pd.DataFrame:
    """A query's result through Arrow: about twice as fast as `.df()` at a million rows, strings stay Arrow
    strings, and dates arrive as datetime64 rather than Python objects."""
    return con.sql(sql, params=params).to_arrow_table().to_pandas(date_as_object=False)
