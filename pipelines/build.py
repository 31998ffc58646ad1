"""Build the hub's Dagster definitions from a hub.yaml."""

from __future__ import annotations

import dagster as dg

from hub.config import load_config
from pipelines.assets import source_assets
from pipelines.resources import HubResource


def build_definitions(config_path: str) -> dg.Definitions:
    cfg = load_config(config_path)
    pull_job = dg.define_asset_job("pull_sources", selection=dg.AssetSelection.groups("sources"))
    return dg.Definitions(
        assets=source_assets(cfg),
        jobs=[pull_job],
        resources={"hub": HubResource(config_path=str(config_path))},
        # One process: the DuckDB workspace takes a single writer at a time.
        executor=dg.in_process_executor,
    )
