"""Bulk export of the serving store for downstream systems: golden records or the xref, as CSV or
Parquet. Written to a temporary file and renamed, so a reader never picks up half an export."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from hub import store

Table = Literal["golden", "xref"]
Format = Literal["csv", "parquet"]


def export(engine: sa.Engine, table: Table, out: Path, fmt: Format | None = None) -> int:
    """Write the current golden records or xref to `out`; the format follows the file extension
    unless given. Returns the number of rows written."""
    fmt = fmt or ("parquet" if out.suffix == ".parquet" else "csv")
    with engine.connect() as conn:
        frame = store.current_golden(conn) if table == "golden" else store.current_xref(conn)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    os.replace(tmp, out)
    return len(frame)
