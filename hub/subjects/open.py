"""The workspace for one request, held against every other job for its length (hub.workspace.exclusive)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from hub.config import HubConfig
from hub.workspace import Workspace, exclusive


@contextmanager
def open_workspace(cfg: HubConfig, holder: str, wait_seconds: float | None = None) -> Iterator[Workspace]:
    """`cfg`'s workspace, waiting up to `wait_seconds` (default pipeline.workspace_wait_seconds) for a job holding
    it; closed afterwards (closing twice is harmless)."""
    wait = cfg.pipeline.workspace_wait_seconds if wait_seconds is None else wait_seconds
    with exclusive(cfg.workspace, holder, wait):
        ws = Workspace.for_config(cfg)
        try:
            yield ws
        finally:
            ws.close()
