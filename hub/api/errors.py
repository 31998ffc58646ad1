"""Error bodies: every 422 names the field(s) at fault in `message` as well as in FastAPI's `detail`
list, whether pydantic found the problem or an endpoint did (`invalid`). A SQLite serving store still
locked by another writer after its busy timeout is a 503 with Retry-After (`store_busy`), not a 500."""

from __future__ import annotations

from typing import Any, NoReturn

import sqlalchemy as sa
from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


def invalid(field: str, message: str, where: str = "query", value: Any = None) -> NoReturn:
    """Refuse the request with a 422 naming `field`."""
    raise RequestValidationError([{"type": "value_error", "loc": (where, field), "msg": message, "input": value}])


def _field(loc: tuple[Any, ...]) -> str:
    where = len(loc) > 1 and loc[0] in ("query", "path", "body", "header")
    parts = [str(p) for p in (loc[1:] if where else loc)]
    return ".".join(parts) or "request"


async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    message = "; ".join(f"{_field(tuple(e.get('loc', ())))}: {e.get('msg', 'invalid')}" for e in errors)
    body = {"message": message, "detail": [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in errors]}
    return JSONResponse(status_code=422, content=jsonable_encoder(body))


RETRY_AFTER_SECONDS = 5
_BUSY = ("database is locked", "database is busy", "database table is locked")


async def store_busy(request: Request, exc: sa.exc.OperationalError) -> JSONResponse:
    """503 + Retry-After when SQLite gave up waiting for another writer (busy timeout, hub.store); any
    other operational error is not the client's to retry and stays a server error."""
    if not any(text in str(exc.orig) for text in _BUSY):
        raise exc
    detail = "the serving store is busy with another writer (a pipeline publish?): retry in a few seconds"
    return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
