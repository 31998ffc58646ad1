"""Build the hub's Dagster definitions from a hub.yaml."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from hub.config import ConfigError, load_config
from pipelines.assets import pipeline_assets
from pipelines.checks import pipeline_checks
from pipelines.logs import console
from pipelines.resources import HubResource, pipeline_resources
from pipelines.sensors import PIPELINE_JOB, change_sensor, pipeline_schedule

APPLY_JOB = "apply_decisions"
APPLY_ASSETS = ("clusters", "review_queue", "golden_records", "published_golden")


CONFIG_CANDIDATES = ("hub.yaml", "demo/hub.yaml")  # tried in the working directory when $HUB_CONFIG is not set


def default_config() -> str:
    """$HUB_CONFIG, else the first of CONFIG_CANDIDATES that exists (as an absolute path, so runs launched from the
    UI find it whatever their working directory); with neither, a ConfigError saying what to set."""
    named = os.environ.get("HUB_CONFIG")
    if named:
        return named
    found = next((Path(c).resolve() for c in CONFIG_CANDIDATES if Path(c).is_file()), None)
    if found is None:
        tried = " or ".join(str(Path(c).resolve()) for c in CONFIG_CANDIDATES)
        raise ConfigError("HUB_CONFIG", f"not set and no hub.yaml at {tried}: set HUB_CONFIG=path/to/hub.yaml")
    return str(found)


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
        loggers={"console": console},
    )
