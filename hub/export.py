"""Bulk export of the serving store for downstream systems: golden records or the xref, as CSV or
Parquet. Written to a temporary file and renamed, so a reader never picks up half an export.

An export is what its reader's access policy shows (hub.access): golden records of other sources' customers
left out, masked fields masked and hidden ones left out as columns; xref rows of other sources left out.
`on_read` is told the golden ids a golden export holds, for the PII read log."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from hub import access, store

Table = Literal["golden", "xref"]
Format = Literal["csv", "parquet"]


def export(
    engine: sa.Engine,
    table: Table,
    out: Path,
    fmt: Format | None = None,
    policy: access.Policy | None = None,
    on_read: Callable[[Sequence[str]], object] | None = None,
) -> int:
    """Write the current golden records or xref to `out` as `policy` shows them (None: everything); the format
    follows the file extension unless given. Returns the number of rows written."""
    fmt = fmt or ("parquet" if out.suffix == ".parquet" else "csv")
    with engine.connect() as conn:
        frame = store.current_golden(conn) if table == "golden" else store.current_xref(conn)
        if policy is not None and policy.sources is not None:
            if table == "golden":
                frame = store.visible_frame(conn, frame, policy.sources)
            else:
                frame = frame[frame["source_system"].isin(list(policy.sources))].reset_index(drop=True)
    if policy is not None and table == "golden":
        frame = access.enforce(frame, policy)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    if fmt == "parquet":
        frame.to_parquet(tmp, index=False)
    else:
        frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S")
    os.replace(tmp, out)
    if on_read is not None and table == "golden":
        on_read(frame["golden_id"].tolist())
    return len(frame)
