"""The composition root of the entry points: the `hub` command line and the REST API get the stage operations
they run from here, so hub/ (the core) never imports the layers built on it.

Each operation imports its stage when it is called: Dagster and Splink take seconds to import, and
`hub apikey list` or `hub demo init` should not pay for them.

`hub` (pyproject's console script) runs `main`; so does `python -m pipelines.entry`.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from hub import cli
from hub.config import HubConfig

if TYPE_CHECKING:
    import sqlalchemy as sa
    from fastapi import FastAPI

    from pipelines.run import PipelineSummary


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """`module`.`name`, imported when first called and then called with the caller's arguments."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return call


_run_pipeline = _lazy("pipelines.run", "run_pipeline")


def _run_apply(config_path: str, log_level: str) -> PipelineSummary:
    from pipelines.build import APPLY_JOB

    return _run_pipeline(config_path, log_level=log_level, job_name=APPLY_JOB)


_entry_scorer = _lazy("matching.entry", "EntryScorer")
_prepare_apply = _lazy("expectations.runner", "prepare")  # the golden gate's engine, imported before the first apply

STAGES = cli.Stages(
    init_demo=_lazy("connectors.demo", "init_demo"),
    source_problems=_lazy("connectors.check", "source_problems"),
    matching_plan=_lazy("matching.plan", "for_config"),
    pull_source=_lazy("connectors", "pull_source"),
    train=_lazy("matching.run", "train"),
    model_versions=_lazy("matching.models", "versions"),
    match=_lazy("matching.run", "match"),
    build_and_publish=_lazy("golden_record.run", "build_and_publish"),
    run_pipeline=_run_pipeline,
    run_apply=_run_apply,
    prepare_apply=_prepare_apply,
    run_to_write=_lazy("connectors.writeback", "run_to_write"),
    write_back=_lazy("connectors.writeback", "write_back"),
    entry_scorer=_entry_scorer,
    app_factory="pipelines.entry:serve_app",
    erase_in_source=_lazy("connectors.erasure", "erase_in_source"),
)


def main(argv: list[str] | None = None) -> int:
    """`hub`: the command line with the real stages."""
    return cli.main(argv, STAGES)


def create_app(cfg: HubConfig, engine_: sa.Engine | None = None, config_path: str | None = None) -> FastAPI:
    """The REST API (hub.api.create_app) with the pipeline's match-on-entry scorer and, given `cfg`'s hub.yaml
    path, its apply_decisions job."""
    from hub.api import create_app

    run_apply = partial(_run_apply, config_path, "WARNING") if config_path else None
    return create_app(
        cfg, engine_, entry_scorer=_entry_scorer, run_apply=run_apply, prepare_apply=_prepare_apply,
        erase_in_source=STAGES.erase_in_source,
    )  # fmt: skip


def serve_app() -> FastAPI:
    """The app factory of `hub serve --workers N` (or `uvicorn --factory pipelines.entry:serve_app --workers N` with
    HUB_SERVE_CONFIG set): the REST API over the hub.yaml named by HUB_SERVE_CONFIG (default ./hub.yaml), built
    in each worker process. The failed-key throttle is per process, so each worker allows its share of
    api.max_failures (HUB_SERVE_WORKERS of them share it) and the server as a whole no more than the setting."""
    import os

    from hub.api import create_app
    from hub.cli.serving import CONFIG_ENV, WORKERS_ENV
    from hub.config import load_config

    path = os.environ.get(CONFIG_ENV, "hub.yaml")
    return create_app(
        load_config(path), entry_scorer=_entry_scorer, run_apply=partial(_run_apply, path, "WARNING"),
        prepare_apply=_prepare_apply, erase_in_source=STAGES.erase_in_source,
        workers=int(os.environ.get(WORKERS_ENV, "1")),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
