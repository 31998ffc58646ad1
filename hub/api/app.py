"""The FastAPI application over the serving store (`hub serve`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline

from hub import store
from hub.api import (
    access_log,
    admin,
    apply,
    changes,
    consent,
    export,
    golden,
    match,
    reads,
    review,
    search,
    subjects,
    ui,
)
from hub.api.apply import DecisionApplier
from hub.api.auth import engine
from hub.api.errors import store_busy, validation_error
from hub.api.match import EntryScoring
from hub.api.schemas import Health
from hub.api.sessions import Sessions
from hub.api.throttle import Throttle
from hub.config import HubConfig
from hub.runs import RunSummary

DESCRIPTION = """Golden customer records of the customer data hub, read from its serving store.

Every endpoint but `/v1/health` needs an API key (`hub apikey create --role reader|steward|privacy|admin`),
sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`. No or a bad key: 401; a role too low: 403;
too many failed key checks from one address or for one key id: 429 with Retry-After.
Errors carry `detail` (and for 422, `message` naming the field). What a key sees of each customer (every field in
full, masked or hidden, and which sources' customers) is hub.yaml's `access:` policy for its name or role; reads of
personal data are logged for the privacy role (`/v1/privacy/reads`)."""


def create_app(
    cfg: HubConfig,
    engine_: sa.Engine | None = None,
    *,
    entry_scorer: Callable[[dict[str, Any]], EntryScoring],
    run_apply: Callable[[], RunSummary] | None = None,
    prepare_apply: Callable[[], None] | None = None,
    erase_in_source: Callable[[HubConfig, str, list[str]], Any] | None = None,
    workers: int = 1,
) -> FastAPI:
    """The API over `cfg.serving_store` (migrated on open), or over `engine_` when given (left open).
    `entry_scorer` makes match-on-entry's scorer from a published model (hub.api.match); with `run_apply` (one run of
    the apply_decisions job for `cfg`'s hub.yaml) steward actions can reach golden records at once (hub.api.apply),
    and `prepare_apply` readies what that job needs before the first action; with `erase_in_source` (a source's
    erasure action, connectors.erasure) the privacy role can erase (hub.api.subjects). They come from the layers
    above hub/: pipelines/entry.py passes the real ones.
    `workers`: how many processes serve side by side (hub serve --workers), each with this app: the failed-key
    throttle is kept per process, so each allows 1/workers of api.max_failures (at least one)."""
    own = engine_ is None
    db = engine_ if engine_ is not None else store.open_for(cfg)
    applier = DecisionApplier(run_apply, cfg.pipeline.apply_decisions, prepare_apply) if run_apply else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        access_log.install()  # after uvicorn configured its loggers
        match.settle_heap()  # what startup built lives as long as the app
        yield
        if applier:
            applier.close()
        if own:
            db.dispose()

    # /docs and /redoc load Swagger UI and ReDoc from files served here (fastapi_offline), not from a CDN, so they
    # work on a machine without internet access.
    app = FastAPIOffline(title="Customer Data Hub", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.engine, app.state.config, app.state.applier = db, cfg, applier
    app.state.erase_in_source = erase_in_source
    app.state.phone_region = search.default_region([s.default_region for s in cfg.sources.values()])
    app.state.match_scorers = match.Scorers(entry_scorer)
    app.state.throttle = Throttle(max(1, cfg.api.max_failures // workers), cfg.api.failure_window_seconds)
    app.state.sessions = Sessions(cfg.api.session_hours)
    # Starlette types a handler as taking any Exception, though it only passes the class it is registered for.
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(sa.exc.OperationalError, store_busy)  # type: ignore[arg-type]
    for module in (golden, consent, search, changes, export, match, review, apply, subjects, reads, admin, ui):
        app.include_router(module.router)

    @app.get("/v1/health", summary="Liveness and the last published run (no key needed)", tags=["health"])
    def health(request: Request) -> Health:
        with engine(request).connect() as conn:
            return Health(status="ok", last_published_run=store.last_published_run(conn))

    return app
