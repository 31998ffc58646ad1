"""Consent choices people made through the hub (REST API, steward UI) and the do-not-contact flag, weighed after
the source records have had their say, and the preferred channel harmonized with the consent that survived.

The rule is the one survivorship applies between sources: per channel the most recent explicit choice wins, and at
the same time 'denied' wins, so an opt-out is never overwritten by an older opt-in, whatever its source. A hub
choice newer than the sources' replaces the golden value (lineage: source_system 'api' or 'steward', rule
'consent_most_recent'); while do-not-contact is set every channel is denied (rule 'do_not_contact'). The members
whose own choice now differs are contested on 'consent_most_recent', so write-back corrects them. Pins still win.

A preferred channel whose consent is denied gives way to the most recently granted channel (none granted: NULL);
members that prefer a denied channel are contested the same way.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from golden_record.survivorship.sql import Outputs
from hub.model import CHANNELS, Consent

ALL = "all"  # the do-not-contact flag's channel (hub.store.consent.ALL)
_DENIED, _GRANTED = Consent.DENIED.value, Consent.GRANTED.value
TEMPS = ("_sv_choices", "_sv_cw")


def apply_choices(
    con: duckdb.DuckDBPyConnection,
    choices: pd.DataFrame | None,
    members: str,
    records: str,
    golden_type: str,
    out: Outputs,
) -> None:
    """Update golden_values, golden_lineage and golden_contested with `choices` (golden_id, channel, value,
    recorded_at, source, recorded_by: hub.store.consent.hub_choices), then harmonize preferred_channel."""
    frame = pd.DataFrame(
        {c: pd.Series(dtype=object) for c in ["golden_id", "channel", "value", "source", "recorded_by"]}
    ).assign(recorded_at=pd.Series(dtype="datetime64[us]"))
    if choices is not None and len(choices):
        frame = choices[list(frame.columns)]
    con.register("_sv_choices_input", frame)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _sv_choices AS
                SELECT CAST(golden_id AS {golden_type}) AS golden_id, CAST(channel AS VARCHAR) AS channel,
                       CAST(value AS VARCHAR) AS value, CAST(recorded_at AS TIMESTAMP) AS recorded_at,
                       CAST(source AS VARCHAR) AS source, CAST(recorded_by AS VARCHAR) AS recorded_by
                FROM _sv_choices_input SEMI JOIN {out.values} USING (golden_id)"""
        )
    finally:
        con.unregister("_sv_choices_input")
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _sv_cw (golden_id VARCHAR, field VARCHAR, source VARCHAR, who VARCHAR,
                                                rule VARCHAR, chosen_at TIMESTAMP, seq INTEGER)"""
    )
    for seq, ch in enumerate(CHANNELS):
        f, at = f"consent_{ch}", f"consent_{ch}_at"
        free = f"NOT EXISTS (SELECT 1 FROM _sv_pins AS p WHERE p.golden_id = v.golden_id AND p.field = '{f}')"
        newer = (
            f"(v.{f} NOT IN ('{_GRANTED}', '{_DENIED}') OR v.{at} IS NULL OR c.recorded_at > v.{at}"
            f" OR (c.recorded_at = v.{at} AND c.value = '{_DENIED}'))"
        )
        wins = f"c.golden_id = v.golden_id AND c.channel = '{ch}' AND {free} AND {newer}"
        con.execute(
            f"""INSERT INTO _sv_cw SELECT v.golden_id, '{f}', c.source, c.recorded_by, 'consent_most_recent',
                       c.recorded_at, {seq} FROM {out.values} AS v JOIN _sv_choices AS c ON {wins}"""
        )
        con.execute(f"UPDATE {out.values} AS v SET {f} = c.value, {at} = c.recorded_at FROM _sv_choices AS c "
                    f"WHERE {wins}")  # fmt: skip
        blocked = f"c.golden_id = v.golden_id AND c.channel = '{ALL}' AND {free} AND v.{f} IS DISTINCT FROM '{_DENIED}'"
        con.execute(
            f"""INSERT INTO _sv_cw SELECT v.golden_id, '{f}', c.source, c.recorded_by, 'do_not_contact',
                       c.recorded_at, {seq + len(CHANNELS)} FROM {out.values} AS v JOIN _sv_choices AS c
                       ON {blocked}"""
        )
        con.execute(f"UPDATE {out.values} AS v SET {f} = '{_DENIED}', {at} = c.recorded_at FROM _sv_choices AS c "
                    f"WHERE {blocked}")  # fmt: skip
    _lineage_and_contested(con, members, records, out)
    _harmonize_preferred(con, members, records, out)


def _lineage_and_contested(con: duckdb.DuckDBPyConnection, members: str, records: str, out: Outputs) -> None:
    """The lineage of every value a hub choice decided, and the members whose own choice lost to it."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _sv_cw AS
           SELECT golden_id, field, arg_max(source, seq) AS source, arg_max(who, seq) AS who,
                  arg_max(rule, seq) AS rule, arg_max(chosen_at, seq) AS chosen_at FROM _sv_cw GROUP BY ALL"""
    )
    both = "(SELECT golden_id, field FROM _sv_cw UNION ALL SELECT golden_id, field || '_at' FROM _sv_cw)"
    con.execute(f"DELETE FROM {out.lineage} WHERE (golden_id, field) IN {both}")
    con.execute(
        f"""INSERT INTO {out.lineage} (golden_id, field, source_system, source_key, rule, value_at)
            SELECT golden_id, unnest([field, field || '_at']), source, who, rule, chosen_at FROM _sv_cw"""
    )
    decided = f"SELECT m.record_id, w.field FROM _sv_cw AS w JOIN {members} AS m USING (golden_id)"
    con.execute(f"DELETE FROM {out.contested} WHERE (record_id, field) IN ({decided})")
    lost = " OR ".join(
        f"(w.field = 'consent_{ch}' AND r.consent_{ch} IN ('{_GRANTED}', '{_DENIED}') "
        f"AND r.consent_{ch} IS DISTINCT FROM v.consent_{ch})"
        for ch in CHANNELS
    )
    con.execute(
        f"""INSERT INTO {out.contested} (record_id, field, rule)
            SELECT m.record_id, w.field, 'consent_most_recent'
            FROM _sv_cw AS w JOIN {members} AS m USING (golden_id) JOIN {out.values} AS v USING (golden_id)
            JOIN {records} AS r ON r.unique_id = m.record_id
            WHERE {lost}"""
    )


def _harmonize_preferred(con: duckdb.DuckDBPyConnection, members: str, records: str, out: Outputs) -> None:
    """A preferred channel that is denied gives way to the most recently granted one (NULL: none granted)."""
    denied = " OR ".join(f"(preferred_channel = '{ch}' AND consent_{ch} = '{_DENIED}')" for ch in CHANNELS)
    denied = f"({denied}) AND golden_id NOT IN (SELECT golden_id FROM _sv_pins WHERE field = 'preferred_channel')"
    granted = ", ".join(
        f"CASE WHEN consent_{ch} = '{_GRANTED}' THEN {{'at': coalesce(consent_{ch}_at, TIMESTAMP '0001-01-01'), "
        f"'ch': '{ch}'}} END"
        for ch in CHANNELS
    )
    best = f"list_sort(list_filter([{granted}], lambda x: x IS NOT NULL), 'DESC')[1].ch"
    con.execute(f"CREATE OR REPLACE TEMP TABLE _sv_cw AS SELECT golden_id FROM {out.values} WHERE {denied}")
    con.execute(f"UPDATE {out.values} SET preferred_channel = {best} WHERE {denied}")
    con.execute(f"DELETE FROM {out.lineage} WHERE field = 'preferred_channel' AND golden_id IN (SELECT golden_id "
                "FROM _sv_cw)")  # fmt: skip
    con.execute(
        f"""INSERT INTO {out.lineage} (golden_id, field, source_system, source_key, rule, value_at)
            SELECT golden_id, 'preferred_channel', 'hub', NULL, 'consent_harmonized', NULL
            FROM {out.values} SEMI JOIN _sv_cw USING (golden_id) WHERE preferred_channel IS NOT NULL"""
    )
    decided = f"SELECT m.record_id FROM _sv_cw JOIN {members} AS m USING (golden_id)"
    con.execute(f"DELETE FROM {out.contested} WHERE field = 'preferred_channel' AND record_id IN ({decided})")
    con.execute(
        f"""INSERT INTO {out.contested} (record_id, field, rule)
            SELECT m.record_id, 'preferred_channel', 'consent_most_recent'
            FROM _sv_cw AS w JOIN {members} AS m USING (golden_id) JOIN {out.values} AS v USING (golden_id)
            JOIN {records} AS r ON r.unique_id = m.record_id
            WHERE r.preferred_channel IS NOT NULL AND r.preferred_channel IS DISTINCT FROM v.preferred_channel"""
    )
