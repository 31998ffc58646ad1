"""Comparison keys in tests: the forms write-back compares values by (hub/forms.py), for frames of values."""

from __future__ import annotations

import pandas as pd

from hub import forms
from hub.workspace import Workspace

_KEYS = {
    "first_name": "std_name(v)",
    "last_name": "std_name(v)",
    "email": "coalesce(hub_email_key(v), std_text(v))",
    "city": "std_text(v)",
    "region": "std_text(hub_region(v, c))",
    "postal_code": "hub_postcode_key(v, c)",
    "address_line1": "std_street(v, m.street_map)",
}


def keys(ws: Workspace, field: str, values: pd.Series, country: pd.Series | None = None) -> pd.Series:
    """The comparison key of each value of `field` (with its country, for postcodes and regions): equal keys say
    the same thing."""
    forms.load(ws.con)
    frame = pd.DataFrame(
        {
            "v": values.astype("string").reset_index(drop=True),
            "c": (country if country is not None else pd.Series([None] * len(values)))
            .astype("string")
            .reset_index(drop=True),
        }
    )
    ws.con.register("_keys", frame)
    try:
        out = ws.con.execute(f"SELECT {_KEYS.get(field, 'v')} FROM _keys CROSS JOIN std_street_map AS m").fetchall()
    finally:
        ws.con.unregister("_keys")
    return pd.Series([r[0] for r in out], dtype="string")
