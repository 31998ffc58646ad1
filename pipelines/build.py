"""Build the hub's Dagster definitions from a hub.yaml."""

from __future__ import annotations

import dagster as dg

from hub.config import load_config
from pipelines.assets import pipeline_assets
from pipelines.checks import pipeline_checks
from pipelines.resources import HubResource, pipeline_resources
from pipelines.sensors import PIPELINE_JOB, change_sensor, pipeline_schedule

APPLY_JOB = "apply_decisions"
APPLY_ASSETS = ("clusters", "review_queue", "golden_records", "published_golden")


def build_definitions(config_path: str) -> dg.Definitions:
    cfg = load_config(config_path)
    jobs = [
        dg.define_asset_job(
            PIPELINE_JOB,
            selection=dg.AssetSelection.all(),
            description="Pull every source, match, build and gate golden records, publish, write back.",
        ),
        dg.define_asset_job("pull_sources", selection=dg.AssetSelection.groups("sources")),
        dg.define_asset_job(
            APPLY_JOB,
            selection=dg.AssetSelection.assets(*APPLY_ASSETS),
            description=(
                "Apply steward decisions and pins now: re-cluster the last scored pairs, rebuild, gate and publish "
                "golden records (no pull, no scoring, no write-back; the next pipeline run writes back)."
            ),
        ),
    ]
    return dg.Definitions(
        assets=pipeline_assets(cfg),
        asset_checks=pipeline_checks(list(cfg.sources)),
        jobs=jobs,
        schedules=[pipeline_schedule(cfg)],
        sensors=[change_sensor(cfg)],
        resources=pipeline_resources(HubResource(config_path=str(config_path))),
        # One process: the DuckDB workspace takes a single writer at a time.
        executor=dg.in_process_executor,
    )
