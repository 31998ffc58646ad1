"""The composition root of the entry points: the `hub` command line and the REST API get the stage operations
they run from here, so hub/ (the core) never imports the layers built on it.

Each operation imports its stage when it is called: Dagster and Splink take seconds to import, and
`hub apikey list` or `hub demo init` should not pay for them.

`hub` (pyproject's console script) runs `main`; so does `python -m pipelines.entry`.
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hub import cli
from hub.config import HubConfig

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import sqlalchemy as sa
    from fastapi import FastAPI

    from connectors.demo import DemoSummary
    from connectors.ingest import PullResult
    from connectors.writeback import WritebackResult
    from golden_record.run import GoldenResult
    from hub.workspace import Workspace
    from matching.entry import EntryScorer
    from matching.models import SavedModel
    from matching.plan import MatchPlan
    from matching.run import MatchResult
    from pipelines.run import PipelineSummary


def _init_demo(directory: Path, **options: Any) -> DemoSummary:
    from connectors.demo import init_demo

    return init_demo(directory, **options)


def _source_problems(cfg: HubConfig, name: str) -> list[str]:
    from connectors.check import source_problems

    return source_problems(cfg, name)


def _matching_plan(cfg: HubConfig) -> MatchPlan:
    from matching.plan import for_config

    return for_config(cfg)


def _pull_source(cfg: HubConfig, name: str, ws: Workspace, **options: Any) -> PullResult:
    from connectors import pull_source

    return pull_source(cfg, name, ws, **options)


def _train(ws: Workspace, cfg: HubConfig, **options: Any) -> SavedModel:
    from matching.run import train

    return train(ws, cfg, **options)


def _model_versions(con: duckdb.DuckDBPyConnection) -> list[tuple[int, Any, int]]:
    from matching import models

    return models.versions(con)


def _match(
    ws: Workspace, cfg: HubConfig, must_link: pd.DataFrame, cannot_link: pd.DataFrame, **options: Any
) -> MatchResult:
    from matching.run import match

    return match(ws, cfg, must_link, cannot_link, **options)


def _build_and_publish(
    ws: Workspace, cfg: HubConfig, engine: sa.Engine, must_link: pd.DataFrame, **options: Any
) -> GoldenResult:
    from golden_record.run import build_and_publish

    return build_and_publish(ws, cfg, engine, must_link, **options)


def _run_pipeline(config_path: str, **options: Any) -> PipelineSummary:
    from pipelines.run import run_pipeline

    return run_pipeline(config_path, **options)


def _run_apply(config_path: str, log_level: str) -> PipelineSummary:
    from pipelines.build import APPLY_JOB
    from pipelines.run import run_pipeline

    return run_pipeline(config_path, log_level=log_level, job_name=APPLY_JOB)


def _run_to_write(ws: Workspace, engine: sa.Engine, dry_run: bool) -> str | None:
    from connectors.writeback import run_to_write

    return run_to_write(ws, engine, dry_run)


def _write_back(
    ws: Workspace, cfg: HubConfig, engine: sa.Engine, source: str, run_id: str | None, **options: Any
) -> WritebackResult:
    from connectors.writeback import write_back

    return write_back(ws, cfg, engine, source, run_id, **options)


def _entry_scorer(model: dict[str, Any]) -> EntryScorer:
    from matching.entry import EntryScorer

    return EntryScorer(model)


STAGES = cli.Stages(
    init_demo=_init_demo,
    source_problems=_source_problems,
    matching_plan=_matching_plan,
    pull_source=_pull_source,
    train=_train,
    model_versions=_model_versions,
    match=_match,
    build_and_publish=_build_and_publish,
    run_pipeline=_run_pipeline,
    run_apply=_run_apply,
    run_to_write=_run_to_write,
    write_back=_write_back,
    entry_scorer=_entry_scorer,
)


def main(argv: list[str] | None = None) -> int:
    """`hub`: the command line with the real stages."""
    return cli.main(argv, STAGES)


def create_app(cfg: HubConfig, engine_: sa.Engine | None = None, config_path: str | None = None) -> FastAPI:
    """The REST API (hub.api.create_app) with the pipeline's match-on-entry scorer and, given `cfg`'s hub.yaml
    path, its apply_decisions job."""
    from hub.api import create_app

    run_apply = partial(_run_apply, config_path, "WARNING") if config_path else None
    return create_app(cfg, engine_, entry_scorer=_entry_scorer, run_apply=run_apply)


if __name__ == "__main__":
    sys.exit(main())
