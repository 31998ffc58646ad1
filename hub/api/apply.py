"""Steward actions taking effect at once: after a decision, split, merge, pin or unpin, `hub serve`
runs the pipeline's apply_decisions job (re-cluster the last scored pairs, rebuild, gate, publish)
in a background thread. One run at a time; actions made while one runs are taken by a single
further run right after it. A run waits for a pipeline run holding the workspace, so the two never
interleave (hub.workspace.exclusive).

The app is given the job as `run_apply` (a call running apply_decisions once for its hub.yaml: the
pipelines layer's, passed in by the composition root). With `pipeline.apply_decisions: next_run` in
hub.yaml, or an app made without it, actions wait for the next pipeline run; POST /v1/review/apply
still starts one by hand (given the job)."""

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
from hub.runs import RunSummary

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["steward review"])


def _apply(run_apply: Callable[[], RunSummary]) -> ApplyRun:
    """One apply_decisions run; a run that cannot even start is reported, not raised (the thread goes on)."""
    started = datetime.now(UTC)
    try:
        summary = run_apply()
    except Exception as exc:
        log.exception("apply_decisions could not run")
        return ApplyRun(
            dagster_run_id=None, success=False, published_run=None, started_at=started,
            finished_at=datetime.now(UTC), error=f"{type(exc).__name__}: {exc}",
        )  # fmt: skip
    failed = [f"blocked by the {c.asset} checks: {c.summary}" for c in summary.checks if c.blocking and not c.passed]
    return ApplyRun(
        dagster_run_id=summary.run_id,
        success=summary.success and not summary.blocked,
        published_run=summary.value("published_golden", "run_id"),
        started_at=started,
        finished_at=datetime.now(UTC),
        error="; ".join(summary.errors + failed) or None,
    )


class DecisionApplier:
    """The background runner of apply_decisions for one app."""

    def __init__(
        self,
        run_apply: Callable[[], RunSummary],
        mode: Literal["immediately", "next_run"],
        prepare: Callable[[], None] | None = None,
    ):
        """`prepare`, if given, runs first in the runner's thread, while no steward has acted yet: what every run
        needs and only the first would otherwise pay for (importing Great Expectations takes ~4 s)."""
        self.mode = mode
        self._run_apply = run_apply
        self._prepare = prepare
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
        if self._prepare:
            try:
                self._prepare()
            except Exception:  # the first run then pays for it, or reports what is wrong
                log.exception("preparing apply_decisions failed")
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                self._pending, self._running = False, True
            last = _apply(self._run_apply)
            if last.error:
                log.warning("apply_decisions did not publish: %s", last.error)
            with self._cond:
                self._running, self._last = False, last
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
