"""Reading golden records: by id (a retired id answers with its survivor), as of a time, by source key, their
history, and the current state in bulk; the published match model."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from hub import lineage
from hub.store.bulk import read_frame, read_frame_in
from hub.store.clock import utc_naive
from hub.store.schema import (
    ATTRIBUTES,
    HASH_COLUMNS,
    golden_history,
    golden_records,
    id_redirects,
    match_model,
    match_term_frequencies,
    xref,
)


def resolve(conn: sa.Connection, golden_id: str) -> str | None:
    """The live golden id for `golden_id`: itself, its survivor if retired, None if unknown or
    deleted (retired with no survivor)."""
    gid = golden_id
    for _ in range(100):  # redirects are kept one hop; the loop only guards against a hand-edited store
        if conn.scalar(sa.select(golden_records.c.golden_id).where(golden_records.c.golden_id == gid)):
            return gid
        survivor = conn.scalar(sa.select(id_redirects.c.surviving_id).where(id_redirects.c.retired_id == gid))
        if survivor is None:
            return None
        gid = survivor
    raise RuntimeError(f"id_redirects loop at {golden_id!r}")


def golden_by_id(conn: sa.Connection, golden_id: str, as_of: datetime | None = None) -> dict[str, Any] | None:
    """The golden record now, or as it was at `as_of` (valid_from <= as_of < valid_to). A retired id
    gives its survivor's record with `redirected_from` set to the asked id (None otherwise)."""
    if as_of is None:
        live = resolve(conn, golden_id)
        if live is None:
            return None
        row = conn.execute(sa.select(golden_records).where(golden_records.c.golden_id == live)).mappings().first()
        return _record(row, golden_id) if row else None
    t, gid, h, r = utc_naive(as_of), golden_id, golden_history.c, id_redirects.c
    for _ in range(100):
        row = (
            conn.execute(
                sa.select(golden_history).where(
                    h.golden_id == gid, h.valid_from <= t, sa.or_(h.valid_to.is_(None), h.valid_to > t)
                )
            )
            .mappings()
            .first()
        )
        if row:
            return _record(row, golden_id)
        red = conn.execute(sa.select(r.retired_into, r.retired_at).where(r.retired_id == gid)).first()
        if red is None or red.retired_into is None or red.retired_at > t:
            return None
        gid = red.retired_into  # where it went at the time, not where that went later
    raise RuntimeError(f"id_redirects loop at {golden_id!r}")


def golden_by_source_key(conn: sa.Connection, source_system: str, source_key: str) -> dict[str, Any] | None:
    """The current golden record a source record belongs to."""
    c = xref.c
    gid = conn.scalar(sa.select(c.golden_id).where(c.source_system == source_system, c.source_key == source_key))
    return golden_by_id(conn, gid) if gid else None


def history(conn: sa.Connection, golden_id: str) -> list[dict[str, Any]]:
    """Every version of this id (not of its survivor), oldest first."""
    h = golden_history.c
    rows = conn.execute(sa.select(golden_history).where(h.golden_id == golden_id).order_by(h.version)).mappings()
    return [_record(row, golden_id) for row in rows]


def _record(row: sa.RowMapping, asked: str) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in HASH_COLUMNS}
    out["extra"] = json.loads(out["extra"]) if out["extra"] else {}
    out["lineage"] = lineage.parse(out["lineage"])
    if "changed_fields" in out:  # history rows
        out["changed_fields"] = changed_fields(out)
    out["redirected_from"] = asked if out["golden_id"] != asked else None
    return out


def changed_fields(version: Mapping[str, Any]) -> list[str] | None:
    """The fields a golden_history row's version changed against the previous one. A first version
    changed every field it has a value for (attributes in model order, then extra attributes by name);
    a later one's were stored by its publish (None: published before migration 0006)."""
    if version["version"] > 1:
        stored = version["changed_fields"]
        return json.loads(stored) if stored is not None else None
    extra = version["extra"] if isinstance(version["extra"], dict) else json.loads(version["extra"] or "{}")
    return [a for a in ATTRIBUTES if version[a] is not None] + sorted(k for k, v in extra.items() if v is not None)


def current_golden(conn: sa.Connection, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """All live golden records (extra and lineage as JSON text); only `columns` if given: at a
    million records, reading golden_id and created_at is seconds faster than every column."""
    names = columns if columns is not None else [c.name for c in golden_records.c if c.name not in HASH_COLUMNS]
    return read_frame(conn, sa.select(*[golden_records.c[n] for n in names]))


def created_at(conn: sa.Connection, golden_ids: Sequence[str]) -> pd.DataFrame:
    """golden_id, created_at of the live golden records among `golden_ids` (read by key)."""
    g = golden_records.c
    return read_frame_in(conn, sa.select(g.golden_id, g.created_at), [g.golden_id], list(golden_ids))


def current_xref(conn: sa.Connection) -> pd.DataFrame:
    return read_frame(conn, sa.select(xref))


def current_redirects(conn: sa.Connection) -> pd.DataFrame:
    return read_frame(conn, sa.select(id_redirects))


@dataclass(frozen=True)
class PublishedModel:
    """The match model in the serving store (store.published_model)."""

    version: int
    trained_at: datetime
    records: int
    model_json: str
    tf_totals: dict[str, int]
    published_at: datetime
    run_id: str


def published_model(conn: sa.Connection) -> PublishedModel | None:
    """The match model of the last publish that had one; None before."""
    row = conn.execute(sa.select(match_model)).first()
    if row is None:
        return None
    totals = json.loads(row.tf_totals)
    return PublishedModel(
        row.version, row.trained_at, row.records, row.model_json, totals, row.published_at, row.run_id
    )


def shared_values(conn: sa.Connection, values: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], int]:
    """(tf column, value) -> scored records holding it, for the given values that two or more share
    (primary-key lookups); a value left out is held by at most one record."""
    t = match_term_frequencies.c
    conds = [  # expanding parameters: no per-value coercion (a match request asks for hundreds of values)
        sa.and_(t.tf_column == col, t.value.in_(sa.bindparam(f"values_{i}", list(vals), expanding=True)))
        for i, (col, vals) in enumerate(values.items())
        if len(vals)
    ]
    if not conds:
        return {}
    rows = conn.execute(sa.select(t.tf_column, t.value, t.golden_records).where(sa.or_(*conds)))
    return {(r.tf_column, r.value): r.golden_records for r in rows}


def redirect(conn: sa.Connection, golden_id: str) -> dict[str, Any] | None:
    """Why and when `golden_id` was retired (surviving_id: None if deleted, reason, retired_at); None if it
    was not."""
    r = id_redirects.c
    row = conn.execute(sa.select(r.surviving_id, r.reason, r.retired_at).where(r.retired_id == golden_id)).first()
    return row._asdict() if row else None


def ever_published(conn: sa.Connection, golden_id: str) -> bool:
    """Whether `golden_id` ever had a version (live or retired since)."""
    h = golden_history.c
    return conn.scalar(sa.select(h.golden_id).where(h.golden_id == golden_id).limit(1)) is not None


def source_records(conn: sa.Connection, golden_id: str) -> list[dict[str, Any]]:
    """The xref rows of a live golden id (source_system, source_key, match_probability, link_type, linked_at),
    in key order."""
    x = xref.c
    rows = conn.execute(
        sa.select(x.source_system, x.source_key, x.match_probability, x.link_type, x.linked_at)
        .where(x.golden_id == golden_id)
        .order_by(x.source_system, x.source_key)
    ).mappings()
    return [dict(r) for r in rows]


def all_versions(conn: sa.Connection) -> pd.DataFrame:
    """Every golden_history row (every version of every id), in bulk."""
    return read_frame(conn, sa.select(golden_history))


def version_count(conn: sa.Connection) -> int:
    """How many versions golden_history holds."""
    return conn.execute(sa.select(sa.func.count()).select_from(golden_history)).scalar_one()
