"""Steward pins, checked and typed, for the values and lineage to win with."""

from __future__ import annotations

import duckdb
import pandas as pd

from golden_record.survivorship.sql import quote
from hub.model import CONSENT_FIELDS, Consent


def load_pins(
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
        f", bool_or(field = {quote(f)}) AS {f}__pinned,"
        f" CAST(any_value(value) FILTER (WHERE field = {quote(f)}) AS {types[f]}) AS {f}"
        for f in fields
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _sv_pins_wide AS SELECT golden_id{wide} FROM _sv_pins GROUP BY ALL")
    return fields
