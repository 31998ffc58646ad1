"""Dagster resources: the hub configuration every asset reads sources and the workspace through."""

from __future__ import annotations

import dagster as dg

from hub.config import HubConfig, load_config


class HubResource(dg.ConfigurableResource):
    """Where hub.yaml lives; assets load it once per materialization."""

    config_path: str = "hub.yaml"

    def config(self) -> HubConfig:
        return load_config(self.config_path)
