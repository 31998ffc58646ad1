"""Test data that takes seconds to build (a demo after a pipeline run, a trained model), built once per test session
and shared by every test process: `make test` runs pytest-xdist workers, each in a temporary folder of its own under
one folder of the session, and the first worker to ask builds the data there while the others wait for it."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
import pytest
from filelock import FileLock

from connectors.demo import init_demo
from hub.catalogue import MATCH_MODELS
from hub.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def session_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The temporary folder every process of this test session sees: the parent of a worker's own one."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], Any]) -> tuple[Path, Any]:
    """The folder `name`, filled by `build(folder)` once per session, and what that call returned (pickled, so a
    worker that did not build it gets it too). Treat the folder as read-only: copy it before changing anything."""
    folder = session_folder(tmp_path_factory) / name
    result = folder.with_name(f"{name}.result.pickle")
    with FileLock(f"{folder}.lock"):
        if not result.exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed half-way
            folder.mkdir(parents=True)
            result.write_bytes(pickle.dumps(build(folder)))
    return folder, pickle.loads(result.read_bytes())


def demo_with_model(tmp_path_factory: pytest.TempPathFactory, customers: int, seed: int) -> Path:
    """`hub demo init` with these customers and seed, its workspace holding only a model trained on its records (as
    `hub pull` then `hub model train` on a copy leave it): a first run scores with it instead of training one.
    Built once per session; copy it before use."""
    return built_once(
        tmp_path_factory, f"demo-{customers}-{seed}-with-model", partial(_demo_with_model, customers, seed)
    )[0]


def _demo_with_model(customers: int, seed: int, base: Path) -> None:
    init_demo(base, customers=customers, seed=seed)
    with tempfile.TemporaryDirectory(dir=base.parent) as scratch:
        copy = Path(shutil.copytree(base, Path(scratch) / "demo"))

        for args in (["pull"], ["model", "train"]):
            done = hub_process([*args, "--config", str(copy / "hub.yaml")])
            assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
        trained, into = load_config(copy / "hub.yaml").workspace, load_config(base / "hub.yaml").workspace
        into.parent.mkdir(parents=True)
        with duckdb.connect(str(into)) as con:
            con.execute(f"ATTACH '{trained}' AS trained (READ_ONLY)")
            con.execute(f"CREATE TABLE {MATCH_MODELS} AS SELECT * FROM trained.{MATCH_MODELS}")


def hub_process(args: list[str], env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """`hub ARGS` in a process of its own (never forked from the test process: a fork of a process with threads
    running, as pytest's is, can deadlock in the child), without $DAGSTER_HOME; `env` adds (None: removes) variables."""
    run_env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    run_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), run_env.get("PYTHONPATH", "")])
    for name, value in (env or {}).items():
        if value is None:
            run_env.pop(name, None)
        else:
            run_env[name] = value
    cmd = [sys.executable, "-m", "pipelines.entry", *args]
    return subprocess.run(cmd, env=run_env, capture_output=True, text=True, timeout=900, check=False)
