"""Dagster resources: the hub configuration, and through it the workspace and the serving store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import sqlalchemy as sa

from hub import store
from hub.config import HubConfig, load_config
from hub.workspace import Workspace


class HubResource(dg.ConfigurableResource):
    """Where hub.yaml lives, and how this run pulls and writes back.

    Assets load hub.yaml once per materialization and open the workspace only while they run: the
    DuckDB file takes one writer at a time, and the sensor must be able to run beside a job."""

    config_path: str = "hub.yaml"
    full_pull: bool = False  # ignore the saved cursors and re-read every source row
    writeback_dry_run: bool = False  # compute and report the write-back diff, write nothing

    def config(self) -> HubConfig:
        return load_config(self.config_path)

    @contextmanager
    def workspace(self, cfg: HubConfig) -> Iterator[Workspace]:
        ws = Workspace.for_config(cfg)
        try:
            yield ws
        finally:
            ws.close()

    @contextmanager
    def store(self, cfg: HubConfig) -> Iterator[sa.Engine]:
        engine = store.open_store(cfg.serving_store)
        try:
            yield engine
        finally:
            engine.dispose()
