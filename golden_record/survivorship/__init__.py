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

The steps live in modules of their own: members (the rule inputs per member record), units (what survives
together, and the rule engine: a unit's chain as a packed rank key), votes (votes and `common_spelling`),
decide (winner, runner-up, spelling, golden_contested), pins (steward pins), outputs (golden_values,
golden_lineage, golden_conflicts), consent (the choices made through the hub, do-not-contact, the preferred
channel harmonized) and sql (identifiers, quoting, temp tables). `survive` runs them in order.

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
`swapped_names` for them, so write-back puts their names back in order; `swapped_by_population` where they are most
of the records holding both names, which write-back leaves as they are). A person whose records agree is never
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

The choices people made through the hub (REST API, steward UI) are candidates too, by the same rule: a newer one
replaces the sources' (lineage source_system 'api' / 'steward', source_key who recorded it), and while the
do-not-contact flag is set every channel is denied (rule 'do_not_contact'). A preferred channel whose consent is
denied gives way to the most recently granted channel, else NULL (rule 'consent_harmonized').

Lineage `rule`: the first rule of the chain separating the winner from the runner-up. The runner-up is the best
candidate with a different key (so the rule says why this value beat another one) or, when all candidates agree,
the second-best record. Besides the chain's rules: 'only_candidate' (one candidate), 'tie_break' (only
source_system, source_key separated them), 'consent_most_recent' (consent, two or more explicit choices) and
'pinned' (a steward pin; source_system 'steward', source_key the pin's `pinned_by`, value_at its `pinned_at`). The
lineage record is the one whose spelling was written.

`golden_contested` (record_id, field, rule): every member whose own value lost, and the rule it lost on (the first
rule separating its key from the winner's). Write-back corrects a source value only where it lost on evidence.
`golden_conflicts` (golden_id, field): golden records whose members disagree on who they are (two birth dates that
are not a keying slip apart, two countries, two first names that are two names: outputs.conflicts_sql): most likely
two people; write-back leaves their records alone.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import duckdb
import pandas as pd

from golden_record.survivorship import consent as consent_choices
from golden_record.survivorship.decide import (
    contested_sql,
    decided_sql,
    keys_sql,
    runners_up_sql,
    spelling_sql,
    winners_sql,
)
from golden_record.survivorship.members import check_members, members_sql
from golden_record.survivorship.outputs import (
    PROPER_UDF,
    STEWARD,
    conflicts_sql,
    lineage_sql,
    register_proper_case,
    values_sql,
)
from golden_record.survivorship.pins import load_pins
from golden_record.survivorship.population import cases_sql, contributions_sql, needed_sql, population_sql
from golden_record.survivorship.sql import Outputs, column_types, drop_tables, identifier
from golden_record.survivorship.units import TYPES, units_for
from golden_record.survivorship.votes import votes_sql
from hub import forms
from hub.catalogue import GOLDEN_MEMBERS, STANDARDIZED
from hub.config import SurvivorshipConfig

__all__ = ["STEWARD", "Outputs", "survive"]


_WORKSPACE = Outputs()


def survive(
    con: duckdb.DuckDBPyConnection,
    cfg: SurvivorshipConfig,
    extra_attributes: Sequence[str] = (),
    members: str = GOLDEN_MEMBERS,
    records: str = STANDARDIZED,
    overrides: pd.DataFrame | None = None,
    consent: pd.DataFrame | None = None,
    swapped: str | None = None,
    base: str | None = None,
    into: Outputs = _WORKSPACE,
) -> int:
    """Create or replace `golden_values`, `golden_lineage`, `golden_contested`, `golden_conflicts` and
    `golden_population` (or the tables `into` names) from `members` (record_id, golden_id) and `records`
    (unique_id = record_id, canonical columns, and the standardized key columns where present); return the number
    of golden records.

    The population lookups (population.py) are those of `members` plus `base` (a relation of golden_id, kind, key,
    n: the contributions of every golden id not in `members`, as golden_population holds them; None: none), and the
    swapped names are `swapped` (the record ids whose names the caller decided to swap over the whole population;
    None: decided over `members`): over a part of the golden ids with the rest's `base` and the whole population's
    `swapped`, every decision is the one survivorship over all of them makes.

    `overrides` (golden_id, field, value as text; optional pinned_by, pinned_at) are steward pins and win; pins
    of golden ids not in `members` are ignored. `consent` (golden_id, channel, value, recorded_at, source,
    recorded_by) are the choices people made through the hub and the do-not-contact flags
    (golden_record/survivorship/consent.py); they are weighed after the sources, pins still win.

    Raises ValueError before writing any table when a member has no record or is listed twice, or a pin names an
    unknown field or a value its field's type cannot hold."""
    members, records = identifier(members), identifier(records)
    extras = [identifier(x) for x in extra_attributes]
    if clash := [x for x in extras if x.startswith("_") or x in ("golden_id", "record_count", *TYPES)]:
        raise ValueError(f"extra attribute(s) {clash} clash with golden_values columns or the internal '_' names")
    record_types = column_types(con, records)
    needed = ("unique_id", "source_system", "source_key", "source_updated_at", *TYPES, *extras)
    if missing := [c for c in needed if c not in record_types]:
        raise ValueError(f"{records} lacks column(s) {missing}")
    types = {**TYPES, **{x: record_types[x] for x in extras}}
    units = units_for(cfg, extras, types)
    forms.load(con)
    register_proper_case(con)
    temps = ["_sv_g", "_sv_r", "_sv_swapped", "_sv_m", "_sv_k", "_sv_win", "_sv_run", "_sv_spell", "_sv_decided"]
    temps += ["_sv_cases", "_sv_need", "_sv_pop", "_sv_pins", "_sv_pins_wide", *consent_choices.TEMPS]
    temps += [f"_sv_votes_{u.name}" for u in units]
    preserve = con.execute("SELECT current_setting('preserve_insertion_order')").fetchall()[0][0]
    con.execute("SET preserve_insertion_order = false")  # no table here has a meaningful row order: write in parallel
    try:
        for statement in members_sql(cfg, members, records, record_types, types, extras, swapped):
            con.execute(statement)
        check_members(con, members, records)
        con.execute(contributions_sql(units, into.population))
        if base:
            con.execute(needed_sql(into.population))
        con.execute(population_sql(into.population, base))
        pinned = load_pins(con, overrides, types, column_types(con, "_sv_g")["golden_id"])
        voted = [u for u in units if u.voted()]
        for unit in voted:
            con.execute(votes_sql(unit))
        con.execute(keys_sql(units, voted))
        drop_tables(con, *(f"_sv_votes_{u.name}" for u in voted))
        con.execute(cases_sql())
        con.execute(conflicts_sql(into))
        drop_tables(con, "_sv_m")  # done with: keep peak memory down
        con.execute(winners_sql(units))
        con.execute(runners_up_sql(units))
        con.execute(spelling_sql(units))
        con.execute(contested_sql(units, into))
        drop_tables(con, "_sv_k")
        con.execute(decided_sql(units))
        drop_tables(con, "_sv_win", "_sv_run", "_sv_spell")
        con.execute(values_sql(units, types, pinned, into))
        con.execute(lineage_sql(units, pinned, into))
        golden_type = column_types(con, "_sv_g")["golden_id"]
        consent_choices.apply_choices(con, consent, members, records, golden_type, into)
        return con.execute(f"SELECT count(*) FROM {into.values}").fetchall()[0][0]
    finally:  # best effort: a failed caller transaction refuses these, and must not hide the first error
        with contextlib.suppress(duckdb.Error):
            drop_tables(con, *temps)
        with contextlib.suppress(duckdb.Error):
            con.remove_function(PROPER_UDF)  # a Python UDF left on an open connection outlives its interpreter
        with contextlib.suppress(duckdb.Error):
            con.execute(f"SET preserve_insertion_order = {bool(preserve)}")
