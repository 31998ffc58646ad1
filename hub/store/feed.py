"""The change feed's read: new golden-record versions and retirements in publish order, after a position.

An event's position is (published at, golden id, kind, version): "published at" is golden_history.valid_from
for a new version and id_redirects.retired_at for a retirement; kind 0 is a version, 1 a retirement (which
sorts after the versions of its id and time). hub.api.changes turns positions into cursors.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import Any, Literal, TypedDict

import sqlalchemy as sa

from hub.store.schema import GOLDEN_ID, golden_history, id_redirects

Position = tuple[datetime, str, int, int]  # published at, golden id, kind (0 version, 1 retired), version
MAX_VERSION = 2**31 - 1  # above every version number


class FeedEvent(TypedDict):
    """One event of the feed: its position, its kind and its golden_history or id_redirects row."""

    pos: Position
    event: Literal["version", "retired"]
    row: dict[str, Any]


def _key(*values: Any) -> sa.Tuple:
    """A row value of bound parameters typed like the index columns (time, id[, version])."""
    types: tuple[sa.types.TypeEngine[Any], ...] = (sa.DateTime(), GOLDEN_ID, sa.Integer())
    return sa.tuple_(*(sa.bindparam(None, v, type_=t) for v, t in zip(values, types, strict=False)))


def changes(conn: sa.Connection, after: Position | None, limit: int) -> tuple[list[FeedEvent], bool]:
    """Up to `limit` events after `after` (None: from the first), oldest first; and whether more follow.
    Each side is one row-value range on its index (ix_golden_history_valid_from,
    ix_id_redirects_retired_at), so a page deep into a million-record run costs what the first does."""
    h, r = golden_history.c, id_redirects.c
    q_versions = sa.select(golden_history).order_by(h.valid_from, h.golden_id, h.version)
    q_retired = sa.select(id_redirects).order_by(r.retired_at, r.retired_id)
    if after is not None:
        at, gid, kind, version = after
        # After a version event: the later versions and every retirement from (at, gid) on. After a
        # retirement (kind 1, which sorts after the versions of its id and time): strictly after (at, gid).
        q_versions = q_versions.where(
            sa.tuple_(h.valid_from, h.golden_id, h.version) > _key(at, gid, version if kind == 0 else MAX_VERSION)
        )
        retired_key = sa.tuple_(r.retired_at, r.retired_id)
        q_retired = q_retired.where(retired_key >= _key(at, gid) if kind == 0 else retired_key > _key(at, gid))
    versions = conn.execute(q_versions.limit(limit + 1)).mappings()
    retired = conn.execute(q_retired.limit(limit + 1)).mappings()
    events = heapq.merge(
        (
            FeedEvent(pos=(v["valid_from"], v["golden_id"], 0, v["version"]), event="version", row=dict(v))
            for v in versions
        ),
        (FeedEvent(pos=(x["retired_at"], x["retired_id"], 1, 0), event="retired", row=dict(x)) for x in retired),
        key=lambda e: e["pos"],
    )
    out = [e for _, e in zip(range(limit + 1), events, strict=False)]
    return out[:limit], len(out) > limit
