"""Golden records by id (now or as of a time, a retired id answered by its survivor), their
history and source records, and the golden record of a source record."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from hub import access, store
from hub.api.auth import engine, require
from hub.api.policy import Reader, not_found
from hub.api.schemas import GoldenRecord, History, Problem, Sources, Text, UtcTime

router = APIRouter(prefix="/v1", tags=["golden records"], dependencies=[Depends(require("reader"))])
GoldenId = Annotated[Text, Path(max_length=32, examples=["G00000042"], description="a golden id, live or retired")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Problem, "description": "unknown id"}}
_GONE: dict[int | str, dict[str, Any]] = {
    410: {"model": Problem, "description": "retired with no survivor: all its source records are gone"}
}


def to_model(
    rec: dict[str, Any], asked: str, policy: access.Policy, redirect: dict[str, Any] | None = None
) -> GoldenRecord:
    """The API form of a store record (store.golden_by_id, store.history) as `policy` shows it; pass records through
    hub.access.enforce_records first (a page of them at once)."""
    return GoldenRecord(
        requested_id=asked,
        golden_id=rec["golden_id"],
        redirected=rec["golden_id"] != asked,
        redirect=redirect if rec["golden_id"] != asked else None,
        version=rec["version"],
        attributes={name: rec[name] for name in store.ATTRIBUTES},
        extra=rec["extra"],
        lineage=rec["lineage"],
        record_count=rec.get("record_count"),
        created_at=rec.get("created_at"),
        updated_at=rec.get("updated_at"),
        valid_from=rec.get("valid_from"),
        valid_to=rec.get("valid_to"),
        changed_fields=rec.get("changed_fields"),
        run_id=rec["run_id"],
        masked_fields=policy.fields_at(access.MASKED),
        hidden_fields=policy.fields_at(access.HIDDEN),
    )


def _missing(conn: sa.Connection, golden_id: str, as_of: datetime | None = None) -> HTTPException:
    red = store.redirect(conn, golden_id)
    if red and red["surviving_id"] is None and as_of is None:
        when = red["retired_at"].isoformat(timespec="seconds")
        return HTTPException(
            410, f"golden record {golden_id!r} was retired on {when} ({red['reason']}): its source records are gone"
        )
    known = red or store.ever_published(conn, golden_id)
    if known and as_of is not None:
        return HTTPException(404, f"golden record {golden_id!r} had no version at {as_of.isoformat()}")
    return HTTPException(404, f"no golden record {golden_id!r}")


@router.get(
    "/golden/{golden_id}",
    summary="A golden record by id, now or as of a time",
    response_model=GoldenRecord,
    responses={**_NOT_FOUND, **_GONE},
)
def get_golden(
    request: Request,
    caller: Reader,
    golden_id: GoldenId,
    as_of: Annotated[
        UtcTime | None,
        Query(description="ISO timestamp (naive: UTC): the version valid then", examples=["2026-01-01T00:00:00Z"]),
    ] = None,
) -> GoldenRecord:
    """A retired (merged) id answers with its survivor: `redirected` is true, `requested_id` is the id
    asked for, `golden_id` the survivor, `redirect` says why and when. With `as_of`, the version valid
    at that time (following a redirect only if the id was already retired then)."""
    with engine(request).connect() as conn:
        if not caller.sees(conn, golden_id):
            raise not_found(golden_id)
        rec = store.golden_by_id(conn, golden_id, as_of=as_of)
        if rec is None:
            raise _missing(conn, golden_id, as_of)
        red = store.redirect(conn, golden_id) if rec["golden_id"] != golden_id else None
    caller.log([rec["golden_id"]])
    return to_model(caller.records([rec])[0], golden_id, caller.policy, red)


@router.get(
    "/golden/{golden_id}/history",
    summary="Every version of a golden id",
    response_model=History,
    responses=_NOT_FOUND,
)
def get_history(request: Request, caller: Reader, golden_id: GoldenId) -> History:
    """The versions of this id itself, oldest first, each with the fields it changed (`changed_fields`). A
    version is made only when a value changed; a change of lineage alone updates the current version.
    A retired id keeps its history; its survivor's versions are under the survivor's id."""
    with engine(request).connect() as conn:
        versions = store.history(conn, golden_id) if caller.sees(conn, golden_id) else []
        if not versions:
            raise HTTPException(404, f"no golden record {golden_id!r}")
    caller.log([golden_id])
    versions = caller.records(versions)
    return History(golden_id=golden_id, versions=[to_model(v, golden_id, caller.policy) for v in versions])


@router.get(
    "/golden/{golden_id}/sources",
    summary="The source records of a golden record",
    response_model=Sources,
    responses={**_NOT_FOUND, **_GONE},
)
def get_sources(request: Request, caller: Reader, golden_id: GoldenId) -> Sources:
    """The xref rows: which source records (system + key) make up the golden record, with their match
    probability and how they were linked. A retired id answers with its survivor's. A key that sees only some
    sources' customers (hub.yaml access:) gets only those sources' rows."""
    with engine(request).connect() as conn:
        if not caller.sees(conn, golden_id):
            raise not_found(golden_id)
        live = store.resolve(conn, golden_id)
        if live is None:
            raise _missing(conn, golden_id)
        links = [x for x in store.source_records(conn, live) if caller.policy.allows_source(x["source_system"])]
    return Sources(requested_id=golden_id, golden_id=live, redirected=live != golden_id, sources=links)


@router.get(
    "/sources/{source_system}/{source_key}",
    summary="The golden record holding a source record",
    response_model=GoldenRecord,
    responses=_NOT_FOUND,
)
def get_by_source_key(
    request: Request,
    caller: Reader,
    source_system: Annotated[Text, Path(max_length=64, examples=["crm"])],
    source_key: Annotated[Text, Path(max_length=255, examples=["100003"])],
) -> GoldenRecord:
    systems = list(request.app.state.config.sources)
    if source_system not in systems:
        raise HTTPException(404, f"no source system {source_system!r} (configured: {', '.join(systems)})")
    with engine(request).connect() as conn:
        allowed = caller.policy.allows_source(source_system)
        rec = store.golden_by_source_key(conn, source_system, source_key) if allowed else None
    if rec is None:
        raise HTTPException(404, f"no source record {source_key!r} of {source_system!r} in the serving store")
    caller.log([rec["golden_id"]])
    return to_model(caller.records([rec])[0], rec["golden_id"], caller.policy)
