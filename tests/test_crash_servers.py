"""Crash tests with the sources (and, on PostgreSQL, the serving store) on the database servers
(tests/crash_runs.py): killed around a write-back's source commit, then run to the end, the demo ends as after one
uninterrupted run on a database of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import crash_runs
from tests.conftest import MARIADB_URL, POSTGRES_URL, _fresh_database
from tests.crash_runs import crash_then_converge

pytestmark = pytest.mark.slow(seconds=60)

pristine = crash_runs.pristine  # its module-scoped fixture: a demo of its own in this module


@pytest.fixture
def postgres_reference_url() -> Iterator[str]:
    yield from _fresh_database(POSTGRES_URL, "postgres", '"', " WITH (FORCE)")


@pytest.fixture
def mariadb_reference_url() -> Iterator[str]:
    yield from _fresh_database(MARIADB_URL, "mariadb", "`")


@pytest.mark.postgres
def test_postgres_killed_before_the_source_commit_and_before_the_read_back_converges(
    pristine, tmp_path, postgres_url, postgres_reference_url
):
    points = ["writeback:before-commit", "writeback:before-read-back"]
    crash_then_converge(pristine, tmp_path, postgres_url, points, postgres_reference_url)


@pytest.mark.mariadb
def test_mariadb_killed_after_the_source_commit_converges(pristine, tmp_path, mariadb_url, mariadb_reference_url):
    crash_then_converge(pristine, tmp_path, mariadb_url, ["writeback:after-commit"], mariadb_reference_url)
