"""When the pipeline runs by itself: a cron schedule (hub.yaml `pipeline.schedule`) and a sensor
that starts a run when any source changed since the sensor last looked.

The sensor never opens the workspace (a running job holds the DuckDB file): it asks each source
for a cheap change marker — row count and the newest value of its updated-at (cursor) column, or a
file's size and mtime — and keeps the last markers in its Dagster cursor. The run it starts pulls
incrementally from the saved cursors. Write-back never changes a marker, so the hub does not
trigger itself."""

import hashlib
import json
from typing import TypeVar

import dagster as dg

from hub.config import HubConfig
from pipelines.resources import HubResource, SourcesResource

PIPELINE_JOB = "hub_pipeline"


_Status = TypeVar("_Status", dg.DefaultSensorStatus, dg.DefaultScheduleStatus)


def _status(cfg: HubConfig, kind: type[_Status]) -> _Status:
    return kind.RUNNING if cfg.pipeline.autostart else kind.STOPPED


def change_sensor(cfg: HubConfig) -> dg.SensorDefinition:
    @dg.sensor(
        name="source_change_sensor",
        job_name=PIPELINE_JOB,
        minimum_interval_seconds=cfg.pipeline.sensor_interval_seconds,
        default_status=_status(cfg, dg.DefaultSensorStatus),
        description="Starts the pipeline when a source has new, deleted or changed rows.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, hub: HubResource, sources: SourcesResource
    ) -> dg.SensorResult | dg.SkipReason:
        markers = sources.change_markers(hub.config())
        previous = json.loads(context.cursor) if context.cursor else None
        cursor = json.dumps(markers, sort_keys=True)
        if previous is None:
            context.update_cursor(cursor)
            return dg.SkipReason(f"first look: remembered the state of {len(markers)} source(s)")
        changed = sorted(n for n, m in markers.items() if previous.get(n) != m and not m.startswith("unreadable"))
        unreadable = sorted(n for n, m in markers.items() if m.startswith("unreadable"))
        if not changed:
            context.update_cursor(cursor)
            note = f"; unreadable: {', '.join(unreadable)}" if unreadable else ""
            return dg.SkipReason(f"no source changed{note}")
        run_key = hashlib.sha256(cursor.encode()).hexdigest()[:16]
        return dg.SensorResult(
            run_requests=[dg.RunRequest(run_key=run_key, tags={"hub/changed_sources": ",".join(changed)})],
            cursor=cursor,
        )

    return _sensor


def pipeline_schedule(cfg: HubConfig) -> dg.ScheduleDefinition:
    return dg.ScheduleDefinition(
        name="hub_pipeline_schedule",
        job_name=PIPELINE_JOB,
        cron_schedule=cfg.pipeline.schedule,
        execution_timezone=cfg.pipeline.timezone,
        default_status=_status(cfg, dg.DefaultScheduleStatus),
        description="The full pipeline on hub.yaml's pipeline.schedule.",
    )
