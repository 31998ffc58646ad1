"""The tables survivorship writes: `golden_values` (pins first, single-case spellings in proper case),
`golden_lineage` and `golden_conflicts`."""

from __future__ import annotations

import contextlib

import duckdb
import pyarrow as pa
from duckdb.func import PythonUDFType

from golden_record.survivorship.population import PROPER_CASE_FIELDS, VOTE
from golden_record.survivorship.sql import Outputs
from golden_record.survivorship.units import COUNTRY_FALLBACK, Unit
from golden_record.survivorship.votes import TYPO_COMMON
from hub import forms
from hub.model import CONSENT_FIELDS, Consent

STEWARD = "steward"
PROPER_UDF = "survivorship_proper_case"


def _proper_case(values: pa.Array) -> pa.Array:
    """Vectorized UDF body (only single-case winners reach it)."""
    return pa.array([forms.proper_case(v) for v in values.to_pylist()], type=pa.string())


def register_proper_case(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # not registered on this connection yet
        con.remove_function(PROPER_UDF)
    con.create_function(PROPER_UDF, _proper_case, ["VARCHAR"], "VARCHAR", type=PythonUDFType.ARROW)


def conflicts_sql(out: Outputs) -> str:
    """`golden_conflicts` (golden_id, field): golden records that most likely join two people, whose values
    write-back must not spread from one to the other: members holding
    1. two birth dates that are not one keying slip apart (one character, or day and month swapped: a person has one
       date of birth);
    2. two countries (a person may move abroad, but then a steward should say so before addresses cross borders);
    3. two first names that are two names, not two ways of writing one (`_two_names`): "Élisabeth" and
       "Étienne" Munoz in one town are a family, not a person.
    Each is told from the golden record's own members; rule 3 also reads how many golden records hold each name
    (the population lookup of `common_spelling`, kept whole by an incremental build)."""
    return f"""
        CREATE OR REPLACE TABLE {out.conflicts} AS
        WITH d AS (SELECT DISTINCT _gid, date_of_birth AS dob FROM _sv_m WHERE _n > 1 AND date_of_birth IS NOT NULL),
        f AS ({_established_first_names()})
        SELECT DISTINCT g.golden_id, 'date_of_birth' AS field
        FROM d AS a JOIN d AS b ON a._gid = b._gid AND a.dob < b.dob JOIN _sv_g AS g ON g._gid = a._gid
        WHERE damerau_levenshtein(strftime(a.dob, '%Y%m%d'), strftime(b.dob, '%Y%m%d')) > 1
          AND NOT (year(a.dob) = year(b.dob) AND month(a.dob) = day(b.dob) AND day(a.dob) = month(b.dob))
        UNION ALL
        SELECT g.golden_id, 'country' FROM _sv_m AS m JOIN _sv_g AS g ON g._gid = m._gid
        WHERE m._n > 1 AND m.{COUNTRY_FALLBACK} IS NOT NULL GROUP BY g.golden_id
        HAVING count(DISTINCT m.{COUNTRY_FALLBACK}) > 1
        UNION ALL
        SELECT DISTINCT g.golden_id, 'first_name'
        FROM f AS a JOIN f AS b ON a._gid = b._gid AND a.k < b.k JOIN _sv_g AS g ON g._gid = a._gid
        WHERE {_two_names("a", "b")}"""


# Rule 3 of conflicts_sql. Two first names are two names when both are established (at least TYPO_COMMON golden
# records hold each: not a typo, which would pass every test below) and they are not one name written two ways: not
# one nickname or variant (hub/data/nicknames.csv), neither starts the other ("Sam" / "Samantha", "J" / "John"),
# their first words are more than two edits apart and not alike (Jaro-Winkler under NAME_ALIKE: "Stephen" / "Steven",
# "Mohammed" / "Muhammad" are one name), neither's first word is a word of the other ("John Paul" / "Paul") and
# neither is the other's surname (names entered the other way round).
NAME_ALIKE = 0.8


def _established_first_names() -> str:
    """Per golden record with several members, its members' established first names: key `k`, first word `w`, the
    name a nickname stands for `canon`, and the member's surname key `l`."""
    return f"""SELECT DISTINCT m._gid, m._key_first_name AS k, split_part(m._key_first_name, ' ', 1) AS w,
                      coalesce(m._nick_name, m._key_first_name) AS canon, m._key_last_name AS l
               FROM _sv_m AS m JOIN _sv_pop AS p ON p.kind = '{VOTE}first_name' AND p.key = m._key_first_name
               WHERE m._n > 1 AND p.n >= {TYPO_COMMON}"""


def _two_names(a: str, b: str) -> str:
    """SQL: the established first names `a` and `b` (_established_first_names rows) are two names."""
    return f"""{a}.canon <> {b}.canon AND NOT starts_with({a}.k, {b}.k) AND NOT starts_with({b}.k, {a}.k)
               AND damerau_levenshtein({a}.w, {b}.w) > 2 AND jaro_winkler_similarity({a}.w, {b}.w) < {NAME_ALIKE}
               AND NOT list_contains(string_split({a}.k, ' '), {b}.w)
               AND NOT list_contains(string_split({b}.k, ' '), {a}.w)
               AND {a}.k IS DISTINCT FROM {b}.l AND {b}.k IS DISTINCT FROM {a}.l"""


def values_sql(units: list[Unit], types: dict[str, str], pinned: list[str], out: Outputs) -> str:
    """golden_values: every golden id, its attribute fields (model types), extras and record_count."""
    source = {c: f"d.{c}" for u in units for c in u.columns}
    # A name, town or street line every member writes in one case: the population's proper-case spelling of it,
    # else proper_case.
    for c in PROPER_CASE_FIELDS:
        source[c] = (
            f"CASE WHEN hub_case_form(d.{c}) IN (1, 2) THEN coalesce(cs_{c}.spelling, {PROPER_UDF}(d.{c})) "
            f"ELSE d.{c} END"
        )
    cases = "".join(
        f" LEFT JOIN (SELECT lowered, spelling FROM _sv_cases WHERE field = '{c}') AS cs_{c}"
        f" ON cs_{c}.lowered = lower(d.{c})"
        for c in PROPER_CASE_FIELDS
    )
    source["country"] = f"coalesce(d.country, d.{COUNTRY_FALLBACK})"
    for c in CONSENT_FIELDS:
        source[c] = f"coalesce(d.{c}, '{Consent.UNKNOWN.value}')"
    columns = []
    for f, t in types.items():
        expr = f"CASE WHEN p.{f}__pinned THEN p.{f} ELSE {source[f]} END" if f in pinned else source[f]
        columns.append(f"CAST({expr} AS {t}) AS {f}")
    return f"""
        CREATE OR REPLACE TABLE {out.values} AS
        SELECT d.golden_id, {", ".join(columns)}, d.record_count
        FROM _sv_decided AS d LEFT JOIN _sv_pins_wide AS p ON p.golden_id = d.golden_id{cases}"""


def lineage_sql(units: list[Unit], pinned: list[str], out: Outputs) -> str:
    """golden_lineage: one row per golden id and field with a value, naming the record and the rule."""
    parts = []
    for u in units:
        at = u.value_at if u.value_at in u.columns else "NULL::TIMESTAMP"
        for c in u.columns:
            field = "country" if c == COUNTRY_FALLBACK else c
            only = " AND country IS NULL" if c == COUNTRY_FALLBACK else ""  # the block's country comes first
            parts.append(
                f"SELECT golden_id, '{field}' AS field, {c}__ord AS _ord, {u.name}__rule AS rule, {at} AS _at "
                f"FROM _sv_decided WHERE {u.name}__won AND {c} IS NOT NULL{only}"
            )
    consent = ", ".join(f"'{c}'" for u in units if u.value_at in u.columns for c in u.columns)
    survived = f"""
        SELECT l.golden_id, l.field, m.source_system, m.source_key, l.rule,
               CASE WHEN l.field IN ({consent}) THEN l._at ELSE m.source_updated_at END AS value_at
        FROM ({" UNION ALL ".join(parts)}) AS l JOIN _sv_r AS m USING (_ord)"""
    if not pinned:
        return f"CREATE OR REPLACE TABLE {out.lineage} AS {survived}"
    return f"""
        CREATE OR REPLACE TABLE {out.lineage} AS
        SELECT * FROM ({survived}) AS l ANTI JOIN _sv_pins AS p ON p.golden_id = l.golden_id AND p.field = l.field
        UNION ALL
        SELECT golden_id, field, '{STEWARD}', pinned_by, 'pinned', pinned_at FROM _sv_pins WHERE value IS NOT NULL"""
