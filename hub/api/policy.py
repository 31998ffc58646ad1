"""Field-level access in the API and the web UI: the caller's policy (hub.access) and its PII read log.

Every route that returns customer data takes a Caller (a dependency: the API key, its policy from hub.yaml's
`access:` block, and the request's background tasks) and passes what it returns through hub.access before
answering. `Caller.log` records the golden records whose PII fields it returned (hub.store.pii_reads): one
insert per request, run after the response is sent so a read never waits for a publish's write lock.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import BackgroundTasks, Depends, HTTPException, Request

from hub import access, store
from hub.api.auth import require
from hub.api.keys import ApiKey

log = logging.getLogger(__name__)


@dataclass
class Caller:
    key: ApiKey
    policy: access.Policy
    engine: sa.Engine
    route: str
    background: BackgroundTasks
    log_reads: bool = True

    def sees(self, conn: sa.Connection, golden_id: str) -> bool:
        """Whether the golden record (live or retired: its survivor) is one this caller may see."""
        return self.policy.sources is None or store.visible_id(conn, golden_id, self.policy.sources)

    def visible(self, conn: sa.Connection, golden_ids: Iterable[str | None]) -> set[str]:
        """Those of `golden_ids` (live ids) this caller may see: one query, none without a source restriction."""
        ids = {g for g in golden_ids if g is not None}
        return ids if self.policy.sources is None else store.visible_ids(conn, ids, self.policy.sources)

    def visible_or_retired(self, conn: sa.Connection, golden_ids: Iterable[str]) -> set[str]:
        """The same for ids that may be retired since (the change feed): a retired id by its survivor now."""
        ids = set(golden_ids)
        if self.policy.sources is None:
            return ids
        seen = self.visible(conn, ids)
        moved = {g: s for g, s in store.survivors(conn, ids - seen).items() if s is not None}
        alive = self.visible(conn, moved.values())
        return seen | {g for g, s in moved.items() if s in alive}

    def records(self, records: list[dict[str, Any]], drop_hidden: bool = False) -> list[dict[str, Any]]:
        return access.enforce_records(records, self.policy, drop_hidden)

    def log(self, golden_ids: Collection[str | None]) -> None:
        """Record, after the response, that this request returned the PII fields the policy shows of these."""
        ids = [g for g in golden_ids if g is not None]
        full, masked = self.policy.pii_read()
        if ids and (full or masked) and self.log_reads:
            self.background.add_task(_write, self.engine, self.key.key_id, self.route, ids, full, masked)


def _write(engine: sa.Engine, key_id: str, route: str, ids: list[str], full: list[str], masked: list[str]) -> None:
    try:
        store.record_reads(engine, key_id, route, ids, full, masked)
    except sa.exc.SQLAlchemyError as exc:  # the response is gone: say so in the server log, without values
        log.error("PII read log: %d read(s) by key %s on %s not recorded: %s", len(ids), key_id, route, type(exc))


def route_of(request: Request) -> str:
    """The method and route template (never the URL: a query string may hold PII)."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', request.url.path)}"


def caller_for(request: Request, key: ApiKey, background: BackgroundTasks) -> Caller:
    cfg = request.app.state.config
    policy = access.policy_for(cfg, key.role, key.key_id, key.name)
    return Caller(key, policy, request.app.state.engine, route_of(request), background, cfg.access.log_reads)


def _reader(
    request: Request, key: Annotated[ApiKey, Depends(require("reader"))], background: BackgroundTasks
) -> Caller:
    return caller_for(request, key, background)


Reader = Annotated[Caller, Depends(_reader)]


def not_found(golden_id: str) -> HTTPException:
    """What a caller restricted to other sources hears about a golden record it may not see: what an unknown
    id gets, so the answer does not tell it exists."""
    return HTTPException(404, f"no golden record {golden_id!r}")
