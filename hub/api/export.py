"""Bulk export over HTTP: the same hub.export.export that `hub export` runs, written to a temporary
file that is streamed back and then deleted."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse

from hub.api.auth import engine, require
from hub.api.policy import Reader
from hub.export import export

router = APIRouter(prefix="/v1", tags=["export"], dependencies=[Depends(require("reader"))])
MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


@router.get(
    "/export/{table}",
    summary="Every current golden record, or the whole xref, as CSV or Parquet",
    response_class=FileResponse,
    responses={200: {"content": {MEDIA["csv"]: {}, MEDIA["parquet"]: {}}, "description": "the file"}},
)
def get_export(
    request: Request,
    caller: Reader,
    table: Literal["golden", "xref"],
    format: Annotated[Literal["csv", "parquet"], Query(description="file format")] = "csv",
) -> FileResponse:
    """`golden`: the current golden records with extra and lineage (JSON text); `xref`: source system,
    source key -> golden id with match probability and link type. One consistent snapshot. What the key's
    access policy shows (hub.yaml access:): its sources' customers and xref rows only, masked columns masked,
    hidden columns left out."""
    tmp = Path(tempfile.mkdtemp(prefix="hub-export-"))
    out = tmp / f"{table}.{format}"
    try:
        rows = export(engine(request), table, out, format, caller.policy, caller.log)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    caller.background.add_task(shutil.rmtree, tmp, ignore_errors=True)
    return FileResponse(
        out,
        media_type=MEDIA[format],
        filename=out.name,
        headers={"X-Row-Count": str(rows)},
        background=caller.background,  # the read log's insert, then the file's removal
    )
