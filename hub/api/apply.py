"""Steward actions taking effect at once: after a decision, split, merge, pin or unpin, `hub serve`
runs the pipeline's apply_decisions job (re-cluster the last scored pairs, rebuild, gate, publish)
in a background thread. One run at a time; actions made while one runs are taken by a single
further run right after it. A run waits for a pipeline run holding the workspace, so the two never
interleave (hub.workspace.exclusive).

With `pipeline.apply_decisions: next_run` in hub.yaml, or an app made without its hub.yaml path,
actions wait for the next pipeline run; POST /v1/review/apply still starts one by hand (given the
path)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Request

from hub.api.auth import require
from hub.api.keys import ApiKey
from hub.api.schemas import Applies, ApplyRun, ApplyStatus, Problem

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["steward review"])


def _apply_job(config_path: str) -> Callable[[], tuple[str | None, bool, str | None, str | None]]:
    def run() -> tuple[str | None, bool, str | None, str | None]:
        from pipelines.build import APPLY_JOB
        from pipelines.run import run_pipeline

        summary = run_pipeline(config_path, log_level="WARNING", job_name=APPLY_JOB)
        published = summary.value("published_golden", "run_id")
        blocked = [c for c in summary.checks if c.blocking and not c.passed]
        failed = [f"blocked by the {c.asset} checks: {c.summary}" for c in blocked]
        error = "; ".join(summary.errors + failed) or None
        return summary.run_id, summary.success and not summary.blocked, published, error

    return run


class DecisionApplier:
    """The background runner of apply_decisions for one app."""

    def __init__(self, config_path: str, mode: Literal["immediately", "next_run"]):
        self.mode = mode
        self._run = _apply_job(config_path)
        self._cond = threading.Condition()
        self._pending = self._running = self._closed = False
        self._last: ApplyRun | None = None
        self._thread = threading.Thread(target=self._loop, name="apply-decisions", daemon=True)
        self._thread.start()

    def after_change(self) -> Applies:
        """Called after every stored steward action; says when it reaches golden records."""
        if self.mode != "immediately":
            return "next_run"
        self.request()
        return "now"

    def request(self) -> None:
        with self._cond:
            self._pending = True
            self._cond.notify()

    def status(self) -> ApplyStatus:
        with self._cond:
            return ApplyStatus(
                mode=self.mode,
                enabled=True,
                state="running" if self._running else "idle",
                pending=self._pending,
                last=self._last,
            )

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is pending or running (tests, shutdown)."""
        with self._cond:
            return self._cond.wait_for(lambda: not (self._pending or self._running), timeout)

    def close(self, timeout: float = 60) -> None:
        """Stop after the current run (a half-run job would only be repeated by the next pipeline run)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                self._pending, self._running = False, True
            started = datetime.now(UTC)
            try:
                run_id, success, published, error = self._run()
            except Exception as exc:  # a run that cannot even start must not kill the thread
                log.exception("apply_decisions could not run")
                run_id, success, published, error = None, False, None, f"{type(exc).__name__}: {exc}"
            if error:
                log.warning("apply_decisions did not publish: %s", error)
            with self._cond:
                self._running = False
                self._last = ApplyRun(
                    dagster_run_id=run_id,
                    success=success,
                    published_run=published,
                    started_at=started,
                    finished_at=datetime.now(UTC),
                    error=error,
                )
                self._cond.notify_all()


def after_change(request: Request) -> Applies:
    """When a steward action just stored reaches golden records (and start that now if it is due)."""
    applier: DecisionApplier | None = request.app.state.applier
    return applier.after_change() if applier else "next_run"


def _status(request: Request) -> ApplyStatus:
    applier: DecisionApplier | None = request.app.state.applier
    if applier:
        return applier.status()
    return ApplyStatus(
        mode=request.app.state.config.pipeline.apply_decisions, enabled=False, state="idle", pending=False, last=None
    )


@router.get("/review/apply", summary="Whether steward actions are being applied to golden records")
def apply_status(request: Request, _key: Annotated[ApiKey, Depends(require("reader"))]) -> ApplyStatus:
    return _status(request)


@router.post(
    "/review/apply",
    status_code=202,
    summary="Apply steward decisions and pins to golden records now",
    responses={409: {"model": Problem, "description": "this server cannot run the job"}},
)
def apply_now(request: Request, _key: Annotated[ApiKey, Depends(require("steward"))]) -> ApplyStatus:
    """Starts the apply_decisions job (or queues one more run if one is running); poll GET for the
    outcome. Works whatever `pipeline.apply_decisions` says."""
    applier: DecisionApplier | None = request.app.state.applier
    if applier is None:
        raise HTTPException(
            409, "this server was started without its hub.yaml path, so it cannot run jobs: run `hub review apply`"
        )
    applier.request()
    return applier.status()
