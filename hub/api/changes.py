"""The change feed: every new golden-record version and every retirement, in publish order, paged
with a cursor a downstream system keeps between polls.

A version is made only when a golden record's values change, so every version event carries the
fields it changed (`changed_fields`, stored by the publish in golden_history); a run that only moved
the lineage of a record (another source record supplies the same value) adds no event.

Order and cursor: an event's position is (published at, golden id, kind, version), where "published
at" is the publish time of its run (golden_history.valid_from for a new version,
id_redirects.retired_at for a retirement; one run publishes all its events at one time, in one
transaction). The cursor encodes the position of the last event returned; the next page is every
event strictly after it. Because readers never see half a run and runs publish one at a time, each
with a later time than the run before, a run published while a consumer pages sorts after anything
it has read: nothing is missed and nothing is repeated. (That holds as long as the serving-store
host's clock does not step back between two publishes.) `since` starts at a timestamp (inclusive)
instead of a cursor. The cursor is opaque text: store it as given.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from hub import access, lineage, store
from hub.api.auth import engine, require
from hub.api.errors import invalid
from hub.api.golden import to_model
from hub.api.policy import Reader
from hub.api.schemas import ChangeEvent, ChangePage, Text, UtcTime

router = APIRouter(prefix="/v1", tags=["change feed"], dependencies=[Depends(require("reader"))])


def encode(pos: store.Position) -> str:
    text = f"{pos[0].isoformat(timespec='microseconds')}|{pos[1]}|{pos[2]}|{pos[3]}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode(cursor: str) -> store.Position:
    """ValueError when `cursor` is not one this feed handed out: each part is checked as `encode` writes
    it, so a forged cursor cannot reach the store as an out-of-range value."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, gid, kind, version = text.split("|")
        pos: store.Position | None = datetime.fromisoformat(at), gid, int(kind), int(version)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        pos = None
    if (
        pos is None
        or pos[0].tzinfo
        or len(pos[1]) > 32
        or "\x00" in pos[1]
        or pos[2] not in (0, 1)
        or not 0 <= pos[3] <= store.MAX_VERSION
    ):
        raise ValueError("not a cursor of this feed: pass next_cursor exactly as it was returned")
    return pos


def _event(e: store.FeedEvent, policy: access.Policy) -> ChangeEvent:
    """One event; a version event's `row` has been through hub.access (golden records as the caller sees them)."""
    row, (at, gid, _kind, version) = e["row"], e["pos"]
    if e["event"] == "retired":
        return ChangeEvent(
            cursor=encode(e["pos"]), event="retired", at=at, golden_id=gid, version=None, run_id=row["run_id"],
            surviving_id=row["retired_into"], reason=row["reason"],
        )  # fmt: skip
    changed = [f for f in row["changed_fields"] or [] if policy.level(f) != access.HIDDEN]
    return ChangeEvent(
        cursor=encode(e["pos"]), event="version", at=at, golden_id=gid, version=version,
        changed_fields=changed if row["changed_fields"] is not None else None, run_id=row["run_id"],
        record=to_model({**row, "changed_fields": changed}, gid, policy),
    )  # fmt: skip


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """A golden_history row of the feed as a record: extra and lineage parsed, changed_fields listed."""
    parsed = {**row, "extra": json.loads(row["extra"] or "{}"), "lineage": lineage.parse(row["lineage"])}
    return {**parsed, "changed_fields": store.changed_fields(parsed)}


@router.get("/changes", summary="Golden records changed since a cursor or a time", response_model=ChangePage)
def get_changes(
    request: Request,
    caller: Reader,
    cursor: Annotated[Text | None, Query(description="next_cursor of the previous page")] = None,
    since: Annotated[
        UtcTime | None, Query(description="start at this time (inclusive; naive: UTC) instead of a cursor")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="events per page")] = 1000,
) -> ChangePage:
    """Every new version (`event: version`, with the fields it changed in `changed_fields` and the
    version's values) and every retired id (`event: retired`: merged into `surviving_id`, or deleted
    when that is null), in publish order. A version is made only when values change: a run that only
    changed which source record supplies a value (lineage) adds no event.
    Keep `next_cursor` and pass it as `cursor` next time: each event is delivered exactly once. With
    neither `cursor` nor `since` the feed starts at the first publish."""
    if cursor is not None and since is not None:
        invalid("since", "give cursor or since, not both", value=since.isoformat())
    try:
        after = decode(cursor) if cursor is not None else None
    except ValueError as exc:
        invalid("cursor", str(exc), value=cursor)
    if since is not None:
        after = (since, "", 0, 0)  # before every event at `since` (naive UTC: UtcTime)
    with engine(request).connect() as conn:
        events, more = store.changes(conn, after, limit)
        seen = caller.visible_or_retired(conn, {e["pos"][1] for e in events})
    next_cursor = encode(events[-1]["pos"]) if events else (cursor if cursor is not None else None)
    if not events and since is not None and after is not None:  # after: the position of `since`
        next_cursor = encode(after)
    # A key restricted to some sources skips the others' events; the cursor still moves past them.
    shown = [e for e in events if e["pos"][1] in seen]
    versions = [e for e in shown if e["event"] == "version"]
    for e, rec in zip(versions, caller.records([_record(e["row"]) for e in versions]), strict=True):
        e["row"] = rec
    caller.log([e["pos"][1] for e in versions])
    return ChangePage(changes=[_event(e, caller.policy) for e in shown], next_cursor=next_cursor, has_more=more)
