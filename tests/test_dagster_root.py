"""Dagster's own tools load the hub's code location from the repository root: `dagster definitions validate` with
workspace.yaml and `dg check defs` with pyproject's [tool.dg] block. Without $HUB_CONFIG they take demo/hub.yaml (what
`make demo` writes); with no config at all they say in one line to set HUB_CONFIG."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connectors.demo import init_demo

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.slow(seconds=15)


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("HUB_CONFIG", "DAGSTER_HOME")}
    environ |= {"PYTHONPATH": str(ROOT), **env}  # this checkout's code, whatever the editable install points at
    return subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A directory laid out like the repository root after `make demo`: workspace.yaml and demo/hub.yaml."""
    where = tmp_path_factory.mktemp("root")
    shutil.copy(ROOT / "workspace.yaml", where)
    init_demo(where / "demo", customers=60, seed=5)
    return where


def validate(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run([str(BIN / "dagster"), "definitions", "validate", "-w", "workspace.yaml"], cwd, **env)


def test_workspace_yaml_defaults_to_the_demo_config(root):
    done = validate(root)
    assert done.returncode == 0, done.stderr
    assert "Validation successful" in done.stderr + done.stdout


def test_without_any_config_it_says_to_set_hub_config_in_one_line(tmp_path):
    shutil.copy(ROOT / "workspace.yaml", tmp_path)
    done = validate(tmp_path)
    assert done.returncode != 0
    [line] = [x for x in done.stderr.splitlines() if "error" in x.lower()]
    assert line.startswith("error: HUB_CONFIG: not set and no hub.yaml at ") and "set HUB_CONFIG=" in line
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr


def test_a_bad_hub_config_is_its_one_line_error(root, tmp_path):
    bad = tmp_path / "hub.yaml"
    bad.write_text("sources: {crm: {kind: sql, tabel: x}}\n")
    done = validate(root, HUB_CONFIG=str(bad))
    assert done.returncode != 0
    assert f"error: {bad}: sources.crm" in done.stderr
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr


@pytest.mark.skipif(not (ROOT / ".venv").exists(), reason="dg runs the project's .venv (make install creates it)")
def test_dg_check_defs_from_the_repository_root(root):
    done = run([str(BIN / "dg"), "check", "defs"], ROOT, HUB_CONFIG=str(root / "demo" / "hub.yaml"))
    assert done.returncode == 0, done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr
