"""The consent in force, kept beside the append-only `consent_events` log in the same transaction as every write of
it: `consent_state` (migration 0011) holds, per holder x channel x purpose, the one event in force. A run reads
one row per source record and channel from it instead of every event ever stored, and a publish writes in
proportion to what changed.

A holder is a source record for a source's events (source = its system, holder = its key) and a golden record for
the choices made through the hub (source `api` or `steward`, holder = the golden id it was recorded on). The event
in force, by kind (`KINDS`):
1. a source record's: the last one the hub stored (created_at, then the higher event id): what it last saw the
   source say, `unknown` included;
2. a choice made through the hub: the most recent explicit one (recorded_at; at the same time `denied`; then the
   lower event id): `unknown` is history, never in force;
3. the do-not-contact flag (channel and purpose `all`): the most recent (recorded_at, then created_at, then the
   lower event id), set or lifted.
So the state is the fold of the log by these rules (tests/test_consent_state.py checks it against one computed from
the log). Each order is total, so the best of each golden id's best is the best of all its events: readers that
merge golden ids by their redirects rank the state rows of the ids merged into one in the same order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.model import Consent
from hub.store.bulk import stage_frame
from hub.store.schema import consent_events, consent_state

HUB_SOURCES = ("api", "steward")  # choices people record through the hub (REST API, steward UI)
ALL = "all"  # channel and purpose of the do-not-contact events
EXPLICIT = (Consent.GRANTED.value, Consent.DENIED.value)
KEY = ("source", "holder", "channel", "purpose")
EVENT_PART = ("event_id", "golden_id", "value", "recorded_at", "recorded_by", "created_at")

Cols = Any  # the columns of a set of events, or of consent_state: .source, .channel, .value, ... (sa column sets)


def denied(c: Cols) -> sa.ColumnElement[int]:
    return sa.case((c.value == Consent.DENIED.value, 1), else_=0)


@dataclass(frozen=True)
class Kind:
    """One kind of holder: which events are its, whose they are, the order whose first event is in force, and when
    a `new` event (row) takes over from the `old` one in force."""

    name: str
    events: Callable[[Cols], sa.ColumnElement[bool]]
    holder: Callable[[Cols], sa.ColumnElement[Any]]
    order: Callable[[Cols], list[Any]]
    newer: Callable[[Cols, Cols], sa.ColumnElement[bool]]


KINDS = (
    Kind(
        "source record",
        lambda c: sa.and_(c.source.not_in(HUB_SOURCES), c.source_key.is_not(None)),
        lambda c: c.source_key,
        lambda c: [c.created_at.desc(), c.event_id.desc()],
        lambda new, old: sa.tuple_(new.created_at, new.event_id) > sa.tuple_(old.created_at, old.event_id),
    ),
    Kind(
        "hub choice",
        lambda c: sa.and_(c.source.in_(HUB_SOURCES), c.channel != ALL, c.value.in_(EXPLICIT)),
        lambda c: c.golden_id,
        lambda c: [c.recorded_at.desc(), denied(c).desc(), c.event_id],
        # the lower event id wins a tie: the ids swap sides
        lambda new, old: (
            sa.tuple_(new.recorded_at, denied(new), old.event_id)
            > sa.tuple_(old.recorded_at, denied(old), new.event_id)
        ),
    ),
    Kind(
        "do-not-contact",
        lambda c: sa.and_(c.source.in_(HUB_SOURCES), c.channel == ALL),
        lambda c: c.golden_id,
        lambda c: [c.recorded_at.desc(), c.created_at.desc(), c.event_id],
        lambda new, old: (
            sa.tuple_(new.recorded_at, new.created_at, old.event_id)
            > sa.tuple_(old.recorded_at, old.created_at, new.event_id)
        ),
    ),
)


def append(conn: sa.Connection, events: pd.DataFrame) -> int:
    """Store new consent events (consent_events' columns) and bring the state up to date with them, in the caller's
    transaction. Set-based: one bulk copy into a temporary table, two INSERT ... SELECT. Returns how many."""
    if events.empty:
        return 0
    staged = stage_frame(conn, "hub_stage_consent", [sa.Column(c.name, c.type) for c in consent_events.c], events)
    conn.execute(consent_events.insert().from_select(list(events.columns), sa.select(*staged.c[*events.columns])))
    merge(conn, staged)
    staged.drop(conn)
    return len(events)


def add(conn: sa.Connection, event: dict[str, Any]) -> None:
    """Store one new consent event (a choice made through the hub) and bring the state up to date with it, in the
    caller's transaction."""
    conn.execute(consent_events.insert().values(**event))
    merge(conn, sa.select(consent_events).where(consent_events.c.event_id == event["event_id"]).subquery())


def merge(conn: sa.Connection, events: sa.FromClause) -> None:
    """Bring the state up to date with `events` (rows with consent_events' columns, already in the log): per holder,
    channel and purpose the event in force among them replaces the state's when it comes first in its kind's order.
    One INSERT ... ON CONFLICT DO UPDATE per kind (SQLite and PostgreSQL).

    PostgreSQL refuses a second row for one key in one such statement, so there each key's first event is found
    first (a window over the events). SQLite applies the upsert row by row, each against the state as it stands, and
    the conflict's condition is the kind's order, so every event can go in and the state ends with the first: no
    window, whose sort of every event was most of the statement (a first publish at 1M records, 1.39M events: 12.6-13.7
    s with it, 7.4-7.6 s without)."""
    e = events.c
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    for kind in KINDS:
        holder = kind.holder(e)
        if conn.dialect.name == "sqlite":
            best = sa.select(e.source, holder.label("holder"), e.channel, e.purpose, *e[*EVENT_PART]).where(
                kind.events(e)  # a WHERE: SQLite's upsert needs it
            )
        else:
            order = kind.order(e)
            rank = sa.func.row_number().over(partition_by=[e.source, holder, e.channel, e.purpose], order_by=order)
            ranked = (
                sa.select(e.source, holder.label("holder"), e.channel, e.purpose, *e[*EVENT_PART], rank.label("rn"))
                .where(kind.events(e))
                .subquery()
            )
            best = sa.select(*ranked.c[*KEY, *EVENT_PART]).where(ranked.c.rn == 1)
        stmt = insert(consent_state).from_select([*KEY, *EVENT_PART], best)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=list(KEY),
                set_={c: stmt.excluded[c] for c in EVENT_PART},
                where=kind.newer(stmt.excluded, consent_state.c),
            )
        )


def refold(conn: sa.Connection, golden_ids: Sequence[str]) -> int:
    """After the events of these golden ids left the log (erasure): their rows leave the state, and each source
    record that had one gets back the event in force among those left. Returns the rows removed."""
    s, ids = consent_state.c, list(golden_ids)
    if not ids:
        return 0
    mine = s.golden_id.in_(ids)
    records = conn.execute(sa.select(s.source, s.holder).where(mine, s.source.not_in(HUB_SOURCES)).distinct()).all()
    gone = int(conn.execute(consent_state.delete().where(mine)).rowcount or 0)
    if records:  # a handful: one subject's records
        e = consent_events.c
        left = sa.select(consent_events).where(sa.tuple_(e.source, e.source_key).in_([tuple(r) for r in records]))
        merge(conn, left.subquery())
    return gone
