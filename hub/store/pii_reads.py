"""The PII read log (migration 0009): which key read which golden records' PII fields, when and through which
route; and which golden records a source-restricted caller may see at all (hub.access).

A request's reads are one insert (one row per golden record it returned), written after the response is sent
(hub.api.policy), so a read never waits for a publish's write lock. Field names only: never a value.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from hub.store.bulk import insert_frame
from hub.store.clock import utc_naive, utc_now
from hub.store.engine import write_transaction
from hub.store.reads import resolve
from hub.store.schema import id_redirects, pii_reads, xref

MAX_READS_PAGE = 10_000
_BULK = 1000  # more golden ids than this in one request (an export): through the bulk path


def record_reads(
    engine: sa.Engine, key_id: str, route: str, golden_ids: Collection[str], fields: Sequence[str],
    masked: Sequence[str], at: datetime | None = None,
) -> int:  # fmt: skip
    """Log one request's read of `golden_ids` (duplicates counted once): one insert. Returns the rows written."""
    ids = sorted(set(golden_ids))
    if not ids or not (fields or masked):
        return 0
    row = {"request_id": uuid.uuid4().hex, "read_at": utc_naive(at) if at else utc_now(), "key_id": key_id,
           "route": route[:255], "fields": ",".join(fields), "masked_fields": ",".join(masked)}  # fmt: skip
    with write_transaction(engine) as conn:
        if len(ids) > _BULK:
            insert_frame(conn, pii_reads, pd.DataFrame({**row, "golden_id": ids})[[c.name for c in pii_reads.c]])
        else:
            conn.execute(pii_reads.insert(), [{**row, "golden_id": g} for g in ids])
    return len(ids)


def reads(
    conn: sa.Connection, golden_id: str | None = None, key_id: str | None = None, since: datetime | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:  # fmt: skip
    """Logged reads, newest first, filtered by golden id, key id and time (from `since`, inclusive)."""
    r = pii_reads.c
    q = sa.select(pii_reads).order_by(r.read_at.desc(), r.request_id, r.golden_id).limit(limit)
    if golden_id is not None:
        q = q.where(r.golden_id == golden_id)
    if key_id is not None:
        q = q.where(r.key_id == key_id)
    if since is not None:
        q = q.where(r.read_at >= utc_naive(since))
    out = []
    for row in conn.execute(q).mappings():
        rec = dict(row)
        rec["fields"] = [f for f in rec["fields"].split(",") if f]
        rec["masked_fields"] = [f for f in rec["masked_fields"].split(",") if f]
        out.append(rec)
    return out


def visible_ids(conn: sa.Connection, golden_ids: Collection[str], sources: Collection[str]) -> set[str]:
    """Those of `golden_ids` (live ids) with a source record of one of `sources` (one indexed query)."""
    ids = list(set(golden_ids))
    if not ids:
        return set()
    x = xref.c
    q = sa.select(x.golden_id).distinct().where(x.golden_id.in_(ids), x.source_system.in_(list(sources)))
    return set(conn.scalars(q))


def visible_id(conn: sa.Connection, golden_id: str, sources: Collection[str]) -> bool:
    """Whether `golden_id` (live or retired: then its survivor) is visible to a caller seeing only `sources`."""
    live = resolve(conn, golden_id)
    return live is not None and bool(visible_ids(conn, [live], sources))


def survivors(conn: sa.Connection, retired_ids: Collection[str]) -> dict[str, str | None]:
    """Retired id -> its live survivor now (None: deleted), for the change feed's retirements."""
    r = id_redirects.c
    rows = conn.execute(sa.select(r.retired_id, r.surviving_id).where(r.retired_id.in_(list(set(retired_ids)))))
    return {row.retired_id: row.surviving_id for row in rows}


def visible_frame(conn: sa.Connection, frame: pd.DataFrame, sources: Collection[str]) -> pd.DataFrame:
    """The rows of a bulk frame (a `golden_id` column: every live record) whose golden record has a source record
    of one of `sources`: one read of xref's (source_system, golden_id) and a vectorized filter."""
    x = xref.c
    seen = pd.DataFrame(conn.execute(sa.select(x.golden_id).where(x.source_system.in_(list(sources)))).all(),
                        columns=["golden_id"])  # fmt: skip
    return frame[frame["golden_id"].isin(seen["golden_id"])].reset_index(drop=True)
