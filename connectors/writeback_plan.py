"""What write-back writes into one source, and why: one set-based DuckDB query over the workspace.

Each staged record of the source is joined to its golden record (golden_members -> golden_values), to its own
evidence (standardized_records: the values matching and survivorship saw, the hub's echoes already replaced by
what they overwrote), to the rule its value lost on (golden_contested) and to what the hub wrote before
(writeback_echoes, writeback_state). Per accepted field:

1. Nothing is written when the source's value already says the same after normalization (hub/forms.py keys:
   case, spacing, punctuation, titles, email spelling of one mailbox, postcode and state forms, street and unit
   in any layout, E.164 phones, alpha-2 countries, and for text a spelling and its transliteration: "Blümel",
   "Blumel" and "Bluemel", "Straße" and "Strasse"). No case-only, format-only or spelling-only rewrites.
2. The policy decides (hub.yaml `policy`, `writeback.policy`, DEFAULT_POLICY): `fill` writes only where the
   source has no value; `correct` also replaces the source's own value, but only where that value lost to the
   golden value on evidence: a rule in EVIDENCE_RULES (a typo, a nickname, outvoted, invalid, an incomplete
   address, a less trusted source), `most_recent` for values people change (TIME_FIELDS: an old email, a
   pre-move address, an older consent choice), or a steward's pin. A value that lost on a tie-break, on
   length or on completeness is never overwritten. `never` writes nothing. A value the hub itself wrote earlier
   (an echo) may always be replaced: it is the hub's, not the source's.
3. The golden value is written in the source's own style (connectors/styles.py): case of names and towns,
   postcode spacing, state code or name, where the flat goes in a one-line street, accented letters
   transliterated in a system that holds none. A value such a system cannot hold even so (Greek, Cyrillic, CJK
   letters) is not written; an address block is written whole or not at all.
4. A value the hub could not read (a field warning: "19160017" as a date of birth, "n/a" as a phone) is not a
   blank: the record holds it as missing, but the cell holds text someone typed. That field is never written into
   that record, under any policy: the text may say something the mapping does not understand (a misconfigured
   format would otherwise have the golden value overwrite a whole column), and replacing it is a steward's call.

The address block (street line, unit, town, region, postcode, country) is one place. Where every block field
the record has agrees with the golden address, its blanks are filled (`fill` or `correct`). Where it describes
another place, the whole block is written only under `correct` when the record's address lost on evidence (or
is an echo) and no field of the old address would be left beside the new one (write-back never blanks a field);
otherwise the record keeps its address and is counted as `address_kept`. An address that lost only for lacking a
field (`complete`) is not evidence against a newer place: it is replaced only by a golden address at least as
recent. Consent is written only as an explicit choice ('granted' / 'denied'), its time only together with it.

Records linked to their golden record are linked at or above the auto-match threshold or by a steward (clusters
are built from nothing else), so every golden value here comes with a strong link. A golden record whose members
disagree on who they are (golden_conflicts: two birth dates, two countries, two first names) most likely joins two
people: its records get nothing but their golden id, and are counted as `conflicted` until a steward splits them or
the sources agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from connectors import writeback_basis
from connectors.styles import Style, ascii_sql, fits_sql, layout_sql, learn, render, unit_slot
from hub import echoes, forms
from hub.catalogue import (
    ECHOES,
    FIELD_WARNINGS,
    GOLDEN_CONFLICTS,
    GOLDEN_CONTESTED,
    GOLDEN_LINEAGE,
    GOLDEN_MEMBERS,
    GOLDEN_VALUES,
    STAGED,
    STANDARDIZED,
    WRITEBACK_STATE,
    columns_sql,
    record_id_sql,
)
from hub.config import ADDRESS_BLOCK, HubConfig, SourceConfig
from hub.errors import HubError
from hub.model import CONSENT_FIELDS, Consent, FieldType
from hub.workspace import Workspace

EXPLICIT = (Consent.GRANTED.value, Consent.DENIED.value)
EVIDENCE_RULES = (
    "valid", "common_spelling", "most_frequent", "complete", "source_priority", "consent_most_recent", "swapped_names",
)  # fmt: skip
TIME_FIELDS = ("email", "phone", "address", *CONSENT_FIELDS)  # values people change: the newer record knows
HASH, GID, STALE, KEPT, TODO = "_values_hash", "_golden_id", "_stale", "_address_kept", "_todo"
CONFLICTED = "_conflicted"
ORIGINAL, EVIDENCE_AT = "_o_", "_evidence_at"  # per written field the record's own value before; its time


class PlanError(HubError):
    """The workspace lacks what a plan needs (no golden records built yet)."""


@dataclass
class Plan:
    rows: pd.DataFrame  # what to push, plus internal columns (prefix `_`)
    stale: pd.DataFrame  # rows left out: changed since the golden records were built
    address_kept: int  # rows whose (other) address is left alone
    conflicted: int  # rows of golden records that most likely join two people: nothing written but the golden id
    styles: dict[str, Style]
    considered: int  # records planned for (the others' plans were settled and nothing they read has changed)
    settled: pd.DataFrame  # considered records with nothing to write: source_key, basis, address_kept, conflicted
    outcome: pd.DataFrame  # per record returned: source_key, todo, address_kept, conflicted (flags as reported)


def ensure_state(ws: Workspace) -> None:
    ws.con.execute(f"CREATE TABLE IF NOT EXISTS {WRITEBACK_STATE} ({columns_sql(WRITEBACK_STATE)})")


def plan(
    ws: Workspace,
    cfg: HubConfig,
    source: str,
    full: bool = False,
    only: pd.Series | None = None,
    carried: pd.DataFrame | None = None,
    styles: dict[str, Style] | None = None,
) -> Plan:
    """The plan of `source` (see the module docstring), made for the records whose plan could have changed since it
    was last settled (connectors/writeback_basis.py); `full`: for every record; `only`: among these keys (its
    counts then cover only those). `carried` (source_key, address_kept, conflicted), among `only`: records whose
    plan is known to be "nothing to write" without making it, settled with these flags and their current basis.
    Write-back passes the rows it pushed that read nothing new: their staged row is as it was, and what changed
    (their write-back state) only tells the plan that the golden id and values it wanted are in the source.
    `styles`: the styles to write in, instead of learning them (the plan that settles what a write-back wrote takes
    the ones its values were written in; the next plan learns again from what the source holds then)."""
    if source not in cfg.sources:
        raise KeyError(f"no source named {source!r} (configured: {list(cfg.sources)})")
    for table in (GOLDEN_MEMBERS, GOLDEN_VALUES, STANDARDIZED, GOLDEN_CONTESTED, GOLDEN_CONFLICTS, GOLDEN_LINEAGE):
        if not ws.has_table(table):
            raise PlanError(f"the workspace has no {table}: run `hub match` and `hub golden` first")
    ensure_state(ws)
    echoes.ensure(ws.con, ws.fields)
    forms.load(ws.con)
    src = cfg.sources[source]
    styles = learn(ws, src, source, full) if styles is None else styles
    sql = _sql(src, cfg, source, styles)
    seen = writeback_basis.consider(ws, source, _golden_fields(src), list(src.accepts), sql, full, only)
    known = writeback_basis.carry(ws, carried) if carried is not None and len(carried) else None
    if seen.records > (0 if known is None else len(known)):
        frame = ws.con.execute(sql, {"source": source}).df()
    else:  # every record settled and unchanged: not even worth binding the query (a few hundred milliseconds)
        flags, times = (STALE, TODO, KEPT, CONFLICTED), (EVIDENCE_AT,)
        kind = lambda c: "bool" if c in flags else "datetime64[us]" if c in times else "string"  # noqa: E731
        frame = pd.DataFrame({c: pd.Series(dtype=kind(c)) for c in _output(src, "", "", "")})
    for c in frame.columns:
        if pd.api.types.is_object_dtype(frame[c]):
            frame[c] = frame[c].astype("string")
    flag = lambda c: frame.pop(c).fillna(False).astype(bool).to_numpy()  # noqa: E731
    stale, todo, kept, conflicted = flag(STALE), flag(TODO), flag(KEPT), flag(CONFLICTED)
    kept, conflicted = kept & ~stale & ~conflicted, conflicted & ~stale  # as the report counts them
    outcome = pd.DataFrame(
        {"source_key": frame["source_key"], "todo": todo, "address_kept": kept, "conflicted": conflicted}
    )
    settled = writeback_basis.settled(ws, outcome)
    return Plan(
        rows=frame[todo & ~stale].reset_index(drop=True),
        stale=frame[todo & stale].reset_index(drop=True),
        address_kept=int(kept.sum()) + seen.address_kept,
        conflicted=int(conflicted.sum()) + seen.conflicted,
        styles=styles,
        considered=seen.records,
        settled=settled if known is None else pd.concat([settled, known], ignore_index=True),
        outcome=outcome,
    )


def public(rows: pd.DataFrame) -> pd.DataFrame:
    """The plan as Connector.push takes it: source_key, expected_version, accepted fields, golden_id."""
    return rows[[c for c in rows.columns if not c.startswith("_")]]


def _spelled_keys(part: str, key: str, source: str, golden: str) -> tuple[list[str], list[str]]:
    """`_sk2_<part>` / `_gk2_<part>`: the `key` (a template) of the spelled-out value ("Blümel" -> "bluemel",
    hub/forms.py, "Transliteration") of the record's `source` and the golden `golden` column; NULL where the value has
    no letter to spell out, so its spelled-out key is its key (`_same`). Returned as (the spelled-out columns, the
    keys over them): a macro is handed columns, never macros."""
    spelled, keys = [], []
    for side, column in (("s", source), ("g", golden)):
        spelled.append(f"CASE WHEN hub_native({column}) THEN hub_spelled_out({column}) END AS _{side}o_{part}")
        keys.append(f"CASE WHEN _{side}o_{part} IS NOT NULL THEN {key.format(f'_{side}o_{part}')} END"
                    f" AS _{side}k2_{part}")  # fmt: skip
    return spelled, keys


def _same(part: str, text: bool = True) -> str:
    """SQL: the record's and the golden value's keys of `part` say the same (two NULLs do): equal keys or, for text,
    equal keys of their spelled-out forms."""
    same = f"_sk_{part} IS NOT DISTINCT FROM _gk_{part}"
    if not text:
        return same
    return f"({same} OR coalesce(_sk2_{part}, _sk_{part}) IS NOT DISTINCT FROM coalesce(_gk2_{part}, _gk_{part}))"


def _key(field: str, value: str, cfg: HubConfig) -> str:
    """SQL: the comparison key of a field's value (a column): equal keys say the same thing."""
    if field == "email":
        return f"coalesce(hub_email_key({value}), std_text({value}))"
    text = _text_key(field, cfg)
    return f"{text}({value})" if text else value


def _text_key(field: str, cfg: HubConfig) -> str | None:
    """The key macro of a text field (where a value and its transliteration say the same); None for others."""
    if field in ("first_name", "last_name"):
        return "std_name"
    if field in ("city", "region") or (cfg.field_type(field) == FieldType.STRING and field not in (*_EXACT, "email")):
        return "std_text"
    return None


_EXACT = ("phone", "country", "preferred_channel", *CONSENT_FIELDS)


def _sql(src: SourceConfig, cfg: HubConfig, source: str, styles: dict[str, Style]) -> str:
    accepted = list(src.accepts)
    mapped_block = [f for f in src.fields if f in ADDRESS_BLOCK]
    block = [f for f in accepted if f in ADDRESS_BLOCK]
    singles = [f for f in accepted if f not in ADDRESS_BLOCK and f not in CONSENT_FIELDS and not _is_consent_at(f)]
    consents = [f for f in accepted if f in CONSENT_FIELDS]
    slot = unit_slot(src)
    policy = {f: cfg.policy_for(source, f) for f in [*singles, *consents]} | {
        "address": cfg.policy_for(source, "address")
    }
    units = [*singles, *consents, *(["address"] if block else [])]

    golden = _golden_fields(src)
    joined = [f"g.{f} AS _g_{f}" for f in golden] + [f"r.{f} AS {ORIGINAL}{f}" for f in accepted]
    joined += [f"e.{f}__written AS _e_{f}" for f in accepted]
    lost = [f"bool_or(field = '{u}' AND rule IN {_rules(u)}) AS _lost_{u}" for u in units]
    lost += ["bool_or(field = 'address' AND rule = 'complete') AS _incomplete_address"] if block else []
    pins = (
        ", ".join(
            f"bool_or(field IN {tuple(ADDRESS_BLOCK)}) AS _pin_{u}"
            if u == "address"
            else f"bool_or(field = '{u}') AS _pin_{u}"
            for u in units
        )
        or "NULL AS _pin_none"
    )

    # -- address parts (computed in their own projections: macros only ever see columns) --
    # A macro's argument is copied into its body wherever the body names it: std_street over hub_street_from(...)
    # took DuckDB half a second to bind, std_street over the column it is computed into a few milliseconds.
    parts, lines, keys = ["true AS _parts"], ["true AS _lines"], []
    spelled_keys: list[tuple[list[str], list[str]]] = []
    if mapped_block:
        line2 = "address_line2" if "address_line2" in src.fields else "NULL::VARCHAR"
        parts = [
            "hub_unit_raw(address_line1) AS _s_unit_raw",
            f"hub_postcode_key({_col(src, 'postal_code')}, coalesce({_col(src, 'country')}, _g_country)) AS _s_pkey",
            "hub_postcode_key(_g_postal_code, _g_country) AS _g_pkey",
            f"hub_region({_col(src, 'region')}, coalesce({_col(src, 'country')}, _g_country)) AS _s_region",
        ]
        lines = [
            f"hub_street_from(address_line1, {line2}, _s_unit_raw) AS _s_street",
            f"hub_unit_from({line2}, _s_unit_raw) AS _s_unit",
        ]
        keys = [
            "std_street(_s_street, sm.street_map) AS _sk_street",
            "std_street(_s_unit, sm.street_map) AS _sk_unit",
            "std_street(_g_address_line1, sm.street_map) AS _gk_street",
            "std_street(_g_address_line2, sm.street_map) AS _gk_unit",
            "std_text(_s_region) AS _sk_region",
        ]
        spelled_keys.append(_spelled_keys("street", "std_street({}, sm.street_map)", "_s_street", "_g_address_line1"))
    for f in [*singles, *consents]:
        keys += [f"{_key(f, f, cfg)} AS _sk_{f}", f"{_key(f, f'_g_{f}', cfg)} AS _gk_{f}"]
        if _text_key(f, cfg):
            spelled_keys.append(_spelled_keys(f, _key(f, "{}", cfg), f, f"_g_{f}"))
    if "city" in mapped_block:
        keys += [f"{_key('city', 'city', cfg)} AS _sk_city", f"{_key('city', '_g_city', cfg)} AS _gk_city"]
        spelled_keys.append(_spelled_keys("city", _key("city", "{}", cfg), "city", "_g_city"))
    if "region" in mapped_block:
        keys += [f"{_key('region', '_g_region', cfg)} AS _gk_region"]
        spelled_keys.append(_spelled_keys("region", _key("region", "{}", cfg), "_s_region", "_g_region"))

    spelled = [c for columns, _ in spelled_keys for c in columns] or ["true AS _spelled"]
    keys += [k for _, ks in spelled_keys for k in ks]
    written = _Written(styles)

    # -- decisions --
    decide = []
    for f in singles:
        echo = f"(_e_{f} IS NOT NULL AND {f} IS NOT DISTINCT FROM _e_{f})"
        own = _may_correct(policy[f], f)
        decide.append(
            f"(_g_{f} IS NOT NULL AND NOT {_same(f, _text_key(f, cfg) is not None)} AND {_not_never(policy[f])}"
            f" AND {written.fits(f, f'_g_{f}')} AND ({f} IS NULL OR {echo} OR {own})) AS _w0_{f}"
        )
    for f in consents:
        echo = f"(_e_{f} IS NOT NULL AND {f} IS NOT DISTINCT FROM _e_{f})"
        blank = f"{f} IS NULL OR {f} = '{Consent.UNKNOWN.value}'"
        decide.append(
            f"(_g_{f} IN {EXPLICIT} AND {f} IS DISTINCT FROM _g_{f} AND {_not_never(policy[f])}"
            f" AND ({blank} OR {echo} OR {_may_correct(policy[f], f)})) AS _w_{f}"
        )
    values = {}
    fits = {f: _block_fits(f, slot, written) for f in block}
    flags = _block_flags(mapped_block, block, policy["address"], slot, fits) if block else ["NULL AS _no_block"]
    decide += _block_decisions(block, policy["address"], slot, fits)
    for f in singles:
        value = render(f, written.form(f, f"_g_{f}"), styles, "_g_country")
        values[f] = f"CASE WHEN _w_{f} THEN {value} END"
    for f in consents:
        values[f] = f"CASE WHEN _w_{f} THEN _g_{f} END"
        if f"{f}_at" in accepted:
            values[f"{f}_at"] = f"CASE WHEN _w_{f} THEN _g_{f}_at END"
    for f in block:
        if f == "address_line2" and not slot:
            continue
        if f == "address_line1" and not slot:
            street, unit = (
                render("address_line1", written.form("address_line1", v), styles, "_g_country")
                for v in ("_g_address_line1", "_g_address_line2")
            )
            value = f"hub_one_line({street}, {unit}, {layout_sql(styles, '_g_country')})"
        else:
            value = render(f, written.form(f, f"_g_{f}"), styles, "_g_country")
        values[f] = f"CASE WHEN _w_{f} THEN {value} END"
    for f in accepted:  # a consent time not accepted with its choice is never written alone
        values.setdefault(f, "NULL")
    together = _together(src, singles, written)
    # Rule 4: a field whose value the hub could not read is not written into that record.
    decided = [f for f in [*singles, *consents, *block] if not (f == "address_line2" and not slot)]
    unread = ", ".join(f"bool_or(field = '{f}') AS _u_{f}" for f in decided) or "NULL AS _u_none"
    readable = ", ".join(f"_w_{f} AND NOT coalesce(_u_{f}, false) AS _w_{f}" for f in decided)

    is_date = lambda f: cfg.field_type(f) == FieldType.DATE  # noqa: E731
    sent = {f: (f"CAST({v} AS TIMESTAMP)" if is_date(f) and v != "NULL" else v) for f, v in values.items()}
    hashed = ", ".join(f"coalesce(CAST(_v_{f} AS VARCHAR), chr(0))" for f in accepted) or "''"
    any_write = " OR ".join(f"_v_{f} IS NOT NULL" for f in accepted) or "false"
    gid_wanted = src.golden_id is not None
    already = "coalesce(_w_hash = _hash AND _w_version = source_version, false)"
    todo = f"(({any_write}) AND NOT {already})" + (" OR _gid IS DISTINCT FROM _w_gid" if gid_wanted else "")
    # Stale: changed after the matching run the golden records come from, and not by write-back itself.
    stale = "(_std_version IS DISTINCT FROM source_version AND _w_version IS DISTINCT FROM source_version)"
    kept = "_kept" if block else "false"
    # The time of the golden address: a record's newer address that lost only for lacking a field is not replaced
    # by an older place (_may_correct).
    address_at = (
        f"""
            LEFT JOIN (SELECT golden_id, max(value_at) AS _g_address_at FROM {GOLDEN_LINEAGE}
                       WHERE field IN {writeback_basis.ADDRESS_AT} AND golden_id IN (
                           SELECT golden_id FROM {GOLDEN_MEMBERS}
                           WHERE record_id IN (SELECT {record_id_sql("source_system", "source_key")} FROM s))
                       GROUP BY golden_id) AS ga
                   ON ga.golden_id = m.golden_id"""
        if block
        else ""
    )
    at = " ga._g_address_at," if block else ""
    return f"""
        WITH s AS (SELECT * FROM {STAGED}
                   WHERE source_system = $source AND source_key IN ({writeback_basis.considered_sql()})),
        j AS (
            SELECT s.*, m.golden_id AS _gid, r.source_version AS _std_version, r.source_updated_at AS {EVIDENCE_AT},
                   {"".join(f"{j}, " for j in joined)}c.* EXCLUDE (record_id), p.* EXCLUDE (golden_id),{at}
                   w.values_hash AS _w_hash, w.source_version AS _w_version, w.golden_id AS _w_gid,
                   m.golden_id IN (SELECT golden_id FROM {GOLDEN_CONFLICTS}) AS {CONFLICTED}, u.* EXCLUDE (source_key)
            FROM s
            JOIN {GOLDEN_MEMBERS} AS m ON m.record_id = {record_id_sql("s.source_system", "s.source_key")}
            JOIN {GOLDEN_VALUES} AS g ON g.golden_id = m.golden_id
            LEFT JOIN {STANDARDIZED} AS r ON r.unique_id = m.record_id
            LEFT JOIN (SELECT * FROM {WRITEBACK_STATE}
                       WHERE source_system = $source AND source_key IN (SELECT source_key FROM s)) AS w
                   ON w.source_key = s.source_key
            LEFT JOIN (SELECT * FROM {ECHOES}
                       WHERE source_system = $source AND source_key IN (SELECT source_key FROM s)) AS e
                   ON e.source_key = s.source_key
            LEFT JOIN (SELECT record_id, {", ".join(lost) or "NULL AS _lost_none"} FROM {GOLDEN_CONTESTED}
                       WHERE record_id IN (SELECT {record_id_sql("source_system", "source_key")} FROM s)
                       GROUP BY record_id) AS c
                   ON c.record_id = m.record_id
            LEFT JOIN (SELECT golden_id, {pins} FROM {GOLDEN_LINEAGE} WHERE rule = 'pinned' GROUP BY golden_id) AS p
                   ON p.golden_id = m.golden_id{address_at}
            LEFT JOIN (SELECT source_key, {unread} FROM {FIELD_WARNINGS}
                       WHERE source_system = $source AND source_key IN (SELECT source_key FROM s)
                       GROUP BY source_key) AS u
                   ON u.source_key = s.source_key),
        a AS (SELECT *, {", ".join(parts)} FROM j),
        l AS (SELECT *, {", ".join(lines)} FROM a),
        o AS (SELECT *, {", ".join([*spelled, *written.columns()])} FROM l),
        k AS (SELECT o.*, {", ".join(keys) or "NULL AS _no_keys"} FROM o CROSS JOIN std_street_map AS sm),
        b AS (SELECT *, {", ".join(flags)} FROM k),
        d0 AS (SELECT *, {", ".join(decide) or "NULL AS _no_decisions"} FROM b),
        d1 AS (SELECT *, {", ".join(together) or "NULL AS _no_together"} FROM d0),
        d AS (SELECT * {f"REPLACE ({readable})" if readable else ""} FROM d1),
        v AS (SELECT *, {
        ", ".join(f"CASE WHEN NOT {CONFLICTED} THEN {e} END AS _v_{f}" for f, e in sent.items()) or "NULL AS _v_none"
    } FROM d),
        x AS (SELECT *, md5(concat_ws(chr(31), {hashed})) AS _hash FROM v)
        SELECT {", ".join(f"{e} AS {c}" for c, e in _output(src, stale, todo, kept).items())}
        FROM x
        WHERE ({todo}) OR {kept} OR {CONFLICTED}
        ORDER BY source_key"""


def _output(src: SourceConfig, stale: str, todo: str, kept: str) -> dict[str, str]:
    """The plan's columns (see `plan`), each with the SQL that computes it from the plan's last step."""
    accepted = list(src.accepts)
    return {
        "source_key": "source_key",
        "expected_version": "source_version",
        **{f: f"_v_{f}" for f in accepted},
        **({GID.removeprefix("_"): "_gid"} if src.golden_id is not None else {}),
        HASH: "_hash",
        GID: "_gid",
        STALE: stale,
        TODO: f"({todo})",
        KEPT: kept,
        CONFLICTED: CONFLICTED,
        **{f"{ORIGINAL}{f}": f"{ORIGINAL}{f}" for f in accepted},
        EVIDENCE_AT: EVIDENCE_AT,
    }


def _golden_fields(src: SourceConfig) -> list[str]:
    """The golden values a plan of `src` reads: the accepted fields, the address block's fields the source maps
    (a block field read but not accepted is compared too) with what locates the place, and the country (a value is
    transliterated the way its country spells it out)."""
    mapped_block = [f for f in src.fields if f in ADDRESS_BLOCK]
    place = ("address_line1", "address_line2", "postal_code") if mapped_block else ()
    return sorted({*src.accepts, *mapped_block, *place, "country"})


def _together(src: SourceConfig, singles: list[str], written: _Written) -> list[str]:
    """`_w_<field>` of the single fields. Parts of one column ("SMITH, John") are written together: when one part
    is written, a part that says the same as its golden value is written in the golden value's (styled) form too,
    so the cell reads as one person wrote it ("rebecca warednr" becomes "Rebecca Warner", not "rebecca Warner").
    Never a spelling without the accents over one with them: "Müller" stays beside a corrected first name."""
    out = []
    for f in singles:
        column = src.fields[f].column
        partners = [p for p in singles if p != f and src.fields[p].column == column]
        along = "".join(
            f" OR (_w0_{p} AND _g_{f} IS NOT NULL AND _sk_{f} IS NOT DISTINCT FROM _gk_{f}"
            f" AND NOT (hub_native({f}) AND NOT hub_native(_g_{f})) AND {written.fits(f, f'_g_{f}')})"
            for p in partners
        )
        out.append(f"(_w0_{f}{along}) AS _w_{f}")
    return out


class _Written:
    """The golden values as a source's fields without accented letters hold them (styles.ascii_sql): each one
    computed once, into a column `_ga_<field>` of the plan's projection `o`, however often the plan writes or
    tests it."""

    def __init__(self, styles: dict[str, Style]) -> None:
        self.styles = styles
        self.ascii: dict[str, str] = {}  # golden column -> SQL of its ASCII form

    def form(self, field: str, golden: str) -> str:
        """The column holding the golden column `golden` as `field` writes it (itself where accents are kept)."""
        sql = ascii_sql(field, golden, self.styles, "_g_country")
        if sql is None:
            return golden
        self.ascii[golden] = sql
        return self._column(golden)

    def fits(self, field: str, golden: str) -> str:
        """SQL: whether `field` can hold the golden column `golden` (styles.fits_sql)."""
        form = self.form(field, golden)
        return "true" if form == golden else fits_sql(golden, form)

    def columns(self) -> list[str]:
        """The projection's ASCII forms of every golden column `form` was asked for so far."""
        return [f"{sql} AS {self._column(golden)}" for golden, sql in self.ascii.items()]

    @staticmethod
    def _column(golden: str) -> str:
        return "_ga_" + golden.removeprefix("_g_")


def _block_fits(field: str, slot: bool, written: _Written) -> str:
    """SQL: whether the source can hold the golden value of one accepted block field (styles.fits_sql); a one-line
    street holds the unit too."""
    golden = "_g_address_line2" if field == "address_line2" else f"_g_{field}"
    fits = written.fits(field, golden)
    if field == "address_line1" and not slot:
        fits += f" AND {written.fits(field, '_g_address_line2')}"
    return fits


def _block_flags(mapped: list[str], accepted: list[str], policy: str, slot: bool, fits: dict[str, str]) -> list[str]:
    """The address block's record-level flags: `_agree` (every block field the record has says what the golden
    address says), `_whole` (write the golden address over the record's other place: only where the source can hold
    every field of it) and `_kept`."""
    agree = [f"({_agrees(f)})" for f in mapped]
    leftover = []  # a field of the record's own address that the golden one would leave standing beside it
    for f in mapped:
        if f == "country" or (f == "address_line2" and not slot and f in accepted):
            continue
        if f in accepted:
            golden = "_g_address_line2" if f == "address_line2" else f"_g_{f}"
            leftover.append(f"({f} IS NOT NULL AND {golden} IS NULL)")
        else:
            leftover.append(f"NOT ({_agrees(f)})")
    own = " OR ".join(f"{f} IS NOT NULL" for f in mapped if f != "country") or "false"
    golden_has = "(_g_address_line1 IS NOT NULL OR _g_postal_code IS NOT NULL)"
    echo_fields = [f for f in ("address_line1", "postal_code") if f in accepted]
    echo = " OR ".join(f"(_e_{f} IS NOT NULL AND {f} IS NOT DISTINCT FROM _e_{f})" for f in echo_fields) or "false"
    agreed = " AND ".join(agree) or "true"
    whole = (
        f"{golden_has} AND NOT ({agreed}) AND NOT ({' OR '.join(leftover) or 'false'}) AND {_not_never(policy)}"
        f" AND {' AND '.join(fits[f] for f in accepted if not (f == 'address_line2' and not slot)) or 'true'}"
        f" AND (({echo}) OR {_may_correct(policy, 'address')})"
    )
    return [
        f"({agreed}) AS _agree",
        f"({whole}) AS _whole",
        f"({golden_has} AND ({own}) AND NOT ({agreed}) AND NOT ({whole})) AS _kept",
    ]


def _block_decisions(accepted: list[str], policy: str, slot: bool, fits: dict[str, str]) -> list[str]:
    """Per accepted block field, whether to write it: the whole golden address, or a blank of the same place (where
    the source can hold it)."""
    decisions = []
    for f in accepted:
        if f == "address_line2" and not slot:
            continue
        if f == "address_line1" and not slot:  # one line holds street and unit: a missing unit is a blank too
            differs = f"(NOT {_same('street')} OR _sk_unit IS DISTINCT FROM _gk_unit)"
            blank = "(address_line1 IS NULL OR (_sk_unit IS NULL AND _gk_unit IS NOT NULL))"
        elif f in ("address_line1", "address_line2"):
            part = "street" if f == "address_line1" else "unit"
            differs, blank = f"NOT {_same(part, part == 'street')}", f"_sk_{part} IS NULL"
        elif f == "postal_code":
            differs, blank = "_s_pkey IS DISTINCT FROM _g_pkey", "postal_code IS NULL"
        elif f == "country":
            differs, blank = "country IS DISTINCT FROM _g_country", "country IS NULL"
        else:
            differs, blank = f"NOT {_same(f)}", f"{f} IS NULL"
        write = f"{differs} AND (_whole OR (_agree AND {blank} AND {fits[f]}))"
        decisions.append(f"(_g_{f} IS NOT NULL AND {_not_never(policy)} AND {write}) AS _w_{f}")
    return decisions


def _agrees(field: str) -> str:
    """Whether one block field of the record agrees with the golden address (a blank agrees)."""
    return {
        "address_line1": f"_sk_street IS NULL OR {_same('street')}",
        "address_line2": "_sk_unit IS NULL OR _sk_unit IS NOT DISTINCT FROM _gk_unit",
        "city": f"city IS NULL OR {_same('city')}",
        "region": f"region IS NULL OR {_same('region')}",
        "postal_code": "postal_code IS NULL OR _s_pkey IS NOT DISTINCT FROM _g_pkey",
        "country": "country IS NULL OR country IS NOT DISTINCT FROM _g_country",
    }[field]


def _rules(unit: str) -> str:
    rules = [*EVIDENCE_RULES, *(["most_recent"] if unit in TIME_FIELDS else [])]
    return "(" + ", ".join(f"'{r}'" for r in rules) + ")"


def _not_never(policy: str) -> str:
    return "false" if policy == "never" else "true"


def _may_correct(policy: str, unit: str) -> str:
    """SQL: whether the record's own value may be replaced: `correct`, and it lost on evidence or to a pin. An
    address that lost only for lacking a field (`complete`: "Devonport 7311" without its street) is replaced only by
    a golden address at least as recent: a newer town and postcode are where the person lives now, an older full
    address where they lived."""
    if policy != "correct":
        return "false"
    lost = f"coalesce(_lost_{unit}, false)"
    if unit == "address":
        newer = f"coalesce({EVIDENCE_AT} > _g_address_at, false)"
        lost = f"({lost} AND NOT (coalesce(_incomplete_address, false) AND {newer}))"
    return f"({lost} OR coalesce(_pin_{unit}, false))"


def _col(src: SourceConfig, field: str) -> str:
    return field if field in src.fields else "NULL::VARCHAR"


def _is_consent_at(field: str) -> bool:
    return field.endswith("_at") and field.removesuffix("_at") in CONSENT_FIELDS
