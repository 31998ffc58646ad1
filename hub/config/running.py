"""How the hub runs: the Dagster schedule and sensor (`pipeline:`), pulls (`pull:`), write-back defaults
(`writeback:`) and `hub serve` (`api:`)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from hub.config.base import Strict
from hub.config.sources import Policy

_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/\-?]+$")


class PipelineConfig(Strict):
    """When Dagster runs the pipeline: a cron schedule for the full run, and a sensor that starts
    a run when a source changed. Both start stopped; `autostart: true` turns them on in `dagster dev`."""

    schedule: str = "0 2 * * *"
    timezone: str = "UTC"
    sensor_interval_seconds: int = Field(300, ge=30)
    autostart: bool = False
    # Steward decisions and pins: `immediately` runs the apply_decisions job from `hub serve` after
    # each one (re-cluster, rebuild, gate, publish; no pull, no scoring, no write-back);
    # `next_run` leaves them to the next pipeline run.
    apply_decisions: Literal["immediately", "next_run"] = "immediately"
    # How long a job waits for another one holding the workspace before it gives up.
    workspace_wait_seconds: int = Field(3600, ge=0)
    # The Dagster instance (a DAGSTER_HOME folder) that `hub run`, `hub review apply` and the runs `hub serve` starts
    # are recorded in, so `dagster dev` with DAGSTER_HOME set to it shows them all. $DAGSTER_HOME wins when set;
    # with neither, runs are not kept (an ephemeral instance).
    dagster_home: Path | None = None

    @field_validator("schedule")
    @classmethod
    def _cron(cls, v: str) -> str:
        parts = v.split()
        if len(parts) != 5 or not all(_CRON_FIELD.match(p) for p in parts):
            raise ValueError(f"'{v}' is not a cron expression (five fields: minute hour day month weekday)")
        return v

    @field_validator("timezone")
    @classmethod
    def _tz(cls, v: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(v)
        except Exception:
            raise ValueError(f"'{v}' is not an IANA time zone (e.g. UTC, Europe/London)") from None
        return v


class PullConfig(Strict):
    """How pulls keep staging whole. A cursor never moves past now + `cursor_tolerance_seconds` (a row
    stamped in the future is staged with a warning and re-read until its time comes), and every
    `full_reconcile_every_hours` an incremental pull compares every row's values, not just the keys
    (0: only with `--reconcile`)."""

    cursor_tolerance_seconds: int = Field(300, ge=0)
    full_reconcile_every_hours: float = Field(168, ge=0)


class WritebackConfig(Strict):
    """Defaults for every source: `policy` per canonical field or `address` (see DEFAULT_POLICY)."""

    policy: dict[str, Policy] = {}


class ApiConfig(Strict):
    """`hub serve`: how long a steward's sign-in to the web UI lasts, and when failed sign-ins and failed API key
    checks are throttled (hub.api.throttle): `max_failures` within `failure_window_seconds` from one client
    address, or naming one key id, and further attempts get 429 until the window has moved on."""

    session_hours: float = Field(8, gt=0)
    max_failures: int = Field(10, ge=1)
    failure_window_seconds: int = Field(300, ge=1)
