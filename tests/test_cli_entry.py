"""The entry points apart from the core: `hub` gets its stages from the composition root (pipelines/entry.py),
reads --config from $HUB_CONFIG by default, and ends any hub error with one line and its exit code."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from hub import cli
from hub.cli.parser import build_parser
from hub.config import load_config
from hub.errors import HubError
from hub.workspace import exclusive
from pipelines.entry import STAGES, main

ROOT = Path(__file__).resolve().parents[1]

HUB_YAML = """\
workspace: state/workspace.duckdb
serving_store: sqlite:///state/serving.db
pipeline: {workspace_wait_seconds: 0}
sources:
  web:
    kind: file
    path: web.csv
    primary_key: uid
    fields: {email: mail}
"""


def test_the_hub_script_runs_the_composition_root():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["hub"] == "pipelines.entry:main"


def test_hub_config_is_the_default_config(tmp_path, monkeypatch, capsys):
    assert build_parser().parse_args(["pull"]).config == "hub.yaml"
    path = tmp_path / "elsewhere.yaml"
    path.write_text(HUB_YAML)
    monkeypatch.setenv("HUB_CONFIG", str(path))
    for command in (["pull"], ["review", "list"], ["apikey", "list"], ["model", "train"], ["serve"]):
        assert build_parser().parse_args(command).config == str(path)
    assert build_parser().parse_args(["pull", "--config", "other.yaml"]).config == "other.yaml"

    assert main(["config", "check", "--offline"]) == 0
    assert capsys.readouterr().out.startswith(f"{path}: ok (1 sources: web;")


def test_a_busy_workspace_is_one_line_and_a_failure(tmp_path, capsys):
    config = tmp_path / "hub.yaml"
    config.write_text(HUB_YAML)
    with exclusive(load_config(config).workspace, "hub run", 0):
        code = main(["pull", "--config", str(config)])
    assert code == 1
    out, err = capsys.readouterr()
    [line] = err.splitlines()
    assert line.startswith("error: workspace ") and "is busy: hub run (pid " in line and "try again" in line
    assert out == ""


class Refused(HubError):
    exit_code = 3


def test_a_stage_s_hub_error_ends_the_command_with_its_message_and_code(tmp_path, capsys):
    def refuse(*_args: object, **_options: object) -> None:
        raise Refused("the demo says no")

    stages = dataclasses.replace(STAGES, init_demo=refuse)
    assert cli.main(["demo", "init", "--dir", str(tmp_path)], stages) == 3
    assert capsys.readouterr().err == "error: the demo says no\n"


def test_any_other_exception_is_a_bug_and_keeps_its_traceback(tmp_path):
    def broken(*_args: object, **_options: object) -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        cli.main(["demo", "init", "--dir", str(tmp_path)], dataclasses.replace(STAGES, init_demo=broken))
