"""Key management over HTTP (admin keys only); the same functions as `hub apikey ...`."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Request

from hub.api import keys
from hub.api.auth import engine, require
from hub.api.errors import invalid
from hub.api.schemas import ApiKeyOut, NewApiKey, NewApiKeyIn, Text

router = APIRouter(prefix="/v1/apikeys", tags=["API keys"], dependencies=[Depends(require("admin"))])


def _out(k: keys.ApiKey) -> ApiKeyOut:
    return ApiKeyOut(key_id=k.key_id, name=k.name, role=k.role, created_at=k.created_at, revoked_at=k.revoked_at)


@router.get("", summary="List API keys (never the keys themselves)", response_model=list[ApiKeyOut])
def list_keys(request: Request) -> list[ApiKeyOut]:
    return [_out(k) for k in keys.list_keys(engine(request))]


@router.post("", summary="Create an API key (shown once)", response_model=NewApiKey, status_code=201)
def create_key(request: Request, body: NewApiKeyIn) -> NewApiKey:
    try:
        key, raw = keys.create_key(engine(request), body.name, body.role)
    except ValueError as exc:  # a name of blanks only
        invalid("name", str(exc), "body", body.name)
    return NewApiKey(**_out(key).model_dump(), key=raw)


@router.delete("/{key_id}", summary="Revoke an API key", response_model=ApiKeyOut)
def revoke_key(request: Request, key_id: Annotated[Text, Path(max_length=32)]) -> ApiKeyOut:
    if not keys.revoke_key(engine(request), key_id):
        raise HTTPException(404, f"no live API key {key_id!r}")
    return next(_out(k) for k in keys.list_keys(engine(request)) if k.key_id == key_id)
