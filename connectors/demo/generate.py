"""`hub demo init`: four demo source databases, their hub.yaml and the ground truth (who each
source row is, and each person's true current values).

Every random stream is seeded from (seed, part), so one seed gives identical files and one part
(say, a system's noise) can change without reshuffling the others.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from connectors.demo import timeline
from connectors.demo.flavours import flavour as flavour_named
from connectors.demo.hub_yaml import write_hub_yaml
from connectors.demo.population import SYSTEMS, population
from connectors.demo.store import write_database
from connectors.demo.systems import BUILDERS
from connectors.demo.truth_values import TRUTH_VALUES, truth_values
from hub.errors import HubError

GROUND_TRUTH = "ground_truth.csv"
_POPULATION_STREAM, _TIMELINE_STREAM, _FIRST_SYSTEM_STREAM = 0, 1, 2


class DemoExists(HubError, FileExistsError):
    """The directory already holds a demo and replacing it was not asked for (--force)."""


@dataclass(frozen=True)
class DemoSummary:
    """What init_demo wrote, for the CLI to print."""

    directory: Path
    config_path: Path
    ground_truth_path: Path
    truth_values_path: Path  # per person, the true current canonical values
    people: int
    tables: dict[str, dict[str, int]]  # source -> table -> rows
    bad_rows: dict[str, int]  # source -> bad rows (connectors/demo/bad_rows.py): quarantined or field-warned
    flavour: str = "default"  # connectors/demo/flavours.py


def demo_files(directory: Path) -> list[Path]:
    """Everything init_demo writes into `directory`."""
    written = ("hub.yaml", GROUND_TRUTH, TRUTH_VALUES)
    return [directory / f"{s}.db" for s in SYSTEMS] + [directory / name for name in written]


def init_demo(
    directory: Path,
    customers: int = 2000,
    seed: int = 42,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    flavour: str = "default",
) -> DemoSummary:
    """Generate the demo sources for `customers` people into `directory`, from the countries of
    `flavour` (connectors/demo/flavours.py: `default` GB/US, `international` IE/DE/FR/AU).

    Raises DemoExists (a FileExistsError) if the directory already holds a demo and `force` is False; with
    `force` the old demo's hub state (`directory/.hub`) goes too. The databases are written aside
    and renamed into place, so an interrupted run leaves the old demo (or nothing), never half.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    if seed < 0:
        raise ValueError("seed must be a non-negative integer")
    world = flavour_named(flavour)
    directory = Path(directory)
    existing = [p.name for p in demo_files(directory) if p.exists()]
    if existing and not force:
        raise DemoExists(f"{directory} already contains a demo ({', '.join(existing)}); use --force to replace it")
    directory.mkdir(parents=True, exist_ok=True)
    # The hub state of a replaced demo (workspace, serving store) describes data that is gone.
    shutil.rmtree(directory / ".hub", ignore_errors=True)
    say = progress or (lambda _line: None)

    people = population(np.random.default_rng([seed, _POPULATION_STREAM]), customers, world)
    rows = timeline.records(np.random.default_rng([seed, _TIMELINE_STREAM]), people)
    say(f"population: {customers:,} people, {len(rows):,} source rows planned")

    truths, counts, bad, staged = [], {}, {}, []
    for i, system in enumerate(SYSTEMS):
        rng = np.random.default_rng([seed, _FIRST_SYSTEM_STREAM + i])
        built = BUILDERS[system](rng, timeline.facts(people, rows[rows["system"] == system]), world)
        staging = directory / f".{system}.db.partial"
        staging.unlink(missing_ok=True)
        write_database(staging, built.tables)
        staged.append((staging, directory / f"{system}.db"))
        counts[system] = {t.name: len(t.frame) for t in built.tables}
        bad[system] = int((built.truth["bad_reason"] != "").sum())
        truths.append(built.truth.assign(source_system=system))
        say(f"{system}: " + ", ".join(f"{n:,} {table}" for table, n in counts[system].items()) + " written")

    for staging, final in staged:
        os.replace(staging, final)
    truth = pd.concat(truths, ignore_index=True)[["source_system", "source_key", "person_id", "bad_reason"]]
    truth_path = directory / GROUND_TRUTH
    truth.to_csv(truth_path, index=False)
    say(f"ground truth: {len(truth):,} rows")
    values_path = directory / TRUTH_VALUES
    truth_values(people, rows).to_csv(values_path, index=False)
    say(f"truth values: {customers:,} people")
    config_path = write_hub_yaml(directory, world)
    return DemoSummary(directory, config_path, truth_path, values_path, customers, counts, bad, world.name)
