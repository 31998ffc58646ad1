"""Dagster resources: the hub configuration and the workspace it points at."""

from __future__ import annotations

import dagster as dg

from hub.config import HubConfig, load_config
from hub.workspace import Workspace


class HubResource(dg.ConfigurableResource):
    """Where hub.yaml lives; every asset reads sources and the workspace through it."""

    config_path: str = "hub.yaml"

    def config(self) -> HubConfig:
        return load_config(self.config_path)

    def workspace(self) -> Workspace:
        return Workspace.for_config(self.config())
