"""`hub subject restrict` (and `--lift`) and `hub subject rectify`, and the same under /v1/subjects.

Restriction keeps a person's records and stops processing them until lifted: their source records are recorded in
`subject_restrictions`, which clustering reads (their golden record keeps exactly these records: no match joins or
leaves it) and write-back reads (nothing is written to their rows); the golden record's values are frozen by
pinning every field to its current value, the extra attributes of hub.yaml included, as `restriction:<request>` (a
steward's own pin stays as it is). Lifting removes both; the next run processes the person again.

Rectification pins a corrected value (checked like a steward's pin) as `rectify:<request>`: it wins survivorship
like any pin, and the next pipeline run writes it back into every source that accepts the field."""

from __future__ import annotations

import math
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from hub import store, validity
from hub.config import HubConfig
from hub.encryption import scratch_duckdb
from hub.errors import HubError
from hub.model import DUCKDB_TYPES, FieldType
from hub.store import subjects as rows
from hub.store.schema import overrides_table
from hub.subjects.find import SubjectRef, find
from hub.subjects.log import logged

RESTRICTION = "restriction:"
RECTIFY = "rectify:"


class RectifyRefused(HubError):
    """The correction names no golden-record field or a value that field cannot hold."""

    exit_code = 2


def restrict(cfg: HubConfig, engine: sa.Engine, ref: SubjectRef, by: str, lift: bool = False) -> dict[str, Any]:
    """Restrict (or with `lift`, release) the subject's processing; returns request_id, golden_ids, records."""
    with logged(engine, cfg, "lift" if lift else "restrict", by) as entry, store.write_transaction(engine) as conn:
        subject = find(conn, None, ref)
        entry.subject = subject.label
        if lift:
            n = rows.lift(conn, subject.live_ids, subject.records)
            o = overrides_table.c
            pins = conn.execute(
                overrides_table.delete().where(o.golden_id.in_(subject.golden_ids), o.pinned_by.like(f"{RESTRICTION}%"))
            ).rowcount
            entry.detail = {"records_released": n, "pins_removed": int(pins or 0)}
        else:
            frozen = 0
            for gid in subject.live_ids:
                members = rows.xref_records(conn, [gid])
                rows.restrict(conn, gid, members, entry.request_id)
                frozen += _freeze(conn, gid, list(cfg.attributes), entry.request_id)
            entry.detail = {"records": len(subject.records), "fields_frozen": frozen}
    return {"request_id": entry.request_id, "golden_ids": subject.live_ids, "records": subject.records} | entry.detail


def _freeze(conn: sa.Connection, golden_id: str, extras: list[str], request_id: str) -> int:
    """Pin every field a steward has not pinned to its current value, the extra attributes of hub.yaml (held in
    the record's `extra`) as well as the canonical ones; returns how many."""
    current = store.golden_by_id(conn, golden_id)
    if current is None:
        return 0
    values = {f: current[f] for f in store.ATTRIBUTES} | {a: current["extra"].get(a) for a in extras}
    pinned = set(store.overrides(conn, golden_id)["field"])
    todo = [f for f in values if f not in pinned]
    for f in todo:
        store.pin(conn, golden_id, f, values[f], f"{RESTRICTION}{request_id}")
    return len(todo)


def rectify(
    cfg: HubConfig, engine: sa.Engine, ref: SubjectRef, by: str, field: str, value: str | None, reason: str
) -> dict[str, Any]:
    """Pin the corrected `value` of `field` on the subject's golden record(s); returns request_id, golden_ids."""
    if not reason.strip():
        raise RectifyRefused("a rectification needs a reason (say why, without the person's data)")
    text = checked_value(cfg, field, value)
    with logged(engine, cfg, "rectify", by) as entry, store.write_transaction(engine) as conn:
        subject = find(conn, None, ref)
        entry.subject = subject.label
        if not subject.live_ids:
            raise RectifyRefused("the subject has no golden record yet: a correction needs one (run the pipeline)")
        for gid in subject.live_ids:
            store.pin(conn, gid, field, text, f"{RECTIFY}{entry.request_id}")
        entry.detail = {"field": field, "reason": reason.strip()[:500]}
    return {"request_id": entry.request_id, "golden_ids": subject.live_ids, "field": field}


def checked_value(cfg: HubConfig, field: str, value: str | None) -> str | None:
    """`value` as a pin stores it, if `field` is a golden-record field and the value one it may hold."""
    ftype = cfg.field_type(field)
    if ftype is None:
        raise RectifyRefused(f"{field!r} is not a golden-record field (known: {', '.join(store.ATTRIBUTES)})")
    if value is None or value == "":
        return None
    with scratch_duckdb() as db:
        cast = db.execute(f"SELECT TRY_CAST(? AS {DUCKDB_TYPES[ftype]})::VARCHAR", [value]).fetchall()[0][0]
    if cast is None:
        raise RectifyRefused(f"the value cannot be read as {ftype.value}, the type of {field}")
    typed: Any = cast
    if ftype == FieldType.DATE:
        typed = date.fromisoformat(cast)
    elif ftype == FieldType.TIMESTAMP:
        typed = datetime.fromisoformat(cast)
    elif ftype in (FieldType.INTEGER, FieldType.DOUBLE):
        typed = float(cast) if ftype == FieldType.DOUBLE else int(cast)
        if isinstance(typed, float) and not math.isfinite(typed):
            raise RectifyRefused(f"the value is not a finite number, as {field} must be")
    problem = validity.problem(field, typed)
    if problem:
        raise RectifyRefused(f"the value is {problem}, so it cannot be the {field} of a golden record")
    return typed.isoformat() if isinstance(typed, date | datetime) else cast
