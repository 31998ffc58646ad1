"""Error bodies: every 422 names the field(s) at fault in `message` as well as in FastAPI's `detail`
list, whether pydantic found the problem or an endpoint did (`invalid`)."""

from __future__ import annotations

from typing import Any, NoReturn

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
