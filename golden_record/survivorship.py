"""Survivorship: one golden record per golden id, decided field by field from its member records, with lineage.

A golden run covers every source record (2M+), so it is a fixed handful of set-based DuckDB statements over all
golden ids at once; Python only writes the SQL. Each value is decided in two steps:

1. WHICH value. Values are compared by key (hub/forms.py: case, accents, stray spaces, punctuation and titles do not
   make another value; "SMITH" and "Smith" are one candidate). Each field's rule chain becomes one packed rank key per
   candidate (a HUGEINT, smaller = better: one bit field per rule, the chain's first rule most significant, the
   record's (source_system, source_key) rank last); one hash aggregation over the member records, sorted by golden
   id, finds every field's winner at once with `min` / `arg_min`. The rule that decided is the first bit field in
   which the winner's and the runner-up's keys differ.
2. HOW it is written. Among the members holding the winning key, the best-formed spelling: proper case over ALL CAPS
   over all lower (`hub_case_form`), then the spelling most members use, then the newest. Values are cleaned (trimmed,
   single spaces, emails lower case, titles dropped from names, postcodes and US/CA/AU regions in their country's
   form, a street line and its unit apart). A name, town or street line that every member writes in one case takes
   the proper-case spelling the rest of the population uses for it, else `proper_case`.

Rules. `cfg.rules_for(field)` is a chain of tie-breakers tried in order; the address block uses
`cfg.rules_for("address")`. Only non-null values are candidates, so a null never beats a value.
- `valid`: a filter, wherever it sits in the chain: only valid values compete and if none is valid the field is
  NULL. Email: a plausible address (hub_email_key); phone: E.164 (`+`, 7-15 digits, no leading 0); address block:
  a street line or postal code present; anything else: not null.
- `common_spelling`: a spelling that is a likely typo or nickname of another candidate's spelling ranks below it,
  and its records' votes count for that spelling. A typo: one edit away (two for keys of five or more
  characters, Damerau-Levenshtein on the keys), no more records in this golden id than the other spelling, and
  rare in the population: held by at most a third as many golden records as the other spelling, which at least
  TYPO_COMMON golden records hold. Population frequency is evidence: "Williahms" beside "Williams" is a typo,
  "Smyth" beside "Smith" in a golden record where three records say Smyth is not. Text fields whose values people
  share (first and last name, city) only. A nickname (first name, `prefer_formal_names`): hub/data/nicknames.csv
  says it stands for the other candidate's name ("Matt" -> "Matthew"; spelling variants such as "Steven" are not
  nicknames; a nickname also stands for any longer name it starts: "Sam" for Samantha).
- `source_priority`: position in `cfg.source_priority`; sources not listed come after, tied with each other.
Before any rule, where a person's records hold their names in both orders ("Cameron" "Stokes" and "Stokes"
"Cameron"), the records of the order the population finds SWAP_ODDS times less likely (how many records hold each
name as a first and as a last name) have them swapped back and vote the other way round (golden_contested says
`swapped_names` for them, so write-back puts their names back in order). A person whose records agree is never
swapped, however unusual the order: Kelly Anthony stays Kelly Anthony.
- `most_recent`: the source's own `source_updated_at`, newest first (a record without one comes last).
- `most_complete`: more non-null attribute fields (extras included; consent left out). For the address block: more
  non-null block fields.
- `complete`: the address block: a street line and a postal code or city (a usable address) before any other.
- `most_frequent`: more votes: the member records with the same key (plus, under `common_spelling`, those of its
  typos and nicknames). Dates and other types vote by equality; the address block votes by place (street line,
  unit and postal code).
- `longest`: longer text first (the address block: all its fields joined).
- Last, always: (source_system, source_key) ascending, so the result never depends on row order.
Bit fields cap what they can tell apart (255 sources in the priority list, 255 non-null fields, 1,048,575 votes
or characters; 2**32 member records): past a cap, values tie and the next rule decides.

Address block: address_line1 (the street line), address_line2 (flat, apartment, suite), city, region, postal_code
and country describe one place: the winning record's place (key: street line + unit + postal code); a field the
winner lacks may come from another member at the same place, never from another place. One-line and multi-line
streets are split into street and unit ("Flat 3, 12 Oak Road" -> "12 Oak Road" + "Flat 3"). Country is also decided
on its own (`rules_for("country")`), from every member with a country, for a person no address block speaks for.

Consent, per channel: the most recent explicit choice ('granted' / 'denied', by consent_<ch>_at; a choice
without a time comes last; at the same time 'denied' wins) gives the value and its _at; no explicit choice gives
'unknown' with a NULL _at and no lineage row. Pins (steward overrides) always win, field by field: a pin on a
block field pins only that field; a pin on consent_<ch> also sets consent_<ch>_at (to the pin's `pinned_at`,
else NULL) unless that is pinned too.

Lineage `rule`: the first rule of the chain separating the winner from the runner-up. The runner-up is the best
candidate with a different key (so the rule says why this value beat another one) or, when all candidates agree,
the second-best record. Besides the chain's rules: 'only_candidate' (one candidate), 'tie_break' (only
source_system, source_key separated them), 'consent_most_recent' (consent, two or more explicit choices) and
'pinned' (a steward pin; source_system 'steward', source_key the pin's `pinned_by`, value_at its `pinned_at`). The
lineage record is the one whose spelling was written.

`golden_contested` (record_id, field, rule): every member whose own value lost, and the rule it lost on (the first
rule separating its key from the winner's). Write-back corrects a source value only where it lost on evidence.
`golden_conflicts` (golden_id, field): golden records whose members disagree on who they are (two birth dates that
are not a keying slip apart, or two countries): most likely two people; write-back leaves their records alone.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa
from duckdb.func import PythonUDFType

from hub import forms, validity
from hub.catalogue import (
    GOLDEN_CONFLICTS,
    GOLDEN_CONTESTED,
    GOLDEN_LINEAGE,
    GOLDEN_MEMBERS,
    GOLDEN_VALUES,
    STANDARDIZED,
)
from hub.config import ADDRESS_BLOCK, SurvivorshipConfig
from hub.model import ATTRIBUTE_FIELDS, CHANNELS, CONSENT_FIELDS, DUCKDB_TYPES, Consent

STEWARD = "steward"
PROPER_UDF = "survivorship_proper_case"
TYPO_COMMON = 3  # golden records that must hold a spelling before a rare neighbour counts as its typo
NEAR_SHARE = 0.12  # edits per character under which two text keys are near spellings that pool their votes
SWAP_ODDS = 3  # how much likelier the population must find one of a person's two name orders to swap the other

# Standardized columns (matching/standardize.py) that are a field's key, when the records have them.
STD_COLUMNS = {
    "first_name": "first_name_std",
    "last_name": "last_name_std",
    "email": "email_std",
    "city": "city_std",
}
SHARED_VALUE_FIELDS = ("first_name", "last_name", "city")  # typos are told by population frequency
PROPER_CASE_FIELDS = ("first_name", "last_name", "city", "address_line1", "address_line2")

_CONSENT_AT = tuple(f"{c}_at" for c in CONSENT_FIELDS)
_PROFILE_FIELDS = tuple(f.name for f in ATTRIBUTE_FIELDS if f.name not in CONSENT_FIELDS + _CONSENT_AT)
_TYPES = {f.name: DUCKDB_TYPES[f.type] for f in ATTRIBUTE_FIELDS}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")
_CANONICAL_TEXT = ("phone", "preferred_channel")  # one written form already: nothing to choose
_COUNTRY_FALLBACK = "_country_any"  # the country unit's column: every member's country, block or not

# Packed rank key layout: each rule's bit field (0 = best) above the 32-bit (source_system, source_key) rank,
# and one bit (126) the runner-up search sets on candidates with the winner's key.
_ORD_BITS = 32
_ORD_MASK = "4294967295"
_WIDTH = {
    "valid": 1,
    "common_spelling": 1,
    "complete": 1,
    "source_priority": 8,
    "most_recent": 32,
    "most_complete": 8,
    "most_frequent": 20,
    "longest": 20,
}
_SAME_FORM_BIT = 126
_TOP20 = (1 << 20) - 1


@dataclass(frozen=True)
class _Unit:
    """What survives together, one field or the address block. SQL expressions are over `_sv_m` columns."""

    name: str
    columns: tuple[str, ...]
    rules: tuple[str, ...] = ()  # the chain, `valid` first
    present: str = "true"  # is a candidate
    valid: str = "true"  # passes the `valid` rule
    key: str = "''"  # the value's key: votes, spelling choice, and "another value" for the runner-up
    spelled: tuple[str, ...] = ()  # columns written in the best-formed spelling among members with the winning key
    shared: bool = False  # values people share: `common_spelling` looks for typos by population frequency
    near: bool = False  # near spellings pool their votes (names, towns, addresses; not emails, which differ by one)
    nicknames: bool = False  # `common_spelling` also lets a nickname lose to the name it stands for
    complete: str = "_complete"
    usable: str = "true"  # the `complete` rule
    length: str = "0"
    value_at: str = "source_updated_at"

    def shifts(self) -> dict[str, int]:
        """Bit offset of each rule's field; the chain's first rule is the most significant."""
        out, shift = {}, _ORD_BITS
        for rule in reversed(self.rules):
            out[rule] = shift
            shift += _WIDTH[rule]
        return out

    def component(self, rule: str) -> str:
        """This unit's value for one rule's bit field, in [0, 2**width): 0 is best."""
        top = (1 << _WIDTH[rule]) - 1
        return {
            "valid": f"(NOT {self.valid})::INTEGER",
            "common_spelling": f"coalesce(v_{self.name}._variant, false)::INTEGER",
            "complete": f"(NOT {self.usable})::INTEGER",
            "source_priority": f"least(_prio, {top})",
            "most_recent": "_recency",
            "most_complete": f"{top} - least({self.complete}, {top})",
            "most_frequent": f"{top} - least(coalesce(v_{self.name}._votes, 1), {top})",
            "longest": f"{top} - least(coalesce({self.length}, 0), {top})",
        }[rule]

    def voted(self) -> bool:
        return bool({"most_frequent", "common_spelling"} & set(self.rules))

    def rank_key(self) -> str:
        """The packed rank key of a candidate; NULL for a record that is no candidate."""
        parts = [f"(({self.component(r)})::HUGEINT << {s})" for r, s in self.shifts().items()]
        return f"CASE WHEN {self.present} THEN {' + '.join([*parts, 'm._ord'])} END"

    def won(self, best: str) -> str:
        """Whether the best key belongs to a valid candidate (there is one, and `valid` passed if it is a rule)."""
        if "valid" in self.rules:
            return f"coalesce((({best} >> {self.shifts()['valid']}) & 1) = 0, false)"
        return f"({best} IS NOT NULL)"

    def rule(self, best: str, other: str) -> str:
        """The rule that decided, from the winner's and another candidate's keys (NULL: there is no other)."""
        shifts = self.shifts()
        whens = "".join(f" WHEN ({best} >> {shifts[r]}) <> ({other} >> {shifts[r]}) THEN '{r}'" for r in self.rules)
        return f"CASE WHEN {other} IS NULL THEN 'only_candidate'{whens} ELSE 'tie_break' END"


@dataclass(frozen=True)
class _ConsentUnit(_Unit):
    """One consent channel: the newest explicit choice, with the time it was made."""

    def rank_key(self) -> str:
        value, at = self.columns
        return (
            f"CASE WHEN {value} IN ('{Consent.GRANTED.value}', '{Consent.DENIED.value}') THEN "
            f"((({at} IS NULL)::HUGEINT) << 97) + (coalesce(9223372036854775807::HUGEINT - epoch_us({at}), 0) << 33)"
            f" + (({value} = '{Consent.GRANTED.value}')::HUGEINT << 32) + m._ord END"
        )

    def won(self, best: str) -> str:
        return f"({best} IS NOT NULL)"

    def rule(self, best: str, other: str) -> str:
        return f"CASE WHEN {other} IS NULL THEN 'only_candidate' ELSE 'consent_most_recent' END"


def survive(
    con: duckdb.DuckDBPyConnection,
    cfg: SurvivorshipConfig,
    extra_attributes: Sequence[str] = (),
    members: str = GOLDEN_MEMBERS,
    records: str = STANDARDIZED,
    overrides: pd.DataFrame | None = None,
) -> int:
    """Create or replace `golden_values`, `golden_lineage` and `golden_contested` from `members` (record_id,
    golden_id) and `records` (unique_id = record_id, canonical columns, and the standardized key columns where
    present); return the number of golden records.

    `overrides` (golden_id, field, value as text; optional pinned_by, pinned_at) are steward pins and win; pins
    of golden ids not in `members` are ignored. Raises ValueError before writing any table when a member has
    no record or is listed twice, or a pin names an unknown field or a value its field's type cannot hold."""
    members, records = _identifier(members), _identifier(records)
    extras = [_identifier(x) for x in extra_attributes]
    if clash := [x for x in extras if x.startswith("_") or x in ("golden_id", "record_count", *_TYPES)]:
        raise ValueError(f"extra attribute(s) {clash} clash with golden_values columns or the internal '_' names")
    record_types = _column_types(con, records)
    needed = ("unique_id", "source_system", "source_key", "source_updated_at", *_TYPES, *extras)
    if missing := [c for c in needed if c not in record_types]:
        raise ValueError(f"{records} lacks column(s) {missing}")
    types = {**_TYPES, **{x: record_types[x] for x in extras}}
    units = _units(cfg, extras, types)
    forms.load(con)
    _register_proper_case(con)
    temps = ["_sv_g", "_sv_r", "_sv_swapped", "_sv_m", "_sv_k", "_sv_win", "_sv_run", "_sv_spell", "_sv_decided"]
    temps += ["_sv_cases", "_sv_pins", "_sv_pins_wide", *(f"_sv_votes_{u.name}" for u in units)]
    preserve = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")  # no table here has a meaningful row order: write in parallel
    try:
        for statement in _members_sql(cfg, members, records, record_types, types, extras):
            con.execute(statement)
        _check_members(con, members, records)
        pinned = _load_pins(con, overrides, types, _column_types(con, "_sv_g")["golden_id"])
        voted = [u for u in units if u.voted()]
        for unit in voted:
            con.execute(_votes_sql(unit))
        con.execute(_keys_sql(units, voted))
        _drop(con, *(f"_sv_votes_{u.name}" for u in voted))
        con.execute(_cases_sql())
        con.execute(_conflicts_sql())
        _drop(con, "_sv_m")  # done with: keep peak memory down
        con.execute(_winners_sql(units))
        con.execute(_runners_up_sql(units))
        con.execute(_spelling_sql(units))
        con.execute(_contested_sql(units))
        _drop(con, "_sv_k")
        con.execute(_decided_sql(units))
        _drop(con, "_sv_win", "_sv_run", "_sv_spell")
        con.execute(_values_sql(units, types, pinned))
        con.execute(_lineage_sql(units, pinned))
        return con.execute(f"SELECT count(*) FROM {GOLDEN_VALUES}").fetchall()[0][0]
    finally:  # best effort: a failed caller transaction refuses these, and must not hide the first error
        with contextlib.suppress(duckdb.Error):
            _drop(con, *temps)
        with contextlib.suppress(duckdb.Error):
            con.remove_function(PROPER_UDF)  # a Python UDF left on an open connection outlives its interpreter
        with contextlib.suppress(duckdb.Error):
            con.execute(f"SET preserve_insertion_order = {bool(preserve)}")


def _drop(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
    for table in tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def _identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain table or column name: {name!r}")
    return name


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {table}").fetchall()}


def _proper_case(values: pa.Array) -> pa.Array:
    """Vectorized UDF body (only single-case winners reach it)."""
    return pa.array([forms.proper_case(v) for v in values.to_pylist()], type=pa.string())


def _register_proper_case(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # not registered on this connection yet
        con.remove_function(PROPER_UDF)
    con.create_function(PROPER_UDF, _proper_case, ["VARCHAR"], "VARCHAR", type=PythonUDFType.ARROW)


def _chain(rules: Sequence[str]) -> tuple[str, ...]:
    """The configured chain without repeats; `valid` is a filter, so it goes first."""
    chain = list(dict.fromkeys(rules))
    if "valid" in chain:
        chain.remove("valid")
        chain.insert(0, "valid")
    return tuple(chain)


def _units(cfg: SurvivorshipConfig, extras: list[str], types: dict[str, str]) -> list[_Unit]:
    """Every survivorship unit: the single fields, the address block, the country, then one per consent channel."""
    units: list[_Unit] = []
    for f in [*_PROFILE_FIELDS, *extras]:
        if f in ADDRESS_BLOCK:
            continue
        text = types[f] == "VARCHAR"
        units.append(
            _Unit(
                name=f,
                columns=(f,),
                rules=_chain(cfg.rules_for(f)),
                present=f"{f} IS NOT NULL",
                valid={"email": "_valid_email", "phone": "_valid_phone"}.get(f, "true"),
                key=f"_key_{f}",
                spelled=(f,) if text and f not in _CANONICAL_TEXT else (),
                shared=f in SHARED_VALUE_FIELDS,
                near=f in SHARED_VALUE_FIELDS,
                nicknames=f == "first_name" and cfg.prefer_formal_names,
                length=f"length({f})" if text else f"length(CAST({f} AS VARCHAR))",
            )
        )
    units.append(
        _Unit(
            name="address",
            columns=ADDRESS_BLOCK,
            rules=_chain(cfg.rules_for("address")),
            present="_has_address",
            key="_key_address",
            near=True,
            spelled=tuple(c for c in ADDRESS_BLOCK if c != "country"),
            complete="_block_complete",
            usable="_block_usable",
            length=f"length(concat_ws(', ', {', '.join(ADDRESS_BLOCK)}))",
        )
    )
    units.append(
        _Unit(
            name="country",
            columns=(_COUNTRY_FALLBACK,),
            rules=_chain(cfg.rules_for("country")),
            present=f"{_COUNTRY_FALLBACK} IS NOT NULL",
            key=_COUNTRY_FALLBACK,
            length="0",
        )
    )
    for ch in CHANNELS:  # keyed by the choice: a member whose choice differs lost (golden_contested)
        units.append(_ConsentUnit(name=f"consent_{ch}", columns=(f"consent_{ch}", f"consent_{ch}_at"),
                                  key=f"consent_{ch}", value_at=f"consent_{ch}_at"))  # fmt: skip
    return units


def _clean(field: str) -> str:
    """A member's value as a candidate, cleaned (hub/forms.py), over `a`: the record's columns plus `_unit_raw`
    (hub_unit_raw of line 1) and `_pkey` (hub_postcode_key), computed once in the projection before."""
    return {
        "first_name": "hub_strip_affixes(a.first_name)",
        "last_name": "hub_strip_affixes(a.last_name)",
        "email": "hub_clean(lower(a.email))",
        "address_line1": "hub_street_from(a.address_line1, a.address_line2, a._unit_raw)",
        "address_line2": "hub_unit_from(a.address_line2, a._unit_raw)",
        "city": "hub_clean(a.city)",
        "region": "hub_region(a.region, a.country)",
        "postal_code": "hub_postcode_from(a._pkey, a.postal_code, a.country)",
    }.get(field, f"a.{field}")


def _members_sql(
    cfg: SurvivorshipConfig,
    members: str,
    records: str,
    record_types: dict[str, str],
    types: dict[str, str],
    extras: list[str],
) -> list[str]:
    """`_sv_g`: golden_id -> a dense integer _gid (cheaper to group and join on) and its size n. `_sv_r`: per member
    its _gid, record identity and ranks by (source_system, source_key) and by recency (sorted on these few columns
    rather than on whole records). `_sv_m`: per member, cleaned values, keys, case forms and the other rule inputs,
    in three projections (parsed parts, cleaned values, keys) so that no macro is handed another macro's
    expression (see hub/forms.py)."""
    priority = "".join(f" WHEN {_quote(s)} THEN {i}" for i, s in enumerate(cfg.source_priority))
    prio = f"CASE a.source_system{priority} ELSE {len(cfg.source_priority)} END" if priority else "0"
    profile = [*_PROFILE_FIELDS, *extras]
    values = [f"CAST({_clean(f)} AS {t}) AS {f}" for f, t in _TYPES.items()] + [
        f"hub_clean(a.{x}) AS {x}" if types[x] == "VARCHAR" else f"a.{x}" for x in extras
    ]
    std = [c for f, c in STD_COLUMNS.items() if c in record_types]
    keys = []
    for f in profile:
        if f in ADDRESS_BLOCK:
            continue
        if types[f] != "VARCHAR":
            keys.append(f"b.{f} AS _key_{f}")
        else:  # an invalid email still votes with its own spellings ("n/a", "N/A")
            given = f"b.{STD_COLUMNS[f]}" if f in STD_COLUMNS and STD_COLUMNS[f] in record_types else None
            key = {"first_name": "std_name", "last_name": "std_name", "email": "hub_email_key"}.get(f, "std_text")
            keys.append(f"coalesce({given or f'{key}(b.{f})'}, std_text(b.{f})) AS _key_{f}")
    if {"address_line1_std", "postal_code_std"} <= set(record_types):  # matching's own: street, unit, postcode
        std += ["address_line1_std", "postal_code_std"]
        place = "coalesce(b.address_line1_std, '') || '|' || coalesce(b.postal_code_std, '')"
    else:
        place = "hub_place_key(b.address_line1, b.address_line2, sm.street_map) || '|' || coalesce(b._pkey, '')"
    case_forms = [f"hub_case_form(b.{f}) AS _form_{f}" for f in profile if types[f] == "VARCHAR"]
    pairs = [("first_name", "last_name")] + ([("first_name_std", "last_name_std")] if len(std) >= 2 else [])
    swap = ", ".join(
        f"CASE WHEN sw.record_id IS NULL THEN r.{x} ELSE r.{y} END AS {x}, "
        f"CASE WHEN sw.record_id IS NULL THEN r.{y} ELSE r.{x} END AS {y}"
        for x, y in pairs
    )
    valid_email = "b.email_std IS NOT NULL" if "email_std" in std else "hub_email_key(b.email) IS NOT NULL"
    first = "r.first_name_std" if "first_name_std" in std else "std_name(r.first_name)"
    last = "r.last_name_std" if "last_name_std" in std else "std_name(r.last_name)"
    first_key = "b.first_name_std" if "first_name_std" in std else "std_name(b.first_name)"
    return [
        f"""CREATE OR REPLACE TEMP TABLE _sv_g AS
            SELECT golden_id, row_number() OVER () AS _gid, n
            FROM (SELECT golden_id, count(*) AS n FROM {members} GROUP BY golden_id)""",
        f"""CREATE OR REPLACE TEMP TABLE _sv_r AS
            SELECT m.record_id, g._gid, g.n AS _n, r.source_system, r.source_key, r.source_updated_at,
                   row_number() OVER (ORDER BY r.source_system, r.source_key) AS _ord,
                   dense_rank() OVER (ORDER BY r.source_updated_at DESC NULLS LAST) AS _recency
            FROM {members} AS m JOIN _sv_g AS g USING (golden_id)
            LEFT JOIN (SELECT unique_id, source_system, source_key,
                              CAST(source_updated_at AS TIMESTAMP) AS source_updated_at FROM {records}) AS r
                   ON r.unique_id = m.record_id""",
        f"""CREATE OR REPLACE TEMP TABLE _sv_swapped AS
            WITH n AS (SELECT s._gid, r.unique_id AS record_id, {first} AS f, {last} AS l
                       FROM _sv_r AS s JOIN {records} AS r ON r.unique_id = s.record_id),
            pf AS (SELECT f AS k, count(*) AS n FROM n WHERE f IS NOT NULL GROUP BY f),
            pl AS (SELECT l AS k, count(*) AS n FROM n WHERE l IS NOT NULL GROUP BY l),
            flipped AS (SELECT DISTINCT a.record_id, a.f, a.l FROM n AS a
                        JOIN n AS b ON a._gid = b._gid AND a.f = b.l AND a.l = b.f AND a.f <> a.l)
            SELECT n.record_id FROM flipped AS n
            LEFT JOIN pf AS ff ON ff.k = n.f LEFT JOIN pl AS ll ON ll.k = n.l
            LEFT JOIN pf AS fl ON fl.k = n.l LEFT JOIN pl AS lf ON lf.k = n.f
            WHERE (coalesce(fl.n, 0) + 1) * (coalesce(lf.n, 0) + 1)
                  > {SWAP_ODDS} * (coalesce(ff.n, 0) + 1) * (coalesce(ll.n, 0) + 1)""",
        f"""CREATE OR REPLACE TEMP TABLE _sv_m AS
            WITH a AS (
                SELECT s._gid, s._n, s._ord, s._recency, r.* REPLACE ({swap}),
                       hub_unit_raw(r.address_line1) AS _unit_raw, hub_postcode_key(r.postal_code, r.country) AS _pkey
                FROM _sv_r AS s LEFT JOIN {records} AS r ON r.unique_id = s.record_id
                LEFT JOIN _sv_swapped AS sw ON sw.record_id = s.record_id),
            b AS (
                SELECT a._gid, a._n, a._ord, a._recency, a._pkey, {", ".join(values)},
                       {"".join(f"a.{c}, " for c in std)}a.country AS {_COUNTRY_FALLBACK},
                       {prio} AS _prio,
                       {" + ".join(f"(a.{f} IS NOT NULL)::INTEGER" for f in profile)} AS _complete,
                       {" + ".join(f"(a.{f} IS NOT NULL)::INTEGER" for f in ADDRESS_BLOCK)} AS _block_complete,
                       (a.address_line1 IS NOT NULL OR a.postal_code IS NOT NULL) AS _has_address
                FROM a)
            SELECT b.* EXCLUDE (_pkey{"".join(f", {c}" for c in std)}), {", ".join(keys)},
                   CASE WHEN b._has_address THEN {place} END AS _key_address,
                   (b.address_line1 IS NOT NULL AND (b.postal_code IS NOT NULL OR b.city IS NOT NULL)) AS _block_usable,
                   {", ".join(case_forms)},
                   n.name AS _nick_name, n.kind AS _nick_kind,
                   {valid_email} AS _valid_email,
                   coalesce({validity.e164_sql("b.phone")}, false) AS _valid_phone
            FROM b CROSS JOIN std_street_map AS sm
            LEFT JOIN std_nicknames AS n ON n.nickname = {first_key}""",
    ]


def _check_members(con: duckdb.DuckDBPyConnection, members: str, records: str) -> None:
    """Every member must be exactly one record in one golden id: a gap or a repeat would silently drop or
    double-count a source record."""
    if missing := con.execute("SELECT count(*) FROM _sv_r WHERE source_system IS NULL").fetchall()[0][0]:
        sample = con.execute(
            f"SELECT record_id FROM {members} ANTI JOIN {records} ON unique_id = record_id LIMIT 5"
        ).fetchall()
        raise ValueError(f"{members}: {missing} record_id(s) not in {records}, e.g. {[r[0] for r in sample]}")
    rows, distinct, blank = con.execute(
        f"""SELECT count(*), count(DISTINCT record_id), count(*) FILTER (WHERE record_id IS NULL OR golden_id IS NULL)
            FROM {members}"""
    ).fetchall()[0]
    if blank:
        raise ValueError(f"{members}: {blank} row(s) without a record_id or golden_id")
    if rows != distinct:
        raise ValueError(f"{members}: {rows - distinct} record_id(s) listed twice (in one or more golden ids)")


def _votes_sql(unit: _Unit) -> str:
    """`_sv_votes_<unit>` (_gid, _key, _votes, _variant): per key of a golden id with two or more keys, its votes
    and whether it is a likely typo or nickname of another key there (see `common_spelling`); elsewhere votes
    cannot separate candidates. Only candidates that compete vote (valid ones, if `valid` is a rule).

    A key's votes are its records plus those of its typos and nicknames and, for text, of near spellings
    (Damerau-Levenshtein distance at most NEAR_SHARE of the longer key: "12 high st" / "12 hihg st",
    "williamson" / "wiliamson"; not "jon" / "john"): records that nearly agree outvote one that says
    something else, and which of the near spellings is written is left to the other rules."""
    voters = f"{unit.present} AND {unit.valid}" if "valid" in unit.rules else unit.present
    spelling = "common_spelling" in unit.rules
    typo = "false"
    if spelling and unit.shared:
        typo = f"""(damerau_levenshtein(a._key, b._key) <= CASE WHEN least(length(a._key), length(b._key)) < 5
                                                            THEN 1 ELSE 2 END
                    AND a._count <= b._count AND b._pop >= {TYPO_COMMON} AND b._pop >= 3 * a._pop)"""
    nickname = "false"
    if spelling and unit.nicknames:
        # the listed name, or any longer name the nickname starts ("Sam" for Samantha as well as Samuel)
        nickname = (
            "(a._nick_kind = 'nickname' AND coalesce(b._nick_kind, '') <> 'nickname' "
            "AND (a._nick_name = CASE WHEN b._nick_kind = 'variant' THEN b._nick_name ELSE b._key END"
            " OR (starts_with(b._key, a._key) AND length(b._key) > length(a._key))))"
        )
    near = "false"
    if unit.near:
        near = f"damerau_levenshtein(a._key, b._key) <= {NEAR_SHARE} * greatest(length(a._key), length(b._key))"
    return f"""
        CREATE OR REPLACE TEMP TABLE _sv_votes_{unit.name} AS
        WITH keys AS (
            SELECT _gid, {unit.key} AS _key, count(*) AS _count,
                   any_value(_nick_name) AS _nick_name, any_value(_nick_kind) AS _nick_kind
            FROM _sv_m WHERE {voters} GROUP BY ALL),
        pop AS (SELECT _key, count(*) AS _pop FROM keys GROUP BY _key),
        multi AS MATERIALIZED (
            SELECT keys.*, pop._pop FROM keys JOIN pop USING (_key)
            SEMI JOIN (SELECT _gid FROM keys GROUP BY _gid HAVING count(*) > 1) USING (_gid)),
        pairs AS MATERIALIZED (  -- a gives its votes to b; a is a variant (typo, nickname) of b
            SELECT a._gid, a._key AS key_a, b._key AS key_b, a._count AS n_a, {typo} OR {nickname} AS variant
            FROM multi AS a JOIN multi AS b ON a._gid = b._gid AND a._key <> b._key
            WHERE {typo} OR {nickname} OR {near}),
        gained AS (SELECT _gid, key_b AS _key, sum(n_a) AS _n FROM pairs GROUP BY ALL),
        variants AS (SELECT DISTINCT _gid, key_a AS _key FROM pairs WHERE variant)
        SELECT m._gid, m._key, m._count + coalesce(g._n, 0) AS _votes, v._key IS NOT NULL AS _variant
        FROM multi AS m LEFT JOIN gained AS g USING (_gid, _key) LEFT JOIN variants AS v USING (_gid, _key)"""


def _keys_sql(units: list[_Unit], voted: list[_Unit]) -> str:
    """`_sv_k`: per member record, per unit its rank key, a hash of its key, its values and their case forms;
    sorted by _gid, because the aggregations over it are the run's hot loop and run twice as fast on clustered
    groups."""
    cols = ", ".join(f"{u.rank_key()} AS _k_{u.name}, hash({u.key}) AS _h_{u.name}" for u in units)
    cols += "".join(f", m.{c}" for u in units for c in u.columns)
    cols += "".join(f", m._form_{c}" for u in units for c in u.spelled)
    joins = "".join(
        f" LEFT JOIN _sv_votes_{u.name} AS v_{u.name} ON v_{u.name}._gid = m._gid AND v_{u.name}._key = {u.key}"
        for u in voted
    )
    return f"""CREATE OR REPLACE TEMP TABLE _sv_k AS
               SELECT m._gid, m._n, m._ord, m._recency, {cols} FROM _sv_m AS m{joins} ORDER BY m._gid"""


def _conflicts_sql() -> str:
    """`golden_conflicts` (golden_id, field): golden records that most likely join two people, whose values
    write-back must not spread from one to the other: members holding two birth dates that are not one keying
    slip apart (one character, or day and month swapped: a person has one date of birth), or living in two
    countries (a person may move abroad, but then a steward should say so before addresses cross borders)."""
    return f"""
        CREATE OR REPLACE TABLE {GOLDEN_CONFLICTS} AS
        WITH d AS (SELECT DISTINCT _gid, date_of_birth AS dob FROM _sv_m WHERE _n > 1 AND date_of_birth IS NOT NULL)
        SELECT DISTINCT g.golden_id, 'date_of_birth' AS field
        FROM d AS a JOIN d AS b ON a._gid = b._gid AND a.dob < b.dob JOIN _sv_g AS g ON g._gid = a._gid
        WHERE damerau_levenshtein(strftime(a.dob, '%Y%m%d'), strftime(b.dob, '%Y%m%d')) > 1
          AND NOT (year(a.dob) = year(b.dob) AND month(a.dob) = day(b.dob) AND day(a.dob) = month(b.dob))
        UNION ALL
        SELECT g.golden_id, 'country' FROM _sv_m AS m JOIN _sv_g AS g ON g._gid = m._gid
        WHERE m._n > 1 AND m.{_COUNTRY_FALLBACK} IS NOT NULL GROUP BY g.golden_id
        HAVING count(DISTINCT m.{_COUNTRY_FALLBACK}) > 1"""


def _cases_sql() -> str:
    """`_sv_cases` (field, lowered, spelling): per value of a PROPER_CASE_FIELDS field, the mixed-case spelling the
    population uses most, to write a value every member of a golden record spelled in one case."""
    parts = " UNION ALL ".join(
        f"SELECT '{f}' AS field, {f} AS spelling FROM _sv_m WHERE _form_{f} = 0 AND {f} IS NOT NULL"
        for f in PROPER_CASE_FIELDS
    )
    return f"""CREATE OR REPLACE TEMP TABLE _sv_cases AS
               SELECT field, lower(spelling) AS lowered, arg_max(spelling, (n, spelling)) AS spelling
               FROM (SELECT field, spelling, count(*) AS n FROM ({parts}) GROUP BY ALL) GROUP BY ALL"""


def _winners_sql(units: list[_Unit]) -> str:
    """`_sv_win`: per golden id its record count and, per unit, the best key, its key hash and the values that
    go with it. A golden id of one record is that record: it skips the aggregation."""
    grouped, single = [], []
    for u in units:
        k, h = f"_k_{u.name}", f"_h_{u.name}"
        grouped += [f"min({k}) AS {u.name}__wk", f"arg_min({h}, {k}) AS {u.name}__wh"]
        grouped += [f"arg_min_null({c}, {k}) AS {c}" for c in u.columns]
        single += [f"{k} AS {u.name}__wk", f"CASE WHEN {k} IS NOT NULL THEN {h} END AS {u.name}__wh"]
        single += [f"CASE WHEN {k} IS NOT NULL THEN {c} END AS {c}" for c in u.columns]
    return f"""
        CREATE OR REPLACE TEMP TABLE _sv_win AS
        SELECT _gid, count(*) AS record_count, {", ".join(grouped)} FROM _sv_k WHERE _n > 1 GROUP BY _gid
        UNION ALL BY NAME
        SELECT _gid, 1 AS record_count, {", ".join(single)} FROM _sv_k WHERE _n = 1"""


def _runners_up_sql(units: list[_Unit]) -> str:
    """`_sv_run`: per unit the runner-up's key: the best other candidate, where one with the winner's key ranks
    after every other key (the same-key bit; keys compare by 64-bit hash, so a collision could at worst change
    the rule lineage names). Only golden ids with two or more records are looked at."""
    aggs = ", ".join(
        f"min(CASE WHEN k._k_{n} <> w.{n}__wk THEN k._k_{n} + ((k._h_{n} = w.{n}__wh)::HUGEINT << {_SAME_FORM_BIT}) "
        f"END) AS {n}__rk"
        for n in (u.name for u in units)
    )
    return f"""
        CREATE OR REPLACE TEMP TABLE _sv_run AS
        SELECT k._gid, {aggs}
        FROM _sv_k AS k JOIN (SELECT * FROM _sv_win WHERE record_count > 1) AS w USING (_gid)
        GROUP BY k._gid"""


def _spelling_sql(units: list[_Unit]) -> str:
    """`_sv_spell`: per golden id of two or more records and spelled column, the best-formed spelling among the
    members holding the winning key (proper case first, then the spelling most of them use, then the newest)
    and the record it comes from (the newest holding it). Grouped per spelling, then per golden id: no window."""
    spelled_units = [u for u in units if u.spelled]
    wanted = ", ".join([*(f"k.{c}, k._form_{c}" for u in spelled_units for c in u.spelled),
                        *(f"k._h_{u.name} = w.{u.name}__wh AS _same_{u.name}" for u in spelled_units)])  # fmt: skip
    wins = ", ".join(f"{u.name}__wh" for u in spelled_units)
    parts, columns = [], []
    for u in spelled_units:
        for c in u.spelled:
            rank = (
                f"(any_value(_form_{c})::HUGEINT << 96) + (({_TOP20} - least(count(*), {_TOP20}))::HUGEINT << 64)"
                f" + (min(_recency)::HUGEINT << 32) + min(_ord)"
            )
            parts.append(
                f"""s_{c} AS (SELECT _gid, arg_min({c}, _rank) AS {c}, arg_min(_at, _rank) AS {c}__ord
                             FROM (SELECT _gid, {c}, {rank} AS _rank, arg_min(_ord, (_recency, _ord)) AS _at
                                   FROM cand WHERE _same_{u.name} AND {c} IS NOT NULL GROUP BY _gid, {c})
                             GROUP BY _gid)"""
            )
            columns.append(c)
    joins = "".join(f" LEFT JOIN s_{c} USING (_gid)" for c in columns)
    return f"""
        CREATE OR REPLACE TEMP TABLE _sv_spell AS
        WITH cand AS MATERIALIZED (
            SELECT k._gid, k._ord, k._recency, {wanted}
            FROM _sv_k AS k JOIN (SELECT _gid, {wins} FROM _sv_win WHERE record_count > 1) AS w USING (_gid)),
        {", ".join(parts)}
        SELECT g._gid, {", ".join(f"{c}, {c}__ord" for c in columns)}
        FROM (SELECT _gid FROM _sv_win WHERE record_count > 1) AS g{joins}"""


def _contested_sql(units: list[_Unit]) -> str:
    """`golden_contested` (record_id, field, rule): members whose own key lost, with the rule it lost on."""
    parts = []
    for u in units:
        best, mine = f"w.{u.name}__wk", f"k._k_{u.name}"
        lost = f"{mine} IS NOT NULL AND k._h_{u.name} <> w.{u.name}__wh"
        parts.append(f"SELECT k._ord, '{u.name}' AS field, {u.rule(best, mine)} AS rule FROM _sv_k AS k "
                     f"JOIN _sv_win AS w USING (_gid) WHERE w.record_count > 1 AND {lost}")  # fmt: skip
    swapped = "SELECT record_id, unnest(['first_name', 'last_name']) AS field, 'swapped_names' AS rule FROM _sv_swapped"
    return f"""CREATE OR REPLACE TABLE {GOLDEN_CONTESTED} AS
               SELECT r.record_id, c.field, c.rule
               FROM ({" UNION ALL ".join(parts)}) AS c JOIN _sv_r AS r USING (_ord)
               UNION ALL {swapped}"""


def _decided_sql(units: list[_Unit]) -> str:
    """`_sv_decided`: per golden id and unit, the winner's values (spelled ones from `_sv_spell`; NULL without a
    valid winner), per column the record it comes from (tie-break rank) and the rule that decided."""
    same_form = f"((1::HUGEINT << {_SAME_FORM_BIT}) - 1)"
    cols = []
    for u in units:
        best = f"w.{u.name}__wk"
        runner_up = f"(r.{u.name}__rk & {same_form})"
        winner_ord = f"({best} & {_ORD_MASK})::BIGINT"
        cols.append(f"{u.won(best)} AS {u.name}__won")
        for c in u.columns:
            value, ord_ = f"w.{c}", winner_ord
            if c in u.spelled:
                value = f"coalesce(s.{c}, w.{c})"
                ord_ = f"CASE WHEN s.{c} IS NOT NULL THEN s.{c}__ord ELSE {winner_ord} END"
            cols += [f"CASE WHEN {u.won(best)} THEN {value} END AS {c}", f"{ord_} AS {c}__ord"]
        cols.append(f"{u.rule(best, runner_up)} AS {u.name}__rule")
    return f"""
        CREATE OR REPLACE TEMP TABLE _sv_decided AS
        SELECT g.golden_id, w.record_count, {", ".join(cols)}
        FROM _sv_win AS w JOIN _sv_g AS g USING (_gid) LEFT JOIN _sv_run AS r USING (_gid)
        LEFT JOIN _sv_spell AS s USING (_gid)"""


def _load_pins(
    con: duckdb.DuckDBPyConnection, overrides: pd.DataFrame | None, types: dict[str, str], golden_type: str
) -> list[str]:
    """`_sv_pins` (one row per pinned field of a golden id in this run, value as text) and `_sv_pins_wide` (per
    pinned golden id, a typed column and an `<field>__pinned` flag per pinned field). Returns the pinned fields."""
    columns = ["golden_id", "field", "value", "pinned_by", "pinned_at"]
    pins = pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    if overrides is not None and len(overrides):
        # text (or None) throughout: DuckDB casts each value to its field's type and reports what does not fit
        pins = overrides.reindex(columns=columns).astype(object)
        for c in columns[1:]:
            pins[c] = pins[c].map(lambda v: None if pd.isna(v) else str(v)).astype(object)
        if unknown := sorted(set(pins["field"]) - set(types)):
            raise ValueError(f"pinned field(s) {unknown} are not attributes (known: {sorted(types)})")
        if len(twice := pins[pins.duplicated(["golden_id", "field"], keep=False)]):
            raise ValueError(f"a field is pinned twice for one golden id: {twice.head(5).to_dict('records')}")
        words = [c.value for c in Consent]
        if len(bad := pins[pins["field"].isin(CONSENT_FIELDS) & pins["value"].notna() & ~pins["value"].isin(words)]):
            raise ValueError(f"consent pins must be one of {words}: {bad.head(5).to_dict('records')}")
        # a consent choice and the time it was made belong together: pin the time too unless it is pinned itself
        times = pins[pins["field"].isin(CONSENT_FIELDS)].assign(field=lambda d: d["field"] + "_at")
        pinned = pd.MultiIndex.from_frame(pins[["golden_id", "field"]])
        times = times[~pd.MultiIndex.from_frame(times[["golden_id", "field"]]).isin(pinned)]
        pins = pd.concat([pins, times.assign(value=times["pinned_at"])], ignore_index=True)
    con.register("_sv_pins_input", pins)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _sv_pins AS
                SELECT CAST(golden_id AS {golden_type}) AS golden_id, CAST(field AS VARCHAR) AS field,
                       CAST(value AS VARCHAR) AS value, CAST(pinned_by AS VARCHAR) AS pinned_by,
                       CAST(pinned_at AS TIMESTAMP) AS pinned_at
                FROM _sv_pins_input SEMI JOIN _sv_g USING (golden_id)"""
        )
    finally:
        con.unregister("_sv_pins_input")
    fields = [f for f in types if f in set(pins["field"])]
    for f in fields:
        unreadable = con.execute(
            f"""SELECT golden_id, value FROM _sv_pins
                WHERE field = ? AND value IS NOT NULL AND TRY_CAST(value AS {types[f]}) IS NULL LIMIT 5""",
            [f],
        ).fetchall()
        if unreadable:
            raise ValueError(f"pinned {f} value(s) cannot be read as {types[f]}: {unreadable}")
    wide = "".join(
        f", bool_or(field = {_quote(f)}) AS {f}__pinned,"
        f" CAST(any_value(value) FILTER (WHERE field = {_quote(f)}) AS {types[f]}) AS {f}"
        for f in fields
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _sv_pins_wide AS SELECT golden_id{wide} FROM _sv_pins GROUP BY ALL")
    return fields


def _values_sql(units: list[_Unit], types: dict[str, str], pinned: list[str]) -> str:
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
    source["country"] = f"coalesce(d.country, d.{_COUNTRY_FALLBACK})"
    for c in CONSENT_FIELDS:
        source[c] = f"coalesce(d.{c}, '{Consent.UNKNOWN.value}')"
    columns = []
    for f, t in types.items():
        expr = f"CASE WHEN p.{f}__pinned THEN p.{f} ELSE {source[f]} END" if f in pinned else source[f]
        columns.append(f"CAST({expr} AS {t}) AS {f}")
    return f"""
        CREATE OR REPLACE TABLE {GOLDEN_VALUES} AS
        SELECT d.golden_id, {", ".join(columns)}, d.record_count
        FROM _sv_decided AS d LEFT JOIN _sv_pins_wide AS p ON p.golden_id = d.golden_id{cases}"""


def _lineage_sql(units: list[_Unit], pinned: list[str]) -> str:
    """golden_lineage: one row per golden id and field with a value, naming the record and the rule."""
    parts = []
    for u in units:
        at = u.value_at if u.value_at in u.columns else "NULL::TIMESTAMP"
        for c in u.columns:
            field = "country" if c == _COUNTRY_FALLBACK else c
            only = " AND country IS NULL" if c == _COUNTRY_FALLBACK else ""  # the block's country comes first
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
        return f"CREATE OR REPLACE TABLE {GOLDEN_LINEAGE} AS {survived}"
    return f"""
        CREATE OR REPLACE TABLE {GOLDEN_LINEAGE} AS
        SELECT * FROM ({survived}) AS l ANTI JOIN _sv_pins AS p ON p.golden_id = l.golden_id AND p.field = l.field
        UNION ALL
        SELECT golden_id, field, '{STEWARD}', pinned_by, 'pinned', pinned_at FROM _sv_pins WHERE value IS NOT NULL"""
