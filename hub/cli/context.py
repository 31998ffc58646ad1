"""What a command works on: the config's workspace (held by this command alone) or its serving store."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from hub.cli.report import progress
from hub.config import ConfigError, HubConfig, load_config

if TYPE_CHECKING:
    import sqlalchemy as sa

    from hub.workspace import Workspace


@contextmanager
def workspace(args: argparse.Namespace) -> Iterator[tuple[HubConfig, Workspace]]:
    """The validated config and its workspace, held for this command alone and closed when it is done."""
    from hub.workspace import Workspace, exclusive

    cfg = load_config(args.config)
    wait = cfg.pipeline.workspace_wait_seconds
    with exclusive(cfg.workspace, f"hub {args.command}", wait, progress):
        ws = Workspace.for_config(cfg)
        try:
            yield cfg, ws
        finally:
            ws.close()


@contextmanager
def workspace_lock(cfg: HubConfig, holder: str) -> Iterator[None]:
    """The config's workspace held for this command alone, without opening it."""
    from hub.workspace import exclusive

    with exclusive(cfg.workspace, holder, cfg.pipeline.workspace_wait_seconds, progress):
        yield


def serving_store(args: argparse.Namespace) -> AbstractContextManager[sa.Engine]:
    """The config's serving store, disposed when the command is done."""
    from hub import store

    return store.opened_for(load_config(args.config))


def sources(args: argparse.Namespace, cfg: HubConfig) -> list[str]:
    """The sources named by --source (all when none is); a name hub.yaml does not declare is a ConfigError."""
    names = args.source or list(cfg.sources)
    unknown = [n for n in names if n not in cfg.sources]
    if unknown:
        raise ConfigError("sources", f"no source named {unknown} (configured: {list(cfg.sources)})", Path(args.config))
    return names
