"""Crash tests with the sources in SQLite (tests/crash_runs.py): killed in pull, mid-publish and after a write-back
commit, then run to the end, the demo ends as after one uninterrupted run."""

from __future__ import annotations

import pytest

from tests import crash_runs
from tests.crash_runs import crash_then_converge

pytestmark = pytest.mark.slow(seconds=30)

pristine = crash_runs.pristine  # its module-scoped fixture: a demo of its own in this module


def test_sqlite_killed_in_pull_publish_and_write_back_converges(pristine, tmp_path):
    points = ["pull:before-commit", "publish:mid", "writeback:after-commit"]
    got = crash_then_converge(pristine, tmp_path, None, points, None)
    interrupted = got["runs"][got["runs"]["message"].fillna("").str.startswith("interrupted")]
    assert len(interrupted) == 1 and set(interrupted["status"]) == {"failed"}  # the run killed mid-publish
