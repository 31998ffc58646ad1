"""The PII read log for the privacy role: who read which golden records' PII fields, when, through which route
(hub.store.pii_reads; written by hub.api.policy)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from hub import store
from hub.api.auth import engine, require
from hub.api.schemas import PiiRead, PiiReads, Text, UtcTime

router = APIRouter(prefix="/v1/privacy", tags=["privacy"], dependencies=[Depends(require("privacy"))])


@router.get("/reads", summary="The PII read log: who read which golden records, when", response_model=PiiReads)
def get_reads(
    request: Request,
    golden_id: Annotated[Text | None, Query(max_length=32, description="reads of this golden id")] = None,
    key_id: Annotated[
        Text | None, Query(max_length=32, description="reads by this API key id ('cli': commands)")
    ] = None,
    since: Annotated[UtcTime | None, Query(description="reads at or after this time (naive: UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=store.MAX_READS_PAGE)] = 1000,
) -> PiiReads:
    """Newest first. One entry per golden record per request that returned its PII fields (in full or masked,
    as named); the log holds field names, never values. A golden id is the live id a read answered with."""
    with engine(request).connect() as conn:
        rows = store.reads(conn, golden_id, key_id, since, limit)
    return PiiReads(reads=[PiiRead(**r) for r in rows])
