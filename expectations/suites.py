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

from datetime import UTC, datetime, time, timedelta

import duckdb
import pandas as pd

from expectations.runner import Check, SuiteResult, gx, run_suite
from hub.catalogue import GOLDEN_MEMBERS, GOLDEN_VALUES, QUARANTINE, STAGED, STANDARDIZED, empty_sql, record_id_sql
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
    missing (field warnings), and how much was quarantined."""
    if source not in cfg.sources:
        raise ValueError(f"'{source}' is not a source in hub.yaml (known: {sorted(cfg.sources)})")
    E = gx().expectations
    records = _df(
        ws.con,
        f"""SELECT source_key, date_of_birth, source_updated_at, email
            FROM {STAGED} WHERE source_system = $source""",
        {"source": source},
    )
    staged, quarantined = ws.counts(source)
    warned = ws.warned(source)
    total = staged + quarantined
    shares = pd.DataFrame(
        {
            "warned_share": [warned / staged if staged else None],
            "quarantine_share": [quarantined / total if total else None],
        },
        dtype="float64",
    )
    now = datetime.now(UTC).replace(tzinfo=None)
    earliest, latest = plausible_birth_dates(now.date())

    checks = [
        Check("source keys are present", E.ExpectColumnValuesToNotBeNull(column="source_key")),
        Check("source keys are unique", E.ExpectColumnValuesToBeUnique(column="source_key")),
        Check(
            "birth dates are plausible",
            E.ExpectColumnValuesToBeBetween(
                column="date_of_birth",
                min_value=datetime.combine(earliest, time.min),
                max_value=datetime.combine(latest, time.max),
            ),
        ),
    ]
    if cfg.sources[source].updated_at:
        checks.append(
            Check(
                "updated-at is present",
                E.ExpectColumnValuesToNotBeNull(column="source_updated_at"),
                examples_from="source_key",
            )
        )
    checks += [
        Check(
            "updated-at is not in the future",
            E.ExpectColumnValuesToBeBetween(column="source_updated_at", max_value=now + CLOCK_SKEW),
        ),
        Check(
            "emails are plausible",
            E.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_REGEX, mostly=RAW_EMAIL_MOSTLY),
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
    return run_suite(f"raw {source}", [(records, checks), (shares, [warnings, quarantine])])


def check_standardized(ws: Workspace, cfg: HubConfig | None = None) -> SuiteResult:
    """The matcher's input: one row per staged record with a usable id, and standardized contact columns
    in the form the comparisons expect. Source systems are the configured ones when `cfg` is given,
    else those with staged records (a standardized record of any other source is stale)."""
    E = gx().expectations
    table = _relation(ws.con, STANDARDIZED)
    records = _df(ws.con, f"SELECT unique_id, source_system, email_std, phone_std, name_concat_std FROM {table}")
    staged = scalar(ws.con, f"SELECT count(*) FROM {STAGED}")
    if cfg is not None:
        sources = sorted(cfg.sources)
    else:
        sources = [r[0] for r in ws.con.execute(f"SELECT DISTINCT source_system FROM {STAGED} ORDER BY 1").fetchall()]
    checks = [
        Check("record ids are present", E.ExpectColumnValuesToNotBeNull(column="unique_id")),
        Check("record ids are unique", E.ExpectColumnValuesToBeUnique(column="unique_id")),
        Check(
            "every staged record is standardized",
            E.ExpectTableRowCountToEqual(value=staged),
            observed=f"{len(records):,} standardized records for {staged:,} staged",
        ),
        Check(
            "source systems are known",
            E.ExpectColumnValuesToBeInSet(column="source_system", value_set=sources),
            examples_from="unique_id",
        ),
        Check(
            "standardized emails are plausible",
            E.ExpectColumnValuesToMatchRegex(column="email_std", regex=EMAIL_REGEX),
        ),
        Check(
            "standardized phones are E.164 digits",
            E.ExpectColumnValuesToMatchRegex(column="phone_std", regex=E164_DIGITS_REGEX),
        ),
        Check(
            f"at least {NAMED_MOSTLY:.0%} of records have a name",
            E.ExpectColumnValuesToNotBeNull(column="name_concat_std", mostly=NAMED_MOSTLY),
            examples_from="unique_id",
        ),
    ]
    return run_suite("standardized", [(records, checks)])


def check_golden(ws: Workspace) -> SuiteResult:
    """BLOCKING gate before publish: golden ids sound, nothing lost or counted twice, no golden record
    without a source, and only valid emails and phones survive."""
    E = gx().expectations
    golden = _golden_frame(ws.con)
    placements = _placements_frame(ws.con)
    golden_checks = [
        Check("golden ids are present", E.ExpectColumnValuesToNotBeNull(column="golden_id")),
        Check("golden ids are unique", E.ExpectColumnValuesToBeUnique(column="golden_id")),
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
        ),
        Check(
            "golden members are staged records",
            E.ExpectColumnValuesToBeInSet(column="member_of", value_set=["staged"]),
            examples_from="record_id",
        ),
    ]
    return run_suite("golden", [(golden, golden_checks), (placements, placement_checks)])


def _golden_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per golden_values row: its id, surviving email and phone, record_count and its number of members."""
    values, members = _relation(con, GOLDEN_VALUES), _relation(con, GOLDEN_MEMBERS)
    return _df(
        con,
        f"""WITH m AS (SELECT golden_id, count(*) AS members FROM {members} GROUP BY golden_id)
            SELECT g.golden_id, g.email, g.phone, g.record_count, coalesce(m.members, 0) AS members
            FROM {values} AS g LEFT JOIN m ON m.golden_id = g.golden_id""",
    )


def _placements_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per record id seen in staging, quarantine or a golden record.

    `placements`: for a source record, the golden records it is a member of (of those in golden_values: a
    membership of a golden record that does not exist places it nowhere), plus one if it is only in
    quarantine (a key staged once and quarantined again as a duplicate is a staged record); exactly 1 means
    it is accounted for once. NULL for an id that is no source record at all (skipped by that check).
    `member_of`: for a golden member, whether it is a staged record, a quarantined one, or no source record.
    Quarantined rows without a key cannot be members of anything and are left out."""
    values, members = _relation(con, GOLDEN_VALUES), _relation(con, GOLDEN_MEMBERS)
    frame = _df(
        con,
        f"""WITH s AS (SELECT DISTINCT {record_id_sql()} AS record_id FROM {STAGED}),
                 q AS (SELECT DISTINCT {record_id_sql()} AS record_id FROM {QUARANTINE}
                       WHERE source_key IS NOT NULL),
                 m AS (SELECT record_id, count(*) AS n FROM {members}
                       WHERE record_id IS NOT NULL AND golden_id IN (SELECT golden_id FROM {values})
                       GROUP BY record_id),
                 ids AS (SELECT record_id FROM s UNION SELECT record_id FROM q UNION SELECT record_id FROM m)
            SELECT ids.record_id,
                   CASE WHEN s.record_id IS NOT NULL THEN coalesce(m.n, 0)
                        WHEN q.record_id IS NOT NULL THEN coalesce(m.n, 0) + 1 END AS placements,
                   CASE WHEN m.record_id IS NULL THEN NULL
                        WHEN s.record_id IS NOT NULL THEN 'staged'
                        WHEN q.record_id IS NOT NULL THEN 'quarantined'
                        ELSE 'no source record' END AS member_of
            FROM ids LEFT JOIN s USING (record_id) LEFT JOIN q USING (record_id) LEFT JOIN m USING (record_id)""",
    )
    # three distinct values: as a category GX's set test and its batch fingerprint skip a million strings
    frame["member_of"] = frame["member_of"].astype("category")
    return frame


def _relation(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """`table`, or an empty stand-in with the columns the suites read if the run has not made it yet."""
    if scalar(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]):
        return table
    return empty_sql(table, _LATER_TABLES[table])


def _df(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> pd.DataFrame:
    """A query's result through Arrow: about twice as fast as `.df()` at a million rows, strings stay Arrow
    strings, and dates arrive as datetime64 rather than Python objects."""
    return con.sql(sql, params=params).to_arrow_table().to_pandas(date_as_object=False)
