"""Runs started by `hub serve` (steward actions applied at once) are recorded in the same Dagster instance as `hub
run`: $DAGSTER_HOME when set, else hub.yaml's `pipeline.dagster_home` (the demo's `.dagster` folder), so the Dagster UI
on that instance lists them all."""

from __future__ import annotations

import shutil
import signal
import subprocess

import dagster as dg
import pytest
from fastapi.testclient import TestClient

from hub import store
from hub.api import keys
from hub.config import load_config
from pipelines.build import APPLY_JOB
from pipelines.entry import create_app, main
from pipelines.run import run_pipeline
from pipelines.sensors import PIPELINE_JOB
from tests.built_once import demo_with_model

pytestmark = [pytest.mark.slow(seconds=20), pytest.mark.usefixtures("hub_yaml_dagster_instance")]


@pytest.mark.parametrize("where", ["DAGSTER_HOME", "pipeline.dagster_home"])
def test_an_apply_run_started_through_the_api_is_listed_beside_hub_run(tmp_path_factory, tmp_path, monkeypatch, where):
    # the crash tests' demo, built once per session with its model (tests/built_once.py): no run here trains one
    shutil.copytree(demo_with_model(tmp_path_factory, customers=60, seed=5), tmp_path / "demo")
    config = tmp_path / "demo" / "hub.yaml"
    if where == "DAGSTER_HOME":
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
        (tmp_path / "home").mkdir()
    else:
        monkeypatch.delenv("DAGSTER_HOME", raising=False)
        assert load_config(config).pipeline.dagster_home == tmp_path / "demo" / ".dagster"  # what the demo writes
    assert main(["run", "--config", str(config), "--log-level", "ERROR"]) == 0

    cfg = load_config(config)
    engine = store.open_store(cfg.serving_store)
    steward = {"Authorization": f"Bearer {keys.create_key(engine, 'sue', 'steward')[1]}"}
    app = create_app(cfg, engine, config_path=str(config))
    with TestClient(app) as client:
        assert client.post("/v1/review/apply", headers=steward).status_code == 202
        assert app.state.applier.wait_idle(300)
        last = client.get("/v1/review/apply", headers=steward).json()["last"]
    engine.dispose()
    assert last["success"], last["error"]

    if where == "DAGSTER_HOME":
        instance = dg.DagsterInstance.get()
    else:
        instance = dg.DagsterInstance.from_config(str(tmp_path / "demo" / ".dagster"))
    with instance:
        jobs = {r.run_id: r.job_name for r in instance.get_runs()}
    assert jobs[last["dagster_run_id"]] == APPLY_JOB
    assert sorted(jobs.values()) == sorted([PIPELINE_JOB, APPLY_JOB])


def test_a_run_in_a_process_that_ignores_sigint_leaves_sigterm_as_it_was(tmp_path_factory, tmp_path):
    """A process started in the background (cron, nohup, a CI job) ignores SIGINT. Dagster hands SIGTERM SIGINT's
    handler when a run ends: SIGTERM was then ignored too, by the process and by everything it started, so a later
    run's log capture could not stop its `tail` (30 s a step, and the `tail` left running)."""
    shutil.copytree(demo_with_model(tmp_path_factory, customers=60, seed=5), tmp_path / "demo")
    sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
    sigterm = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        assert run_pipeline(str(tmp_path / "demo" / "hub.yaml"), log_level="ERROR").success
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
        child = subprocess.Popen(["sleep", "60"])
        child.terminate()
        assert child.wait(timeout=10) == -signal.SIGTERM
    finally:
        signal.signal(signal.SIGINT, sigint)
        signal.signal(signal.SIGTERM, sigterm)
