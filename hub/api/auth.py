"""Request authentication: `Authorization: Bearer <key>` or `X-API-Key: <key>`, checked against the
hashed keys in the serving store (hub.api.keys). No, unknown or revoked key -> 401 with
WWW-Authenticate; a key whose role is too low -> 403; too many failed checks from the client's address
or for the key id (hub.api.throttle) -> 429 with Retry-After."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from hub.api.keys import ApiKey, authenticate, role_allows
from hub.api.throttle import Throttle, subjects

_bearer = HTTPBearer(auto_error=False, description="an API key from `hub apikey create`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="the same key, in this header instead")
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="hub"'}


def engine(request: Request) -> sa.Engine:
    return request.app.state.engine


def throttled(request: Request, raw_key: str | None) -> tuple[list[str], int | None]:
    """What a failed check of `raw_key` from this client counts against, and the seconds it must wait
    before trying again (None: it may try now)."""
    throttle: Throttle = request.app.state.throttle
    who = subjects(request.client.host if request.client else None, raw_key)
    return who, throttle.retry_after(who)


def too_many(wait: int) -> HTTPException:
    return HTTPException(
        429, f"too many failed attempts from this address or with this key id: retry in {wait} s",
        headers={"Retry-After": str(wait)},
    )  # fmt: skip


def current_key(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    header: Annotated[str | None, Security(_header)],
) -> ApiKey:
    raw = bearer.credentials if bearer else header
    if not raw:
        raise HTTPException(401, "an API key is required: send 'Authorization: Bearer <key>'", headers=_CHALLENGE)
    who, wait = throttled(request, raw)
    if wait:
        raise too_many(wait)
    with engine(request).connect() as conn:
        key = authenticate(conn, raw)
    if key is None:
        request.app.state.throttle.failed(who)
        raise HTTPException(401, "the API key is not valid (unknown, mistyped or revoked)", headers=_CHALLENGE)
    return key


@functools.cache
def require(role: str) -> Callable[..., ApiKey]:
    """A dependency that lets keys of `role` (or a higher one) through. One per role, so FastAPI checks a key
    once per request however many dependencies of a route ask for it."""

    def check(key: Annotated[ApiKey, Depends(current_key)]) -> ApiKey:
        if not role_allows(key.role, role):
            raise HTTPException(403, f"this needs the {role} role; key {key.key_id!r} is a {key.role} key")
        return key

    return check
