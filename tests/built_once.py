"""Test data that takes seconds to build (a demo after a pipeline run, a trained model), built once per test session
and shared by every test process: `make test` runs pytest-xdist workers, each in a temporary folder of its own under
one folder of the session, and the first worker to ask builds the data there while the others wait for it.

`hub_process` runs `hub` in a process of its own for the tests that kill it (SIGKILL) or need it apart. Such a
process is forked from a server process (multiprocessing's forkserver) that imported Dagster, Splink and Great
Expectations once, with no thread of Python's running: a fresh interpreter would import them again (about 4 s of CPU
per run), and a fork of pytest's process, which has threads running, can deadlock in the child."""

from __future__ import annotations

import multiprocessing
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from functools import cache, partial
from pathlib import Path
from typing import Any

import duckdb
import pytest
from filelock import FileLock

from connectors import pull_source
from connectors.demo import init_demo
from golden_record.run import build_and_publish
from hub import store
from hub.catalogue import MATCH_MODELS
from hub.config import load_config
from hub.workspace import Workspace
from matching.run import match


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


# What `hub run` imports that takes seconds, imported once by the server `hub_process` forks from.
PRELOAD = ["tests.built_once", "pipelines.entry", "pipelines.run", "great_expectations", "splink", "dagster"]


def published_demo(base: Path, customers: int, seed: int) -> Path:
    """A demo at `base` after one pull, match and publish, nothing written back yet: its sources as the demo made them
    beside golden records ready to write."""
    init_demo(base, customers=customers, seed=seed)
    cfg = load_config(base / "hub.yaml")
    ws = Workspace.for_config(cfg)
    engine = store.open_store(cfg.serving_store)
    for name in cfg.sources:
        pull_source(cfg, name, ws)
    match(ws, cfg)
    build_and_publish(ws, cfg, engine)
    ws.close()
    engine.dispose()
    return base


def hub_process(args: list[str], env: dict[str, str | None] | None = None) -> subprocess.CompletedProcess:
    """`hub ARGS` in a process of its own (forked from a server with `hub`'s modules imported, never from the test
    process), without $DAGSTER_HOME; `env` adds (None: removes) variables. As subprocess.run with capture_output: a
    return code of -9 says SIGKILL ended it."""
    run_env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}
    for name, value in (env or {}).items():
        if value is None:
            run_env.pop(name, None)
        else:
            run_env[name] = value
    with tempfile.TemporaryDirectory() as scratch:
        out, err = Path(scratch, "stdout"), Path(scratch, "stderr")
        process = _forkserver().Process(target=_hub_main, args=(args, run_env, os.getcwd(), out, err))
        process.start()
        process.join(timeout=900)
        if process.exitcode is None:
            process.kill()
            process.join()
            raise subprocess.TimeoutExpired(["hub", *args], 900)
        return subprocess.CompletedProcess(["hub", *args], process.exitcode, out.read_text(), err.read_text())


@cache
def _forkserver() -> multiprocessing.context.ForkServerContext:
    """multiprocessing's forkserver context, its server (started on first use) importing PRELOAD."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


def _hub_main(args: list[str], env: dict[str, str], cwd: str, out: Path, err: Path) -> None:
    """In the forked process: `env` as the environment, stdout and stderr into files, then `hub ARGS`."""
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(opened, fd)
        os.close(opened)
    sys.argv = ["hub", *args]
    from pipelines.entry import main

    sys.exit(main(args))
