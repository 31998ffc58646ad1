"""Survivorship: one golden record per golden id, decided field by field from its member records, with lineage.

A golden run covers every source record (2M+), so it is a fixed handful of set-based DuckDB statements over all
golden ids at once; Python only writes the SQL. Each field's rule chain becomes one packed rank key per candidate
(a HUGEINT, smaller = better: one bit field per rule, the chain's first rule most significant, the record's
(source_system, source_key) rank last). Then a single hash aggregation over the member records, sorted by golden
id, finds every field's winner at once with `min` / `arg_min` - far cheaper than a window sort per field - the
winner's record is the key's low bits, and the rule that decided is the first bit field in which the winner's and
the runner-up's keys differ.

Rules. `cfg.rules_for(field)` is a chain of tie-breakers tried in order; the address block uses
`cfg.rules_for("address")`. Only non-null values are candidates, so a null never beats a value.
- `valid`: a filter, wherever it sits in the chain: only valid values compete and if none is valid the field is
  NULL. Email: the standardized `email_std` exists (a plausible address); phone: E.164 (`+`, 7-15 digits, no
  leading 0); address block: address_line1 or postal_code present; anything else: not null.
- `source_priority`: position in `cfg.source_priority`; sources not listed come after, tied with each other.
- `most_recent`: the source's own `source_updated_at`, newest first (a record without one comes last).
- `most_complete`: more non-null attribute fields (extras included; consent left out: a source that maps consent
  always fills those columns, so they say nothing about how much it knows of the person). For the address
  block: more non-null block fields.
- `most_frequent`: more votes. A candidate's votes = the member records whose value is similar to it: the same
  comparison form or, for text, fuzz.ratio >= SIMILARITY_THRESHOLD between comparison forms (rapidfuzz
  `process.cpdist` in a vectorized DuckDB UDF, on a self-join of the distinct forms inside each golden id).
  The comparison form is the standardized column where one exists (first_name_std, address_line1_std, ...),
  else the lowercased, trimmed text; dates and other types vote by equality; the address block compares
  address_line1 + postal_code. The winning value is the winner's original, unstandardized value.
- `longest`: longer text first (the address block: all its fields joined).
- Last, always: (source_system, source_key) ascending, so the result never depends on row order.
Bit fields cap what they can tell apart (255 sources in the priority list, 255 non-null fields, 1,048,575 votes
or characters; 2**32 member records): past a cap, values tie and the next rule decides.

Address block: address_line1, address_line2, city, region, postal_code, country survive together from one
record (ranked among records with address_line1 or postal_code), never a street from one source and a postcode
from another. A record with neither supplies no block field.

Consent, per channel: the most recent explicit choice ('granted' / 'denied', by consent_<ch>_at; a choice
without a time comes last; at the same time 'denied' wins) gives the value and its _at; no explicit choice gives
'unknown' with a NULL _at and no lineage row. Pins (steward overrides) always win, field by field: a pin on a
block field pins only that field; a pin on consent_<ch> also sets consent_<ch>_at (to the pin's `pinned_at`,
else NULL) unless that is pinned too.

Lineage `rule`: the first rule of the chain separating the winner from the runner-up. The runner-up is the best
candidate with a different comparison form (so the rule says why this value beat another one; a near-identical
spelling counts as different) or, when all candidates agree, the second-best record. Besides the chain's rules:
'only_candidate' (one candidate), 'tie_break' (only source_system, source_key separated them),
'consent_most_recent' (consent, two or more explicit choices) and 'pinned' (a steward pin; source_system
'steward', source_key the pin's `pinned_by`, value_at its `pinned_at`).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa
from rapidfuzz import fuzz, process

from hub.config import ADDRESS_BLOCK, SurvivorshipConfig
from hub.model import ATTRIBUTE_FIELDS, CHANNELS, CONSENT_FIELDS, DUCKDB_TYPES, EMAIL_PATTERN, Consent

# fuzz.ratio (0-100) at or above which two comparison forms vote together: "12 high st" / "12 hihg st" (90) do;
# "jon" / "john" (86) and "catherine" / "katherine" (89) stay apart, as different spellings of a name should.
SIMILARITY_THRESHOLD = 90.0
SIMILAR_UDF = "survivorship_similar"
STEWARD = "steward"

# Standardized columns (matching/standardize.py) that are a field's comparison form.
STD_COLUMNS = {
    "first_name": "first_name_std",
    "last_name": "last_name_std",
    "email": "email_std",
    "phone": "phone_std",
    "address_line1": "address_line1_std",
    "city": "city_std",
    "postal_code": "postal_code_std",
}

_CONSENT_AT = tuple(f"{c}_at" for c in CONSENT_FIELDS)
_PROFILE_FIELDS = tuple(f.name for f in ATTRIBUTE_FIELDS if f.name not in CONSENT_FIELDS + _CONSENT_AT)
_TYPES = {f.name: DUCKDB_TYPES[f.type] for f in ATTRIBUTE_FIELDS}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")

# Packed rank key layout: each rule's bit field (0 = best) above the 32-bit (source_system, source_key) rank,
# and one bit (126) the runner-up search sets on candidates with the winner's comparison form.
_ORD_BITS = 32
_ORD_MASK = "4294967295"
_WIDTH = {"valid": 1, "source_priority": 8, "most_recent": 32, "most_complete": 8, "most_frequent": 20, "longest": 20}
_SAME_FORM_BIT = 126


@dataclass(frozen=True)
class _Unit:
    """What survives together, one field or the address block. SQL expressions are over `_sv_m` columns."""

    name: str
    columns: tuple[str, ...]
    rules: tuple[str, ...] = ()  # the chain, `valid` first
    present: str = "true"  # is a candidate
    valid: str = "true"  # passes the `valid` rule
    key: str = "''"  # comparison form: votes, and "another value" when looking for the runner-up
    fuzzy: bool = False  # text: near-identical comparison forms vote together
    complete: str = "_complete"
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
            "source_priority": f"least(_prio, {top})",
            "most_recent": "_recency",
            "most_complete": f"{top} - least({self.complete}, {top})",
            "most_frequent": f"{top} - least(coalesce(v_{self.name}._votes, 0), {top})",
            "longest": f"{top} - least(coalesce({self.length}, 0), {top})",
        }[rule]

    def rank_key(self) -> str:
        """The packed rank key of a candidate; NULL for a record that is no candidate."""
        parts = [f"(({self.component(r)})::HUGEINT << {s})" for r, s in self.shifts().items()]
        return f"CASE WHEN {self.present} THEN {' + '.join([*parts, '_ord'])} END"

    def won(self, best: str) -> str:
        """Whether the best key belongs to a valid candidate (there is one, and `valid` passed if it is a rule)."""
        if "valid" in self.rules:
            return f"coalesce((({best} >> {self.shifts()['valid']}) & 1) = 0, false)"
        return f"({best} IS NOT NULL)"

    def rule(self, best: str, runner_up: str) -> str:
        """The rule that decided, from the winner's and the runner-up's keys (NULL: no runner-up)."""
        shifts = self.shifts()
        whens = "".join(f" WHEN ({best} >> {shifts[r]}) <> ({runner_up} >> {shifts[r]}) THEN '{r}'" for r in self.rules)
        return f"CASE WHEN {runner_up} IS NULL THEN 'only_candidate'{whens} ELSE 'tie_break' END"


@dataclass(frozen=True)
class _ConsentUnit(_Unit):
    """One consent channel: the newest explicit choice, with the time it was made."""

    def rank_key(self) -> str:
        value, at = self.columns
        return (
            f"CASE WHEN {value} IN ('{Consent.GRANTED.value}', '{Consent.DENIED.value}') THEN "
            f"((({at} IS NULL)::HUGEINT) << 97) + (coalesce(9223372036854775807::HUGEINT - epoch_us({at}), 0) << 33)"
            f" + (({value} = '{Consent.GRANTED.value}')::HUGEINT << 32) + _ord END"
        )

    def won(self, best: str) -> str:
        return f"({best} IS NOT NULL)"

    def rule(self, best: str, runner_up: str) -> str:
        return f"CASE WHEN {runner_up} IS NULL THEN 'only_candidate' ELSE 'consent_most_recent' END"


def survive(
    con: duckdb.DuckDBPyConnection,
    cfg: SurvivorshipConfig,
    extra_attributes: Sequence[str] = (),
    members: str = "golden_members",
    records: str = "standardized_records",
    overrides: pd.DataFrame | None = None,
) -> int:
    """Create or replace `golden_values` and `golden_lineage` from `members` (record_id, golden_id) and
    `records` (unique_id = record_id, canonical + standardized columns); return the number of golden records.

    `overrides` (golden_id, field, value as text; optional pinned_by, pinned_at) are steward pins and win; pins
    of golden ids not in `members` are ignored. Raises ValueError before writing either table when a member has
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
    _register_similarity(con)
    temps = ["_sv_g", "_sv_r", "_sv_m", "_sv_k", "_sv_win", "_sv_run", "_sv_decided", "_sv_pins", "_sv_pins_wide"]
    temps += [f"_sv_votes_{u.name}" for u in units]
    preserve = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")  # no table here has a meaningful row order: write in parallel
    try:
        for statement in _members_sql(cfg, members, records, record_types, types, extras):
            con.execute(statement)
        _check_members(con, members, records)
        pinned = _load_pins(con, overrides, types, _column_types(con, "_sv_g")["golden_id"])
        voted = [u for u in units if "most_frequent" in u.rules]
        for unit in voted:
            con.execute(_votes_sql(unit))
        con.execute(_keys_sql(units, voted))
        _drop(con, "_sv_m", *(f"_sv_votes_{u.name}" for u in voted))  # done with: keep peak memory down
        con.execute(_winners_sql(units))
        con.execute(_runners_up_sql(units))
        _drop(con, "_sv_k")
        con.execute(_decided_sql(units))
        _drop(con, "_sv_win", "_sv_run")
        con.execute(_values_sql(units, types, pinned))
        con.execute(_lineage_sql(units, pinned))
        return con.execute("SELECT count(*) FROM golden_values").fetchall()[0][0]
    finally:  # best effort: a failed caller transaction refuses these, and must not hide the first error
        with contextlib.suppress(duckdb.Error):
            _drop(con, *temps)
        with contextlib.suppress(duckdb.Error):
            con.remove_function(SIMILAR_UDF)  # a Python UDF left on an open connection outlives its interpreter
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


def _similar(left: pa.Array, right: pa.Array) -> pa.Array:
    """Vectorized UDF body: are two equal-length arrays of comparison forms near-identical, pair by pair?"""
    scores = process.cpdist(left.to_pylist(), right.to_pylist(), scorer=fuzz.ratio, score_cutoff=SIMILARITY_THRESHOLD)
    return pa.array(scores >= SIMILARITY_THRESHOLD)


def _register_similarity(con: duckdb.DuckDBPyConnection) -> None:
    with contextlib.suppress(duckdb.Error):  # not registered on this connection yet
        con.remove_function(SIMILAR_UDF)
    con.create_function(SIMILAR_UDF, _similar, ["VARCHAR", "VARCHAR"], "BOOLEAN", type="arrow")


def _chain(rules: Sequence[str]) -> tuple[str, ...]:
    """The configured chain without repeats; `valid` is a filter, so it goes first."""
    chain = list(dict.fromkeys(rules))
    if "valid" in chain:
        chain.remove("valid")
        chain.insert(0, "valid")
    return tuple(chain)


def _units(cfg: SurvivorshipConfig, extras: list[str], types: dict[str, str]) -> list[_Unit]:
    """Every survivorship unit: the single fields, the address block, then one per consent channel."""
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
                fuzzy=text,
                length=f"length({f})" if text else f"length(CAST({f} AS VARCHAR))",
            )
        )
    units.append(
        _Unit(
            name="address",
            columns=ADDRESS_BLOCK,
            rules=_chain(cfg.rules_for("address")),
            present="(address_line1 IS NOT NULL OR postal_code IS NOT NULL)",
            key="concat_ws(' ', _key_address_line1, _key_postal_code)",
            fuzzy=True,
            complete="_block_complete",
            length=f"length(concat_ws(', ', {', '.join(ADDRESS_BLOCK)}))",
        )
    )
    for ch in CHANNELS:
        units.append(_ConsentUnit(name=f"consent_{ch}", columns=(f"consent_{ch}", f"consent_{ch}_at"),
                                  value_at=f"consent_{ch}_at"))  # fmt: skip
    return units


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
    rather than on whole records). `_sv_m`: per member, typed values, comparison forms and the other rule inputs."""
    priority = "".join(f" WHEN {_quote(s)} THEN {i}" for i, s in enumerate(cfg.source_priority))
    prio = f"CASE r.source_system{priority} ELSE {len(cfg.source_priority)} END" if priority else "0"
    profile = [*_PROFILE_FIELDS, *extras]
    keys = []
    for f in profile:
        if types[f] != "VARCHAR":
            keys.append(f"r.{f} AS _key_{f}")
        elif STD_COLUMNS.get(f) in record_types:
            keys.append(f"coalesce(r.{STD_COLUMNS[f]}, lower(trim(r.{f}))) AS _key_{f}")
        else:
            keys.append(f"lower(trim(r.{f})) AS _key_{f}")
    if "email_std" in record_types:
        valid_email = "r.email_std IS NOT NULL"
    else:
        valid_email = f"coalesce(regexp_full_match(lower(trim(r.email)), '{EMAIL_PATTERN}'), false)"
    values = [f"CAST(r.{f} AS {t}) AS {f}" for f, t in _TYPES.items()] + [f"r.{x}" for x in extras]
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
        f"""CREATE OR REPLACE TEMP TABLE _sv_m AS
            SELECT s._gid, s._n, s._ord, s._recency, {", ".join(values)},
                   {prio} AS _prio,
                   {" + ".join(f"(r.{f} IS NOT NULL)::INTEGER" for f in profile)} AS _complete,
                   {" + ".join(f"(r.{f} IS NOT NULL)::INTEGER" for f in ADDRESS_BLOCK)} AS _block_complete,
                   {", ".join(keys)},
                   {valid_email} AS _valid_email,
                   coalesce(regexp_full_match(r.phone, '\\+[1-9][0-9]{{6,14}}'), false) AS _valid_phone
            FROM _sv_r AS s LEFT JOIN {records} AS r ON r.unique_id = s.record_id""",
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
    """`_sv_votes_<unit>` (_gid, _key, _votes): per comparison form, its members plus, for text, the members of
    every near-identical form; only candidates that compete vote (valid ones, if `valid` is a rule). Only golden
    ids with two or more such forms are listed (elsewhere votes cannot separate candidates), and only those reach
    the UDF."""
    voters = f"{unit.present} AND {unit.valid}" if "valid" in unit.rules else unit.present
    keys = f"""
        keys AS (SELECT _gid, {unit.key} AS _key, count(*) AS _count FROM _sv_m WHERE {voters} GROUP BY ALL),
        multi AS (SELECT * FROM keys
                  SEMI JOIN (SELECT _gid FROM keys GROUP BY _gid HAVING count(*) > 1) USING (_gid))"""
    if not unit.fuzzy:
        body = "SELECT _gid, _key, _count AS _votes FROM multi"
        return f"CREATE OR REPLACE TEMP TABLE _sv_votes_{unit.name} AS WITH {keys} {body}"
    return f"""
        CREATE OR REPLACE TEMP TABLE _sv_votes_{unit.name} AS
        WITH {keys},
        pairs AS MATERIALIZED (
            SELECT a._gid, a._key AS key_a, a._count AS n_a, b._key AS key_b, b._count AS n_b
            FROM multi AS a JOIN multi AS b ON a._gid = b._gid AND a._key < b._key
            WHERE {SIMILAR_UDF}(a._key, b._key)
        ),
        alike AS (
            SELECT _gid, _key, sum(n) AS n
            FROM (SELECT _gid, key_a AS _key, n_b AS n FROM pairs UNION ALL SELECT _gid, key_b, n_a FROM pairs)
            GROUP BY ALL
        )
        SELECT _gid, _key, _count + coalesce(alike.n, 0) AS _votes FROM multi LEFT JOIN alike USING (_gid, _key)"""


def _keys_sql(units: list[_Unit], voted: list[_Unit]) -> str:
    """`_sv_k`: per member record, per unit its rank key, a hash of its comparison form and its values; sorted by
    _gid, because the aggregations over it are the run's hot loop and run twice as fast on clustered groups."""
    cols = ", ".join(f"{u.rank_key()} AS _k_{u.name}, hash({u.key}) AS _h_{u.name}" for u in units)
    cols += "".join(f", m.{c}" for u in units for c in u.columns)
    joins = "".join(
        f" LEFT JOIN _sv_votes_{u.name} AS v_{u.name} ON v_{u.name}._gid = m._gid AND v_{u.name}._key = {u.key}"
        for u in voted
    )
    return f"CREATE OR REPLACE TEMP TABLE _sv_k AS SELECT m._gid, m._n, {cols} FROM _sv_m AS m{joins} ORDER BY m._gid"


def _winners_sql(units: list[_Unit]) -> str:
    """`_sv_win`: per golden id its record count and, per unit, the best key, its comparison form's hash and the
    values that go with it. A golden id of one record is that record: it skips the aggregation."""
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
    """`_sv_run`: per unit the runner-up's key: the best other candidate, where one with the winner's comparison
    form ranks after every other form (the same-form bit; forms compare by 64-bit hash, so a collision could at
    worst change the rule lineage names). Only golden ids with two or more records are looked at."""
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


def _decided_sql(units: list[_Unit]) -> str:
    """`_sv_decided`: per golden id and unit, the winner's values (NULL without a valid winner), its record's
    tie-break rank and the rule that decided."""
    same_form = f"((1::HUGEINT << {_SAME_FORM_BIT}) - 1)"
    cols = []
    for u in units:
        best = f"w.{u.name}__wk"
        runner_up = f"(r.{u.name}__rk & {same_form})"
        cols.append(f"{u.won(best)} AS {u.name}__won")
        cols += [f"CASE WHEN {u.won(best)} THEN w.{c} END AS {c}" for c in u.columns]
        cols += [f"({best} & {_ORD_MASK})::BIGINT AS {u.name}__ord, {u.rule(best, runner_up)} AS {u.name}__rule"]
    return f"""
        CREATE OR REPLACE TEMP TABLE _sv_decided AS
        SELECT g.golden_id, w.record_count, {", ".join(cols)}
        FROM _sv_win AS w JOIN _sv_g AS g USING (_gid) LEFT JOIN _sv_run AS r USING (_gid)"""


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
        bad = con.execute(
            f"""SELECT golden_id, value FROM _sv_pins
                WHERE field = ? AND value IS NOT NULL AND TRY_CAST(value AS {types[f]}) IS NULL LIMIT 5""",
            [f],
        ).fetchall()
        if bad:
            raise ValueError(f"pinned {f} value(s) cannot be read as {types[f]}: {bad}")
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
    for c in CONSENT_FIELDS:
        source[c] = f"coalesce(d.{c}, '{Consent.UNKNOWN.value}')"
    columns = []
    for f, t in types.items():
        expr = f"CASE WHEN p.{f}__pinned THEN p.{f} ELSE {source[f]} END" if f in pinned else source[f]
        columns.append(f"CAST({expr} AS {t}) AS {f}")
    return f"""
        CREATE OR REPLACE TABLE golden_values AS
        SELECT d.golden_id, {", ".join(columns)}, d.record_count
        FROM _sv_decided AS d LEFT JOIN _sv_pins_wide AS p ON p.golden_id = d.golden_id"""


def _lineage_sql(units: list[_Unit], pinned: list[str]) -> str:
    """golden_lineage: one row per golden id and field with a value, naming the record and the rule."""
    parts = []
    for u in units:
        at = u.value_at if u.value_at in u.columns else "NULL::TIMESTAMP"
        parts += [
            f"SELECT golden_id, '{c}' AS field, {u.name}__ord AS _ord, {u.name}__rule AS rule, {at} AS _at "
            f"FROM _sv_decided WHERE {u.name}__won AND {c} IS NOT NULL"
            for c in u.columns
        ]
    consent = ", ".join(f"'{c}'" for u in units if u.value_at in u.columns for c in u.columns)
    survived = f"""
        SELECT l.golden_id, l.field, m.source_system, m.source_key, l.rule,
               CASE WHEN l.field IN ({consent}) THEN l._at ELSE m.source_updated_at END AS value_at
        FROM ({" UNION ALL ".join(parts)}) AS l JOIN _sv_r AS m USING (_ord)"""
    if not pinned:
        return f"CREATE OR REPLACE TABLE golden_lineage AS {survived}"
    return f"""
        CREATE OR REPLACE TABLE golden_lineage AS
        SELECT * FROM ({survived}) AS l ANTI JOIN _sv_pins AS p ON p.golden_id = l.golden_id AND p.field = l.field
        UNION ALL
        SELECT golden_id, field, '{STEWARD}', pinned_by, 'pinned', pinned_at FROM _sv_pins WHERE value IS NOT NULL"""
