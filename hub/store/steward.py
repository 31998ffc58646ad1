"""What stewards decide: match / not-a-match decisions about two source records (every one kept, the current
one in force) and pinned values (a pin wins survivorship until unpinned)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from hub.catalogue import record_id, split_record_id
from hub.decisions import ConflictingDecisions, conflicts
from hub.store.bulk import read_frame
from hub.store.clock import utc_now
from hub.store.reads import resolve
from hub.store.schema import DECISIONS, id_redirects, match_decisions, overrides_table, review_queue, xref


def overrides(conn: sa.Connection, golden_id: str | None = None) -> pd.DataFrame:
    """Pinned values per live golden id (only `golden_id`'s when given): golden_id (live), pinned_on (the
    id the steward pinned, which differs after a merge), field, value, pinned_by, pinned_at. Pins of
    merged ids follow their survivor; when two collide on a field the latest pin wins."""
    o, r = overrides_table.c, id_redirects.c
    live = sa.func.coalesce(r.surviving_id, o.golden_id)
    stmt = sa.select(
        live.label("golden_id"), o.golden_id.label("pinned_on"), o.field, o.value, o.pinned_by, o.pinned_at
    ).select_from(overrides_table.outerjoin(id_redirects, r.retired_id == o.golden_id))
    if golden_id is None:
        frame = read_frame(conn, stmt)
    else:  # a handful of rows, with a parameter: not a bulk read
        rows = conn.execute(stmt.where(live == golden_id)).all()
        frame = pd.DataFrame(rows, columns=[c.name for c in stmt.selected_columns])
    frame = frame.sort_values(["pinned_at", "pinned_on"], kind="stable")
    return frame.drop_duplicates(["golden_id", "field"], keep="last").reset_index(drop=True)


def pin(conn: sa.Connection, golden_id: str, field: str, value: Any, who: str) -> str:
    """Pin `field` of a golden record (a retired id pins its survivor) to `value` (stored as text;
    dates in ISO form); it wins survivorship until unpinned. Returns the live id pinned."""
    live = resolve(conn, golden_id)
    if live is None:
        raise KeyError(f"no golden record {golden_id!r}")
    if not field.isidentifier():
        raise ValueError(f"{field!r} is not a field name")
    _delete_pins(conn, live, field)
    text = value.isoformat() if isinstance(value, date | datetime) else (None if value is None else str(value))
    conn.execute(
        overrides_table.insert().values(golden_id=live, field=field, value=text, pinned_by=who, pinned_at=utc_now())
    )
    return live


def pinned(conn: sa.Connection, golden_id: str, field: str) -> dict[str, Any] | None:
    """The pin of `field` on exactly this id (value, pinned_by, pinned_at), or None."""
    o = overrides_table.c
    stmt = sa.select(o.value, o.pinned_by, o.pinned_at).where(o.golden_id == golden_id, o.field == field)
    row = conn.execute(stmt).first()
    return row._asdict() if row else None


def unpin(conn: sa.Connection, golden_id: str, field: str) -> bool:
    """Remove the pin of `field` (also one inherited from a merged id); False if there was none."""
    live = resolve(conn, golden_id)
    return live is not None and _delete_pins(conn, live, field) > 0


def _delete_pins(conn: sa.Connection, live: str, field: str) -> int:
    o = overrides_table.c
    merged = sa.select(id_redirects.c.retired_id).where(id_redirects.c.surviving_id == live)
    done = conn.execute(
        overrides_table.delete().where(o.field == field, sa.or_(o.golden_id == live, o.golden_id.in_(merged)))
    )
    return done.rowcount


class ConflictingDecision(ConflictingDecisions):
    """The decision would make the current ones contradict each other: "match" decisions chaining
    together two records a steward marked "not a match" (clustering could honour neither). Worded for
    the steward making the decision."""

    def describe(self) -> str:
        a, b = self.pairs[0]
        return (
            f"{a!r} and {b!r} are marked 'not a match' but 'match' decisions join them: "
            "change one of those decisions first"
        )


def check_records(conn: sa.Connection, *ids: str) -> None:
    """ValueError naming the first record id that is not in the xref (published source records)."""
    c = xref.c
    for rid in ids:
        system, key = split_record_id(rid)
        if conn.scalar(sa.select(c.golden_id).where(c.source_system == system, c.source_key == key)) is None:
            raise ValueError(f"no source record {rid!r} in the serving store (ids are 'source_system:source_key')")


def decide(
    conn: sa.Connection, id_l: str, id_r: str, decision: str, who: str, note: str | None = None
) -> dict[str, Any]:
    """Record a steward's decision about two source records ('match' | 'not_match'). It replaces the
    pair's current decision (which is kept, with superseded_at set) and takes the pair out of the
    review queue. Both ids must be in the xref; a decision contradicting the current ones (match
    decisions joining a not-a-match pair) raises ConflictingDecision. Call inside write_transaction."""
    return decide_many(conn, [(id_l, id_r, decision)], who, note)[0]


def decide_many(
    conn: sa.Connection, pairs: Sequence[tuple[str, str, str]], who: str, note: str | None = None
) -> list[dict[str, Any]]:
    """Several decisions (id_l, id_r, decision) as one: checked together against the current ones,
    so a split that replaces a 'match' by 'not a match' is not refused halfway. See decide."""
    batch: dict[tuple[str, str], str] = {}
    for a, b, decision in pairs:
        if decision not in DECISIONS:
            raise ValueError(f"decision {decision!r} is not one of {DECISIONS}")
        if a == b:
            raise ValueError(f"a decision needs two different records, got {a!r} twice")
        batch[tuple(sorted((a, b)))] = decision  # type: ignore[index]
    check_records(conn, *dict.fromkeys(i for pair in batch for i in pair))
    d = match_decisions.c
    current = conn.execute(sa.select(d.id_l, d.id_r, d.decision).where(d.superseded_at.is_(None))).all()
    kept = [(a, b, k) for a, b, k in current if (a, b) not in batch]
    _check_consistent([*kept, *((a, b, k) for (a, b), k in batch.items())])
    now, q, rows = utc_now(), review_queue.c, []
    for (id_l, id_r), decision in batch.items():
        pair = sa.and_(d.id_l == id_l, d.id_r == id_r, d.superseded_at.is_(None))
        conn.execute(match_decisions.update().where(pair).values(superseded_at=now))
        row = {
            "decision_id": uuid.uuid4().hex,
            "id_l": id_l,
            "id_r": id_r,
            "decision": decision,
            "decided_by": who,
            "decided_at": now,
            "note": note,
            "superseded_at": None,
        }
        conn.execute(match_decisions.insert().values(**row))
        conn.execute(review_queue.delete().where(q.id_l == id_l, q.id_r == id_r))
        rows.append(row)
    return rows


def members(conn: sa.Connection, golden_id: str) -> list[str]:
    """The record ids ('source_system:source_key') of a live golden record, sorted."""
    c = xref.c
    rows = conn.execute(sa.select(c.source_system, c.source_key).where(c.golden_id == golden_id)).all()
    return sorted(record_id(s, k) for s, k in rows)


def _check_consistent(rows: Sequence[tuple[str, str, str]]) -> None:
    pairs, chains = conflicts(
        [(a, b) for a, b, kind in rows if kind == "match"], [(a, b) for a, b, kind in rows if kind == "not_match"]
    )
    if pairs:
        raise ConflictingDecision(pairs, chains)


def decisions(conn: sa.Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current decisions as (must_link, cannot_link) frames of id_l, id_r, for clustering."""
    d = match_decisions.c
    rows = conn.execute(sa.select(d.id_l, d.id_r, d.decision).where(d.superseded_at.is_(None))).all()
    frame = pd.DataFrame(rows, columns=["id_l", "id_r", "decision"]).astype("string")

    def pairs(kind: str) -> pd.DataFrame:
        return frame.loc[frame["decision"] == kind, ["id_l", "id_r"]].reset_index(drop=True)

    return pairs("match"), pairs("not_match")


def decisions_since(conn: sa.Connection, records: Sequence[str], since: datetime | None) -> list[dict[str, Any]]:
    """Current decisions touching `records` made after `since` (None: all): those no published run has
    applied yet."""
    d = match_decisions.c
    stmt = sa.select(match_decisions).where(sa.or_(d.id_l.in_(records), d.id_r.in_(records)), d.superseded_at.is_(None))
    if since is not None:
        stmt = stmt.where(d.decided_at > since)
    return [dict(r) for r in conn.execute(stmt.order_by(d.decided_at, d.decision_id)).mappings()]


def decision_history(conn: sa.Connection, id_l: str, id_r: str) -> list[dict[str, Any]]:
    """Every decision about the pair, oldest first (the current one has superseded_at None)."""
    id_l, id_r = sorted((id_l, id_r))
    d = match_decisions.c
    stmt = sa.select(match_decisions).where(d.id_l == id_l, d.id_r == id_r).order_by(d.decided_at, d.decision_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]
