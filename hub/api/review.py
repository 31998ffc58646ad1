"""Steward review: the review queue the pipeline publishes (list, pair view), match decisions, and
pins. Reads need the reader role, every write the steward role; each write is stored with the API
key's name and the time. A decided pair leaves the queue at once; decisions and pins reach golden
records through hub.api.apply (at once under `hub serve`, else on the next pipeline run)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import date, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from hub import access, catalogue, store, validity
from hub.api.apply import after_change
from hub.api.auth import engine, require
from hub.api.errors import invalid
from hub.api.keys import ApiKey
from hub.api.policy import Reader as Viewer
from hub.api.schemas import (
    MAX_PAGE,
    Decision,
    DecisionIn,
    DecisionOut,
    Decisions,
    MergeIn,
    Pin,
    PinIn,
    Problem,
    ReviewItem,
    ReviewPage,
    ReviewPair,
    SplitIn,
    Text,
)
from hub.config import HubConfig
from hub.encryption import scratch_duckdb
from hub.model import DUCKDB_TYPES, FieldType

router = APIRouter(prefix="/v1", tags=["steward review"])
Reader = Annotated[ApiKey, Depends(require("reader"))]
Steward = Annotated[ApiKey, Depends(require("steward"))]
RecordId = Annotated[Text, Path(max_length=320, examples=["crm:0035g00001slfjeAAA"])]
GoldenId = Annotated[Text, Path(max_length=32, examples=["G00000042"])]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "unknown id or pair"}}
SORTS = {"probability_desc": "desc", "probability_asc": "asc"}


def _item(row: Any, policy: access.Policy) -> ReviewItem:
    """A queue row as `policy` shows it: the explanation without the comparisons of fields it hides."""
    return ReviewItem(
        id_l=row.id_l,
        id_r=row.id_r,
        source_system_l=row.source_system_l,
        source_system_r=row.source_system_r,
        golden_id_l=row.golden_id_l,
        golden_id_r=row.golden_id_r,
        same_golden=row.golden_id_l is not None and row.golden_id_l == row.golden_id_r,
        match_probability=row.match_probability,
        match_weight=row.match_weight,
        explanation=access.explanation(policy, json.loads(row.explanation) if row.explanation else {}),
    )


@router.get("/review", summary="The review queue: uncertain pairs nobody decided yet", response_model=ReviewPage)
def list_queue(
    request: Request,
    caller: Viewer,
    min_probability: Annotated[float, Query(ge=0, le=1)] = 0.0,
    max_probability: Annotated[float, Query(ge=0, le=1)] = 1.0,
    source: Annotated[Text | None, Query(max_length=64, description="pairs with a record of this source")] = None,
    sort: Annotated[Literal["probability_desc", "probability_asc"], Query()] = "probability_desc",
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 20,
) -> ReviewPage:
    """Pairs in the review band of the last published run, less those decided since. Ties in
    probability are ordered by the pair's ids, so pages are stable. A key that sees only some sources' customers
    (hub.yaml access:) sees only pairs of two records of those sources."""
    if min_probability > max_probability:
        invalid("min_probability", f"must not exceed max_probability ({max_probability})", value=min_probability)
    with engine(request).connect() as conn:
        total, rows = store.review_page(
            conn, min_probability, max_probability, source, SORTS[sort] == "desc", page_size, (page - 1) * page_size,
            caller.policy.sources,
        )  # fmt: skip
    return ReviewPage(total=total, page=page, page_size=page_size, results=[_item(r, caller.policy) for r in rows])


@router.get(
    "/review/{id_l}/{id_r}",
    summary="A pair: both records side by side, the match-weight explanation, its decisions",
    response_model=ReviewPair,
    responses=_NOT_FOUND,
)
def get_pair(request: Request, caller: Viewer, id_l: RecordId, id_r: RecordId) -> ReviewPair:
    """The two records' canonical values as they were when the queue was published, as the key's access policy
    shows them (hub.yaml access:: hidden fields left out). The ids may be given in either order. A decided pair
    answers with `queued: false` and its decisions."""
    id_l, id_r = sorted((id_l, id_r))
    systems = [i.partition(catalogue.SEPARATOR)[0] for i in (id_l, id_r)]
    with engine(request).connect() as conn:
        row = store.queued_pair(conn, id_l, id_r)
        history = store.decision_history(conn, id_l, id_r)
    if (row is None and not history) or not all(caller.policy.allows_source(s) for s in systems):
        raise HTTPException(404, f"the pair {id_l!r} / {id_r!r} is neither in the review queue nor decided")
    records = [json.loads(r) if r else None for r in ((row.record_l, row.record_r) if row else (None, None))]
    caller.records([r for r in records if r is not None], drop_hidden=True)
    if row is not None:
        caller.log([row.golden_id_l, row.golden_id_r])
    return ReviewPair(
        id_l=id_l,
        id_r=id_r,
        queued=row is not None,
        item=_item(row, caller.policy) if row else None,
        record_l=records[0],
        record_r=records[1],
        decisions=[Decision(**d) for d in history],
    )


@router.post(
    "/review/decision",
    summary="Decide a pair: match, not_match or skip",
    response_model=DecisionOut,
    responses={**_NOT_FOUND, 409: {"model": Problem, "description": "contradicts the current decisions"}},
)
def decide(request: Request, key: Steward, body: DecisionIn) -> DecisionOut:
    """`match` / `not_match` is stored with the key's name and the time, replaces the pair's earlier
    decision (kept in its history) and takes the pair out of the queue; golden records follow when it
    is applied (`applies`: now under hub serve, else the next run), and no later run undoes it.
    `skip` stores nothing and leaves the pair queued. Both records must be published source records
    ('source_system:source_key')."""
    if body.id_l == body.id_r:
        invalid("id_r", "must be a different record from id_l", "body", body.id_r)
    with store.write_transaction(engine(request)) as conn:
        for name in ("id_l", "id_r"):
            try:
                store.check_records(conn, getattr(body, name))
            except ValueError as exc:
                invalid(name, str(exc), "body", getattr(body, name))
        if body.decision == "skip":
            return DecisionOut(recorded=False, decision="skip", current=None, queue_size=store.queue_size(conn))
        try:
            row = store.decide(conn, body.id_l, body.id_r, body.decision, key.name, body.note)
        except store.ConflictingDecision as exc:
            raise HTTPException(409, str(exc)) from exc
        out = DecisionOut(
            recorded=True, decision=body.decision, current=Decision(**row), queue_size=store.queue_size(conn)
        )
    out.applies = after_change(request)
    return out


def pin_text(cfg: HubConfig, field: str, value: Any) -> str | None:
    """The pin value as the store keeps it (text), checked the way survivorship will read it and the golden
    gate will judge it: the field must be an attribute (canonical or an extra of hub.yaml), the value must
    cast to its type and be a valid value of the field (hub.validity), so an accepted pin never stops a
    run. Refuses with a 422 naming `field` or `value`."""
    ftype = cfg.field_type(field)
    if ftype is None:
        known = sorted({*store.ATTRIBUTES, *cfg.attributes})
        invalid("field", f"{field!r} is not a golden-record field (known: {', '.join(known)})", "body", field)
    if value is None:
        return None
    text = str(value).lower() if isinstance(value, bool) else str(value)
    typed = _typed(ftype, text)
    if typed is None:
        sql_type = DUCKDB_TYPES[ftype]
        invalid("value", f"{text!r} cannot be read as {ftype.value} ({sql_type}), the type of {field}", "body", value)
    reason = validity.problem(field, typed)
    if reason:
        invalid("value", f"{text!r} is {reason}, so it cannot be the {field} of a golden record", "body", value)
    return typed.isoformat() if isinstance(typed, date | datetime) else text


def _typed(ftype: FieldType, text: str) -> Any:
    """`text` read as survivorship reads a pin (DuckDB's cast) and then as the store and the API hold it
    (Python): None when either cannot, e.g. a date in year 99999 or a number that is not finite."""
    with scratch_duckdb() as db:
        cast = db.execute(f"SELECT TRY_CAST(? AS {DUCKDB_TYPES[ftype]})::VARCHAR", [text]).fetchall()[0][0]
    readers: dict[FieldType, Callable[[str], Any]]
    readers = {FieldType.DATE: date.fromisoformat, FieldType.TIMESTAMP: datetime.fromisoformat,
               FieldType.INTEGER: int, FieldType.DOUBLE: float, FieldType.BOOLEAN: lambda b: b == "true"}  # fmt: skip
    if cast is None or ftype == FieldType.STRING:
        return cast
    try:
        typed = readers[ftype](cast)
    except ValueError:
        return None
    return None if isinstance(typed, float) and not math.isfinite(typed) else typed


@router.post(
    "/golden/{golden_id}/pin",
    summary="Pin a field of a golden record to a value",
    response_model=Pin,
    responses=_NOT_FOUND,
)
def pin(request: Request, key: Steward, golden_id: GoldenId, body: PinIn) -> Pin:
    """The pinned value wins survivorship, once applied (`applies`), until it is unpinned (a retired id pins
    its survivor; a pin follows later merges)."""
    text = pin_text(request.app.state.config, body.field, body.value)
    with store.write_transaction(engine(request)) as conn:
        try:
            live = store.pin(conn, golden_id, body.field, text, key.name)
        except KeyError as exc:
            raise HTTPException(404, f"no live golden record {golden_id!r}") from exc
        row = store.pinned(conn, live, body.field)
    assert row is not None  # pinned just above, in this transaction
    return Pin(requested_id=golden_id, golden_id=live, field=body.field, **row, applies=after_change(request))


@router.delete(
    "/golden/{golden_id}/pin/{field}",
    summary="Unpin a field of a golden record",
    responses=_NOT_FOUND,
)
def unpin(
    request: Request, _key: Steward, golden_id: GoldenId, field: Annotated[Text, Path(max_length=64)]
) -> dict[str, Any]:
    """Survivorship decides the field again, once applied (`applies`)."""
    with store.write_transaction(engine(request)) as conn:
        done = store.unpin(conn, golden_id, field)
    if not done:
        raise HTTPException(404, f"golden record {golden_id!r} has no pin on {field!r}")
    return {"golden_id": golden_id, "field": field, "unpinned": True, "applies": after_change(request)}


_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": Problem, "description": "contradicts the current decisions"}
}


def _live(conn: sa.Connection, golden_id: str) -> str:
    live = store.resolve(conn, golden_id)
    if live is None:
        raise HTTPException(404, f"no live golden record {golden_id!r}")
    return live


def _store_decisions(conn: sa.Connection, pairs: list[tuple[str, str, str]], who: str) -> Decisions:
    try:
        rows = store.decide_many(conn, pairs, who)
    except store.ConflictingDecision as exc:
        raise HTTPException(409, str(exc)) from exc
    return Decisions(decisions=[Decision(**r) for r in rows], queue_size=store.queue_size(conn))


@router.post(
    "/golden/{golden_id}/split",
    summary="Split a source record out of a golden record",
    response_model=Decisions,
    responses={**_NOT_FOUND, **_CONFLICT},
)
def split(request: Request, key: Steward, golden_id: GoldenId, body: SplitIn) -> Decisions:
    """Stores a 'not a match' between that record and every other record of the golden record (a
    retired id: of its survivor). Once applied (`applies`) the record is in a golden record of its own or
    joins another one, and no later run puts it back."""
    rid = catalogue.record_id(body.source_system, body.source_key)
    with store.write_transaction(engine(request)) as conn:
        records = store.members(conn, _live(conn, golden_id))
        if rid not in records:
            invalid("source_key", f"{rid!r} is not a record of golden record {golden_id!r}", "body", body.source_key)
        if len(records) == 1:
            invalid(
                "source_key", f"{rid!r} is the only record of {golden_id!r}: nothing to split", "body", body.source_key
            )
        out = _store_decisions(conn, [(rid, other, "not_match") for other in records if other != rid], key.name)
    out.applies = after_change(request)
    return out


@router.post(
    "/golden/merge",
    summary="Merge two golden records",
    response_model=Decisions,
    responses={**_NOT_FOUND, **_CONFLICT},
)
def merge(request: Request, key: Steward, body: MergeIn) -> Decisions:
    """Stores a 'match' between the first record (by record id) of each. Once applied (`applies`) they are
    one golden record (the id of the larger survives, the other redirects to it); 'not a match'
    decisions between their other records still hold, so those records stay apart."""
    with store.write_transaction(engine(request)) as conn:
        a, b = (_live(conn, g) for g in body.golden_ids)
        if a == b:
            invalid("golden_ids", f"{body.golden_ids} are one golden record ({a!r})", "body", body.golden_ids)
        first_a, first_b = store.members(conn, a)[0], store.members(conn, b)[0]
        out = _store_decisions(conn, [(first_a, first_b, "match")], key.name)
    out.applies = after_change(request)
    return out
