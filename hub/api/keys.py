"""API keys: created, listed and revoked by `hub apikey ...` (and the admin endpoints); checked on
every request.

A key reads `hub_<key_id>_<secret>`. The key id is public (it names the key in listings and
revocations); the secret is `secrets.token_urlsafe(32)` and is shown once, at creation. The store
keeps only a per-key random salt and sha256(salt + secret); a presented key is looked up by its id
and its hash compared in constant time (hmac.compare_digest). A revoked key stays listed, refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub import store

ROLES = ("reader", "steward", "privacy", "admin")  # each role may do everything the roles before it may
_KEY = re.compile(r"^hub_([0-9a-f]{12})_([A-Za-z0-9_-]{20,})$")


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None


def _hash(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}{secret}".encode()).hexdigest()


def _key(row: Any) -> ApiKey:
    return ApiKey(row.key_id, row.name, row.role, row.created_at, row.revoked_at)


def role_allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


def create_key(engine: sa.Engine, name: str, role: str) -> tuple[ApiKey, str]:
    """A new key; returns it and the raw key text, which is not stored and cannot be shown again."""
    if role not in ROLES:
        raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
    if not name.strip():
        raise ValueError("a key needs a name (who or what uses it)")
    key_id, secret, salt = secrets.token_hex(6), secrets.token_urlsafe(32), secrets.token_hex(16)
    created_at = store.add_api_key(engine, key_id, name.strip(), role, salt, _hash(salt, secret))
    return ApiKey(key_id, name.strip(), role, created_at, None), f"hub_{key_id}_{secret}"


def list_keys(engine: sa.Engine) -> list[ApiKey]:
    return [_key(r) for r in store.api_key_rows(engine)]


def revoke_key(engine: sa.Engine, key_id: str) -> bool:
    """Revoke a key (kept, refused from now on); False if there is no such key or it was revoked already."""
    return store.revoke_api_key(engine, key_id)


def live_key(conn: sa.Connection, key_id: str) -> ApiKey | None:
    """The key `key_id` unless it is unknown or revoked (a web UI session checks its key on every request)."""
    row = store.api_key_row(conn, key_id, live=True)
    return _key(row) if row else None


def authenticate(conn: sa.Connection, raw: str) -> ApiKey | None:
    """The live key `raw` is, or None (malformed, unknown, wrong secret, revoked)."""
    m = _KEY.match(raw.strip())
    if not m:
        return None
    key_id, secret = m.groups()
    row = store.api_key_row(conn, key_id)
    if row is None:
        _hash("0" * 32, secret)  # same work as a known id, so timing does not tell ids apart
        return None
    if not hmac.compare_digest(_hash(row.salt, secret), row.key_hash) or row.revoked_at is not None:
        return None
    return _key(row)
