"""The members' rule inputs (`_sv_g`, `_sv_r`, `_sv_swapped`, `_sv_m`): cleaned values, keys, case forms, swapped
name orders put back, and the check that every member is one record in one golden id."""

from __future__ import annotations

import duckdb

from golden_record.survivorship.sql import quote
from golden_record.survivorship.units import COUNTRY_FALLBACK, PROFILE_FIELDS, TYPES
from hub import validity
from hub.config import ADDRESS_BLOCK, SurvivorshipConfig

SWAP_ODDS = 3  # how much likelier the population must find one of a person's two name orders to swap the other

# Standardized columns (matching/standardize.py) that are a field's key, when the records have them.
STD_COLUMNS = {
    "first_name": "first_name_std",
    "last_name": "last_name_std",
    "email": "email_std",
    "city": "city_std",
}


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


def members_sql(
    cfg: SurvivorshipConfig,
    members: str,
    records: str,
    record_types: dict[str, str],
    types: dict[str, str],
    extras: list[str],
    swapped: str | None = None,
) -> list[str]:
    """`_sv_g`: golden_id -> a dense integer _gid (cheaper to group and join on) and its size n. `_sv_r`: per member
    its _gid, record identity and ranks by (source_system, source_key) and by recency (sorted on these few columns
    rather than on whole records). `_sv_m`: per member, cleaned values, keys, case forms and the other rule inputs,
    in three projections (parsed parts, cleaned values, keys) so that no macro is handed another macro's
    expression (see hub/forms.py). `swapped`: the record ids whose names are swapped, decided by the caller over the
    whole population (`swapped_sql`); None: decided over these members."""
    priority = "".join(f" WHEN {quote(s)} THEN {i}" for i, s in enumerate(cfg.source_priority))
    prio = f"CASE a.source_system{priority} ELSE {len(cfg.source_priority)} END" if priority else "0"
    profile = [*PROFILE_FIELDS, *extras]
    values = [f"CAST({_clean(f)} AS {t}) AS {f}" for f, t in TYPES.items()] + [
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
        "CREATE OR REPLACE TEMP TABLE _sv_swapped AS "
        + (
            f"SELECT record_id FROM {swapped} SEMI JOIN _sv_r USING (record_id)"
            if swapped
            else swapped_sql("_sv_r", records, record_types)
        ),
        f"""CREATE OR REPLACE TEMP TABLE _sv_m AS
            WITH a AS (
                SELECT s._gid, s._n, s._ord, s._recency, r.* REPLACE ({swap}),
                       hub_unit_raw(r.address_line1) AS _unit_raw, hub_postcode_key(r.postal_code, r.country) AS _pkey
                FROM _sv_r AS s LEFT JOIN {records} AS r ON r.unique_id = s.record_id
                LEFT JOIN _sv_swapped AS sw ON sw.record_id = s.record_id),
            b AS (
                SELECT a._gid, a._n, a._ord, a._recency, a._pkey, {", ".join(values)},
                       {"".join(f"a.{c}, " for c in std)}a.country AS {COUNTRY_FALLBACK},
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


def swapped_sql(groups: str, records: str, record_types: dict[str, str], deciding: str | None = None) -> str:
    """The record ids (of `groups`: _gid, record_id) whose names are swapped back: in a golden record holding both
    orders of a name pair, the order the population of `groups` finds SWAP_ODDS times less likely (how many of its
    records hold each name as a first and as a last name). `deciding` (_gid, record_id: whole golden records of
    `groups`): only those records, the names they hold still counted over all of `groups`."""
    first = "r.first_name_std" if "first_name_std" in record_types else "std_name(r.first_name)"
    last = "r.last_name_std" if "last_name_std" in record_types else "std_name(r.last_name)"
    counted = "n"
    if deciding is not None:  # the records holding a name of the flips (joins on the few names first), of `groups`
        held = " UNION ".join(
            f"SELECT r.unique_id, {first} AS f, {last} AS l FROM {records} AS r JOIN names ON names.k = {name}"
            for name in (first, last)
        )
        counted = f"(SELECT f, l FROM ({held}) AS c SEMI JOIN {groups} AS s ON s.record_id = c.unique_id)"
    return f"""
        WITH n AS (SELECT s._gid, r.unique_id AS record_id, {first} AS f, {last} AS l
                   FROM {deciding or groups} AS s JOIN {records} AS r ON r.unique_id = s.record_id),
        flipped AS (SELECT DISTINCT a.record_id, a.f, a.l FROM n AS a
                    JOIN n AS b ON a._gid = b._gid AND a.f = b.l AND a.l = b.f AND a.f <> a.l),
        names AS MATERIALIZED (SELECT f AS k FROM flipped UNION SELECT l FROM flipped),
        pf AS (SELECT f AS k, count(*) AS n FROM {counted} WHERE f IS NOT NULL GROUP BY f),
        pl AS (SELECT l AS k, count(*) AS n FROM {counted} WHERE l IS NOT NULL GROUP BY l)
        SELECT n.record_id FROM flipped AS n
        LEFT JOIN pf AS ff ON ff.k = n.f LEFT JOIN pl AS ll ON ll.k = n.l
        LEFT JOIN pf AS fl ON fl.k = n.l LEFT JOIN pl AS lf ON lf.k = n.f
        WHERE (coalesce(fl.n, 0) + 1) * (coalesce(lf.n, 0) + 1)
              > {SWAP_ODDS} * (coalesce(ff.n, 0) + 1) * (coalesce(ll.n, 0) + 1)"""


def check_members(con: duckdb.DuckDBPyConnection, members: str, records: str) -> None:
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
