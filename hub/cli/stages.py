"""The seam between the `hub` command line and the stages it runs.

hub/ is the core the stages build on (config, workspace, store), so it never imports connectors, matching,
golden_record or pipelines; the commands get the stage operations they run from this record instead. The
composition root (pipelines/entry.py) fills it with the real functions and calls `hub.cli.main(argv, stages)`;
a test may fill it with others.

Contract, per field: what the command line calls it with and what it reads back. `progress` takes one line of
progress at a time. A stage raises hub.errors.HubError for anything its user can act on (`hub` prints the
message and exits with its code); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hub.config import HubConfig
from hub.runs import RunSummary

if TYPE_CHECKING:
    from hub.api.match import EntryScoring


@dataclass(frozen=True)
class Stages:
    """The stage operations the commands run; above each, how a command calls it and what it reads back."""

    # (directory, *, customers, seed, force, progress, flavour) -> a summary with `tables` ({source: {table: rows}}),
    # config_path, ground_truth_path, truth_values_path. Raises a HubError when the directory holds a demo already.
    init_demo: Callable[..., Any]
    # (cfg, source name) -> one line per way the source does not fit its hub.yaml block or cannot be reached.
    source_problems: Callable[[HubConfig, str], list[str]]
    # (cfg) -> the matching plan from the fields the sources map, with describe() -> str; ConfigError if impossible.
    matching_plan: Callable[[HubConfig], Any]
    # (cfg, name, ws, *, full, reconcile, progress) -> the pull's counts (hub.cli.steps prints them).
    pull_source: Callable[..., Any]
    # (ws, cfg, *, progress) -> the saved model: version, records.
    train: Callable[..., Any]
    # (workspace connection) -> [(version, trained at, records)], oldest first.
    model_versions: Callable[[Any], list[tuple[int, Any, int]]]
    # (ws, cfg, must_link, cannot_link, *, progress, frozen: restricted records) -> the match counts: records,
    # model_version, trained, pairs_scored, auto_pairs, review_candidates, clusters, multi_record_clusters, seconds
    # ({step: seconds}).
    match: Callable[..., Any]
    # (ws, cfg, engine, must_link, *, progress) -> the build and its publish: run_id, golden_records, minted,
    # merged_away, published ({new, changed, lineage_updated, unchanged, xref_changed}), seconds.
    build_and_publish: Callable[..., Any]
    # (config path, *, full, dry_run, reconcile, log_level) -> the summary of one run of the whole pipeline.
    run_pipeline: Callable[..., RunSummary]
    # (config path, log_level) -> the summary of one run of the apply_decisions job (steward decisions and pins).
    run_apply: Callable[[str, str], RunSummary]
    # () -> None: what apply_decisions needs, made ready before a steward's first action (`hub serve`).
    prepare_apply: Callable[[], None]
    # (ws, engine, dry_run) -> the published run whose golden values are written back (None: a dry run's build).
    run_to_write: Callable[..., str | None]
    # (ws, cfg, engine, source, run_id, *, dry_run, progress, full) -> one source's write-back (hub.cli.steps prints
    # it).
    write_back: Callable[..., Any]
    # (a published match model, parsed) -> what scores records posted to match-on-entry (`hub serve`).
    entry_scorer: Callable[[dict[str, Any]], EntryScoring]
    # "module:function" of the app factory `hub serve --workers N` has uvicorn import in each worker process (a
    # FastAPI app from the hub.yaml named by hub.cli.serving.CONFIG_ENV).
    app_factory: str
    # (cfg, source name, keys as staged) -> the source's erasure action run for those rows (`hub subject erase`):
    # an object with as_dict() -> source, action, rows, changed, task (keys left for a person to erase).
    erase_in_source: Callable[[HubConfig, str, list[str]], Any]
