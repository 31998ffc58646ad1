"""Which value wins per unit, the runner-up and the rule that decided, the best-formed spelling of the winner,
and the members whose own value lost (`golden_contested`)."""

from __future__ import annotations

from golden_record.survivorship.sql import Outputs
from golden_record.survivorship.units import COUNTRY_FALLBACK, ORD_MASK, SAME_FORM_BIT, Unit

_TOP20 = (1 << 20) - 1

SWAPPED_BY_POPULATION = "swapped_by_population"  # golden_contested: names swapped against most records


def keys_sql(units: list[Unit], voted: list[Unit]) -> str:
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


def winners_sql(units: list[Unit]) -> str:
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


def runners_up_sql(units: list[Unit]) -> str:
    """`_sv_run`: per unit the runner-up's key: the best other candidate, where one with the winner's key ranks
    after every other key (the same-key bit; keys compare by 64-bit hash, so a collision could at worst change
    the rule lineage names). Only golden ids with two or more records are looked at."""
    aggs = ", ".join(
        f"min(CASE WHEN k._k_{n} <> w.{n}__wk THEN k._k_{n} + ((k._h_{n} = w.{n}__wh)::HUGEINT << {SAME_FORM_BIT}) "
        f"END) AS {n}__rk"
        for n in (u.name for u in units)
    )
    return f"""
        CREATE OR REPLACE TEMP TABLE _sv_run AS
        SELECT k._gid, {aggs}
        FROM _sv_k AS k JOIN (SELECT * FROM _sv_win WHERE record_count > 1) AS w USING (_gid)
        GROUP BY k._gid"""


def spelling_sql(units: list[Unit]) -> str:
    """`_sv_spell`: per golden id of two or more records and spelled column, the best-formed spelling among the
    members holding the winning key, or the winner's value spelled out ("Blümel" for a winning "Bluemel",
    hub/forms.py, "Transliteration"): proper case first, then the spelling with the most accented letters ("Straße"
    over "Strasse", "Blümel" over "Bluemel": a system without the letters writes "Bluemel" or "Blumel", nobody
    types "ü" for "ue"; but "ss" over "ß" in Switzerland and Liechtenstein), then the spelling most of them use,
    then the newest; and the record it comes from (the newest holding it). Grouped per spelling, then per golden
    id: no window."""
    spelled_units = [u for u in units if u.spelled]
    same = [
        f"CASE WHEN k._h_{u.name} = w.{u.name}__wh THEN true WHEN hub_native(k.{c}) "
        f"THEN std_text(hub_spelled_out(k.{c})) = std_text(hub_spelled_out(w.{c})) ELSE false END AS _same_{c}"
        for u in spelled_units
        for c in u.spelled
    ]
    wanted = ", ".join([f"k.{COUNTRY_FALLBACK}", *(f"k.{c}, k._form_{c}" for u in spelled_units for c in u.spelled),
                        *same])  # fmt: skip
    wins = ", ".join([*(f"{u.name}__wh" for u in spelled_units), *(c for u in spelled_units for c in u.spelled)])
    parts, columns = [], []
    for u in spelled_units:
        for c in u.spelled:
            # Switzerland and Liechtenstein write "ss", never "ß": a spelling with it there ranks last.
            swiss = f"(any_value({COUNTRY_FALLBACK}) = 'CH' OR any_value({COUNTRY_FALLBACK}) = 'LI')"
            accented = f"least(hub_native_letters({c}), 4094)"
            accents = f"CASE WHEN {swiss} AND contains({c}, 'ß') THEN 4095 ELSE 4094 - {accented} END"
            rank = (
                f"(any_value(_form_{c})::HUGEINT << 96) + (({accents})::HUGEINT << 84)"
                f" + (({_TOP20} - least(count(*), {_TOP20}))::HUGEINT << 64)"
                f" + (min(_recency)::HUGEINT << 32) + min(_ord)"
            )
            parts.append(
                f"""s_{c} AS (SELECT _gid, arg_min({c}, _rank) AS {c}, arg_min(_at, _rank) AS {c}__ord
                             FROM (SELECT _gid, {c}, {rank} AS _rank, arg_min(_ord, (_recency, _ord)) AS _at
                                   FROM cand WHERE _same_{c} AND {c} IS NOT NULL GROUP BY _gid, {c})
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


def contested_sql(units: list[Unit], out: Outputs) -> str:
    """`golden_contested` (record_id, field, rule): members whose own key lost, with the rule it lost on."""
    parts = []
    for u in units:
        best, mine = f"w.{u.name}__wk", f"k._k_{u.name}"
        lost = f"{mine} IS NOT NULL AND k._h_{u.name} <> w.{u.name}__wh"
        parts.append(f"SELECT k._ord, '{u.name}' AS field, {u.rule(best, mine)} AS rule FROM _sv_k AS k "
                     f"JOIN _sv_win AS w USING (_gid) WHERE w.record_count > 1 AND {lost}")  # fmt: skip
    # A swap is evidence against the record's order (`swapped_names`) where the swapped records are not most of those
    # holding both names; swapped by the population against most of them, it is `swapped_by_population` (the golden
    # record keeps the order the population finds likelier, but write-back does not put it into those records).
    rule = f"CASE WHEN 2 * n.swapped <= n.named THEN 'swapped_names' ELSE '{SWAPPED_BY_POPULATION}' END"
    swapped = f"""SELECT s.record_id, unnest(['first_name', 'last_name']) AS field, {rule} AS rule
                   FROM _sv_swapped AS s JOIN _sv_r AS r USING (record_id)
                   JOIN (SELECT r._gid, count(sw.record_id) AS swapped, count(*) AS named
                         FROM _sv_k AS k JOIN _sv_r AS r USING (_ord) LEFT JOIN _sv_swapped AS sw USING (record_id)
                         WHERE k._k_first_name IS NOT NULL AND k._k_last_name IS NOT NULL GROUP BY r._gid) AS n
                     ON n._gid = r._gid"""
    return f"""CREATE OR REPLACE TABLE {out.contested} AS
               SELECT r.record_id, c.field, c.rule
               FROM ({" UNION ALL ".join(parts)}) AS c JOIN _sv_r AS r USING (_ord)
               UNION ALL {swapped}"""


def decided_sql(units: list[Unit]) -> str:
    """`_sv_decided`: per golden id and unit, the winner's values (spelled ones from `_sv_spell`; NULL without a
    valid winner), per column the record it comes from (tie-break rank) and the rule that decided."""
    same_form = f"((1::HUGEINT << {SAME_FORM_BIT}) - 1)"
    cols = []
    for u in units:
        best = f"w.{u.name}__wk"
        runner_up = f"(r.{u.name}__rk & {same_form})"
        winner_ord = f"({best} & {ORD_MASK})::BIGINT"
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
