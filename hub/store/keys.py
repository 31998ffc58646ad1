"""API key rows (hub.api.keys makes and checks the keys): only a salted hash of each secret is stored."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from hub.store.clock import utc_now
from hub.store.engine import write_transaction
from hub.store.schema import api_keys


def add_api_key(engine: sa.Engine, key_id: str, name: str, role: str, salt: str, key_hash: str) -> datetime:
    """Store a new key; returns its creation time."""
    now = utc_now()
    with write_transaction(engine) as conn:
        conn.execute(
            api_keys.insert().values(key_id=key_id, name=name, role=role, salt=salt, key_hash=key_hash, created_at=now)
        )
    return now


def api_key_rows(engine: sa.Engine) -> Sequence[sa.Row[*tuple[Any, ...]]]:
    """Every key, revoked ones too, oldest first."""
    k = api_keys.c
    with engine.connect() as conn:
        return conn.execute(sa.select(api_keys).order_by(k.created_at, k.key_id)).all()


def api_key_row(conn: sa.Connection, key_id: str, live: bool = False) -> sa.Row[*tuple[Any, ...]] | None:
    """The key `key_id` (with `live`: unless it is revoked), or None."""
    k = api_keys.c
    stmt = sa.select(api_keys).where(k.key_id == key_id)
    return conn.execute(stmt.where(k.revoked_at.is_(None)) if live else stmt).first()


def revoke_api_key(engine: sa.Engine, key_id: str) -> bool:
    """Mark a key revoked (kept, refused from now on); False if there is no such key or it was revoked already."""
    k = api_keys.c
    with write_transaction(engine) as conn:
        done = conn.execute(
            api_keys.update().where(k.key_id == key_id, k.revoked_at.is_(None)).values(revoked_at=utc_now())
        )
    return done.rowcount > 0
