"""`hub run`: execute the same Dagster job `dagster dev` shows, in this process, and summarize it.

With DAGSTER_HOME set, runs are recorded in that Dagster instance (so `dagster dev` with the same
DAGSTER_HOME lists them); otherwise an ephemeral instance is used."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from hub.config import HubConfig
from pipelines.assets import RECONCILE_TAG
from pipelines.build import build_definitions
from pipelines.logs import hub_error
from pipelines.resources import HubResource, pipeline_resources
from pipelines.sensors import PIPELINE_JOB


@dataclass
class CheckOutcome:
    asset: str
    passed: bool
    blocking: bool
    summary: str


@dataclass
class PipelineSummary:
    """What a run did, read off its Dagster events: per-asset materialization metadata and checks."""

    run_id: str
    success: bool
    sources: list[str]
    metadata: dict[str, dict[str, Any]]  # asset name -> metadata values
    checks: list[CheckOutcome]
    failed_steps: list[str] = field(default_factory=list)
    skipped_steps: list[str] = field(default_factory=list)  # never started
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False  # nothing was published or written back: the run reported what it would do

    @property
    def blocked(self) -> bool:
        """A blocking check failed, so publish and write-back did not run."""
        return any(c.blocking and not c.passed for c in self.checks)

    def value(self, asset: str, key: str, default: Any = None) -> Any:
        return self.metadata.get(asset, {}).get(key, default)


def instance_for(cfg: HubConfig) -> dg.DagsterInstance:
    """Where a run is recorded: $DAGSTER_HOME, else hub.yaml's `pipeline.dagster_home` (created if missing), else
    nowhere that lasts (an ephemeral instance). `hub run`, `hub review apply` and `hub serve` all ask here, so their
    runs land in the one instance `dagster dev` shows."""
    if os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.get()
    home = cfg.pipeline.dagster_home
    if home is None:
        return dg.DagsterInstance.ephemeral()
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.from_config(str(home))


def run_pipeline(
    config_path: str,
    full: bool = False,
    dry_run: bool = False,
    reconcile: bool = False,
    log_level: str = "INFO",
    instance: dg.DagsterInstance | None = None,
    job_name: str = PIPELINE_JOB,
) -> PipelineSummary:
    """Run the whole pipeline (or another of its jobs) once. Progress goes to Dagster's console
    logger at `log_level`. `dry_run`: report what would be published and written back, write nothing
    (HubResource.dry_run). `reconcile`: compare every source row's values, not just keys (the run tag RECONCILE_TAG)."""
    defs = build_definitions(config_path)
    job = defs.resolve_job_def(job_name)
    hub = HubResource(config_path=str(config_path), full_pull=full, dry_run=dry_run)
    own, cfg = instance is None, hub.config()
    instance = instance or instance_for(cfg)
    try:
        with sigterm_kept():
            result = job.execute_in_process(
                instance=instance,
                resources=pipeline_resources(hub),
                run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
                raise_on_error=False,
                tags={RECONCILE_TAG: "true"} if reconcile else None,
            )
    finally:
        if own:
            instance.dispose()
    return summarize(result, list(cfg.sources), dry_run)


@contextmanager
def sigterm_kept() -> Iterator[None]:
    """SIGTERM as it was before the run, after it. A run on the main thread leaves SIGTERM with SIGINT's handler
    (Dagster maps one to the other when it restores its interrupt handling), and a process started in the
    background (cron, nohup, a CI job) ignores SIGINT: it then ignored SIGTERM too, and so did every process it
    started after its first run. Dagster stops the `tail` it starts per step to capture logs with a SIGTERM, waits
    30 s for it and leaves it running for good."""
    if threading.current_thread() is not threading.main_thread():
        yield  # Dagster changes no handler off the main thread
        return
    before = signal.getsignal(signal.SIGTERM)
    try:
        yield
    finally:
        if before is not None:  # None: a handler set outside Python, which cannot be put back
            signal.signal(signal.SIGTERM, before)


def summarize(result: dg.ExecuteInProcessResult, sources: list[str], dry_run: bool = False) -> PipelineSummary:
    metadata: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        metadata[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    checks = [
        CheckOutcome(
            asset=e.asset_key.to_user_string(),
            passed=e.passed,
            blocking=bool(e.blocking),
            summary=e.description or "",
        )
        for e in result.get_asset_check_evaluations()
    ]
    # Failed steps, and resources that could not start (a workspace another job kept busy).
    failures = (dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.RESOURCE_INIT_FAILURE)
    errors = [
        f"{e.step_key or 'resources'}: {_root_cause(error)}"
        for e in result.all_events
        if e.event_type in failures and (error := getattr(e.event_specific_data, "error", None))
    ]
    return PipelineSummary(
        run_id=result.run_id,
        success=result.success and not errors,
        sources=sources,
        metadata=metadata,
        checks=checks,
        failed_steps=sorted(result.get_failed_step_keys()),
        # Steps downstream of a failed step or a failed blocking check never start.
        skipped_steps=sorted({n.name for n in result.job_def.nodes} - {e.step_key for e in result.all_events}),
        errors=errors,
        dry_run=dry_run,
    )


def _root_cause(error: Any) -> str:
    """The hub's own exception, not Dagster's 'Error occurred while executing op ...' wrapper around it; a hub error
    (a hub.yaml problem, an unreachable database) as its one-line message."""
    if (message := hub_error(error)) is not None:
        return message
    while error.cause is not None:
        error = error.cause
    return error.message.strip()
