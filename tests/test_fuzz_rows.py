"""10,000 adversarial source rows (tests/fuzz_rows.py, fixed seed) through the whole pipeline: `hub run`, then `hub
run --full`, pull to write-back. Nothing crashes; every row read is staged or quarantined; no golden record keeps an
implausible date of birth. PostgreSQL and MariaDB get the same rows through a pull."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import pull_source
from hub import store
from hub.cli import run_summary
from hub.config import load_config
from hub.model import plausible_birth_dates
from hub.workspace import Workspace
from pipelines.run import PipelineSummary, run_pipeline
from tests.fuzz_rows import write_sources

SOURCES = ("crm", "shop")
ROWS = 10_000

pytestmark = pytest.mark.slow(seconds=35)


def source_rows(url: str, name: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        n = conn.execute(sa.text(f"SELECT count(*) FROM {name}_customers")).scalar_one()
    engine.dispose()
    return n


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> tuple[Path, dict[str, PipelineSummary]]:
    where = tmp_path_factory.mktemp("fuzz")
    config = write_sources(where, {name: f"sqlite:///{where / name}.db" for name in SOURCES}, rows=ROWS)
    runs = {}
    for mode in ("incremental", "full"):
        runs[mode] = run_pipeline(
            str(config), full=mode == "full", log_level="ERROR", instance=dg.DagsterInstance.ephemeral()
        )
        assert run_summary(runs[mode]).startswith("pipeline run ")  # what `hub run` prints renders too
    return config, runs


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_no_step_before_write_back_fails(fuzzed, mode):
    r = fuzzed[1][mode]
    assert not [e for e in r.errors if not e.startswith("writeback_")], r.errors
    assert not r.blocked, [c.summary for c in r.checks if not c.passed]
    assert r.value("published_golden", "run_id") is not None


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_write_back_takes_every_row(fuzzed, mode):
    r = fuzzed[1][mode]
    assert not r.errors, r.errors
    assert all(r.value(f"writeback_{s}", "rows_planned") is not None for s in SOURCES)


@pytest.mark.parametrize("mode", ["incremental", "full"])
def test_every_row_read_is_staged_or_quarantined(fuzzed, mode):
    config, runs = fuzzed
    cfg, r = load_config(config), runs[mode]
    for name in SOURCES:
        read = source_rows(cfg.sources[name].url, name)
        if mode == "full":
            assert r.value(f"raw_{name}", "rows_read") == read
        staged, quarantined = r.value(f"raw_{name}", "staged_total"), r.value(f"raw_{name}", "quarantined_total")
        assert staged + quarantined == read, name
        assert quarantined > 0  # the rows without a usable key


def test_no_golden_date_of_birth_is_implausible(fuzzed):
    cfg = load_config(fuzzed[0])
    earliest, latest = plausible_birth_dates()
    with store.opened(cfg.serving_store) as engine, engine.connect() as conn:
        dobs = pd.read_sql("SELECT date_of_birth FROM golden_records", conn)["date_of_birth"].dropna()
    dobs = pd.to_datetime(dobs)
    assert len(dobs) and dobs.between(pd.Timestamp(earliest), pd.Timestamp(latest)).all()


@pytest.mark.parametrize("server", ["postgres", "mariadb"])
def test_the_same_rows_pull_from_a_server(request, tmp_path, server):
    url = request.getfixturevalue(f"{server}_url")
    config = write_sources(tmp_path, {name: url for name in SOURCES}, rows=4_000)
    cfg = load_config(config)
    ws = Workspace.for_config(cfg)
    try:
        for name in SOURCES:
            result = pull_source(cfg, name, ws)
            assert result.rows_read == source_rows(url, name)
            assert result.staged_total + result.quarantined_total == result.rows_read
    finally:
        ws.close()
