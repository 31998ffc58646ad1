"""Steward actions reaching golden records at once: the apply_decisions job (`hub review apply`, and
`hub serve` after each action), and the workspace lock that keeps two jobs from interleaving."""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml
from fastapi.testclient import TestClient

from connectors.demo import init_demo
from hub import store
from hub.api import keys
from hub.api.apply import DecisionApplier
from hub.config import load_config
from hub.workspace import WorkspaceBusy, exclusive
from pipelines.build import APPLY_ASSETS, APPLY_JOB, build_definitions
from pipelines.entry import create_app, main
from pipelines.run import run_pipeline
from tests.test_steward import first_run

pytestmark = pytest.mark.slow(seconds=15)  # the file's weight in the suite's order (tests/conftest.py)


def _sources_digest(folder: Path) -> str:
    """The demo's source systems, byte for byte (apply must neither pull nor write back)."""
    h = hashlib.sha256()
    for f in sorted(folder.glob("*")):
        if f.is_file() and f.suffix in {".db", ".csv", ".json", ".jsonl"}:
            h.update(f.name.encode() + f.read_bytes())
    return h.hexdigest()


class Demo:
    """The steward tests' demo after its first run (a copy), applying steward actions as `apply_decisions` says."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, apply_decisions: str = "immediately"):
        folder = tmp_path_factory.mktemp("apply") / "demo"
        shutil.copytree(first_run(tmp_path_factory)[0], folder)
        self.folder, self.config = folder, folder / "hub.yaml"
        raw = yaml.safe_load(self.config.read_text())
        raw["pipeline"] = {"apply_decisions": apply_decisions, "workspace_wait_seconds": 2}
        # a wider review band than the default: at 300 customers the model is sure of all but one or two pairs
        raw["matching"] = {"auto_match_threshold": 0.999, "review_threshold": 0.5}
        self.config.write_text(yaml.safe_dump(raw, sort_keys=False))
        self.cfg = load_config(self.config)
        self.engine = store.open_store(self.cfg.serving_store)
        self.steward = {"Authorization": f"Bearer {keys.create_key(self.engine, 'steward sue', 'steward')[1]}"}
        self.reader = {"Authorization": f"Bearer {keys.create_key(self.engine, 'reader rob', 'reader')[1]}"}
        self.app = create_app(self.cfg, self.engine, config_path=str(self.config))
        self.client = TestClient(self.app)

    def golden_of(self, rid: str) -> str:
        system, key = rid.split(":", 1)
        with self.engine.connect() as conn:
            return store.golden_by_source_key(conn, system, key)["golden_id"]

    def head(self) -> str | None:
        with self.engine.connect() as conn:
            return store.last_published_run(conn)

    def queued_pair_in_two_golden_records(self, skip: int = 0) -> dict:
        queue = self.client.get("/v1/review", params={"page_size": 200}, headers=self.reader).json()["results"]
        return [p for p in queue if not p["same_golden"] and p["golden_id_l"] and p["golden_id_r"]][skip]

    def decide(self, pair: dict, decision: str):
        body = {"id_l": pair["id_l"], "id_r": pair["id_r"], "decision": decision}
        return self.client.post("/v1/review/decision", json=body, headers=self.steward)

    def settle(self) -> None:
        assert self.app.state.applier.wait_idle(120), "apply_decisions did not finish"

    def close(self) -> None:
        self.app.state.applier.close()
        self.client.close()
        self.engine.dispose()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    d = Demo(tmp_path_factory)
    yield d
    d.close()


def test_a_match_decision_reaches_golden_records_at_once(demo):
    pair = demo.queued_pair_in_two_golden_records()
    before, sources = demo.head(), _sources_digest(demo.folder)
    r = demo.decide(pair, "match")
    assert r.status_code == 200 and r.json()["applies"] == "now"
    demo.settle()
    status = demo.client.get("/v1/review/apply", headers=demo.reader).json()
    assert status["mode"] == "immediately" and status["state"] == "idle" and not status["pending"]
    assert status["last"]["success"] and status["last"]["error"] is None
    assert status["last"]["published_run"] == demo.head() != before
    assert demo.golden_of(pair["id_l"]) == demo.golden_of(pair["id_r"])
    merged_away = {pair["golden_id_l"], pair["golden_id_r"]} - {demo.golden_of(pair["id_l"])}
    redirected = demo.client.get(f"/v1/golden/{merged_away.pop()}", headers=demo.reader).json()
    assert redirected["redirected"] and redirected["golden_id"] == demo.golden_of(pair["id_l"])
    assert _sources_digest(demo.folder) == sources, "apply must not write back"


def test_a_pin_reaches_the_golden_record_at_once(demo):
    gid = demo.golden_of(demo.queued_pair_in_two_golden_records()["id_l"])
    r = demo.client.post(f"/v1/golden/{gid}/pin", json={"field": "city", "value": "Pinchester"}, headers=demo.steward)
    assert r.status_code == 200 and r.json()["applies"] == "now"
    demo.settle()
    assert demo.client.get(f"/v1/golden/{gid}", headers=demo.reader).json()["attributes"]["city"] == "Pinchester"
    r = demo.client.delete(f"/v1/golden/{gid}/pin/city", headers=demo.steward)
    assert r.json()["applies"] == "now"
    demo.settle()
    assert demo.client.get(f"/v1/golden/{gid}", headers=demo.reader).json()["attributes"]["city"] != "Pinchester"


def test_actions_during_a_run_are_taken_by_one_more_run(demo):
    """Two decisions in quick succession: the second lands while the first run works (or before it
    starts); both are in golden records once the applier is idle, with no action left pending."""
    a, b = demo.queued_pair_in_two_golden_records(0), demo.queued_pair_in_two_golden_records(1)
    for pair in (a, b):
        r = demo.decide(pair, "match")
        assert r.status_code == 200
    demo.settle()
    assert demo.golden_of(a["id_l"]) == demo.golden_of(a["id_r"])
    assert demo.golden_of(b["id_l"]) == demo.golden_of(b["id_r"])
    assert not demo.client.get("/v1/review/apply", headers=demo.reader).json()["pending"]


def test_apply_by_hand_needs_a_steward_and_a_server_that_knows_its_hub_yaml(demo):
    assert demo.client.post("/v1/review/apply", headers=demo.reader).status_code == 403
    r = demo.client.post("/v1/review/apply", headers=demo.steward)
    assert r.status_code == 202
    demo.settle()
    with TestClient(create_app(demo.cfg, demo.engine)) as bare:
        r = bare.post("/v1/review/apply", headers=demo.steward)
        assert r.status_code == 409 and "hub review apply" in r.json()["detail"]
        assert bare.get("/v1/review/apply", headers=demo.reader).json()["enabled"] is False


def test_hub_review_apply_runs_only_the_apply_job(demo, capsys):
    """`hub review apply` after a CLI decision: split applied, nothing pulled, nothing written back."""
    with demo.engine.connect() as conn:
        multi = next(g for g in store.current_golden(conn, ["golden_id", "record_count"]).itertuples()
                     if g.record_count == 2)  # fmt: skip
        a, b = store.members(conn, multi.golden_id)
    sources = _sources_digest(demo.folder)
    config = str(demo.config)
    assert main(["review", "decide", a, b, "not_match", "--by", "cli cat", "--config", config]) == 0
    capsys.readouterr()
    assert main(["review", "apply", "--config", config]) == 0
    out = capsys.readouterr().out
    assert "apply_decisions run" in out and "succeeded" in out and demo.head() in out
    assert demo.golden_of(a) != demo.golden_of(b)
    assert _sources_digest(demo.folder) == sources


def test_the_apply_job_holds_only_the_steps_after_scoring(demo):
    job = build_definitions(str(demo.config)).resolve_job_def(APPLY_JOB)
    assets = {n.name for n in job.nodes}
    assert set(APPLY_ASSETS) <= assets and "golden_records_expectations" in assets
    assert not any(n.startswith(("raw_", "writeback_")) or n in {"scored_pairs", "match_model"} for n in assets)


def test_next_run_mode_leaves_actions_to_the_pipeline(tmp_path_factory):
    d = Demo(tmp_path_factory, apply_decisions="next_run")
    try:
        pair, head = d.queued_pair_in_two_golden_records(), d.head()
        r = d.decide(pair, "match")
        assert r.json()["applies"] == "next_run"
        time.sleep(0.5)
        assert d.head() == head and d.golden_of(pair["id_l"]) != d.golden_of(pair["id_r"])
        assert d.client.get("/v1/review/apply", headers=d.reader).json()["mode"] == "next_run"
    finally:
        d.close()


# -------------------------------------------------------------------------------------- the job lock


def test_a_second_holder_waits_then_gives_up_naming_the_first(tmp_path):
    path = tmp_path / "ws.duckdb"
    with exclusive(path, "hub pull", 0):
        lines: list[str] = []
        with pytest.raises(WorkspaceBusy, match=r"hub pull \(pid \d+"), exclusive(path, "hub golden", 0.3):
            pass
        with pytest.raises(WorkspaceBusy), exclusive(path, "hub golden", 0.3, lines.append):
            pass
        assert lines and "hub pull" in lines[0]
    with exclusive(path, "hub golden", 0):  # free again once released
        pass


def test_a_second_holder_goes_on_when_the_first_lets_go(tmp_path):
    path, order = tmp_path / "ws.duckdb", []
    held = threading.Event()

    def first() -> None:
        with exclusive(path, "first", 0):
            held.set()
            time.sleep(0.5)
            order.append("first done")

    t = threading.Thread(target=first)
    t.start()
    held.wait(5)
    with exclusive(path, "second", 10):
        order.append("second in")
    t.join()
    assert order == ["first done", "second in"]


def test_a_pipeline_run_waits_for_the_workspace_and_fails_clearly_when_it_stays_busy(demo):
    """A run cannot start its assets while another job holds the workspace: after
    pipeline.workspace_wait_seconds it fails naming the holder, and the store is untouched."""
    head = demo.head()
    with exclusive(demo.cfg.workspace, "a test holding the workspace", 0):
        summary = run_pipeline(
            str(demo.config), instance=dg.DagsterInstance.ephemeral(), log_level="CRITICAL", job_name=APPLY_JOB
        )
    assert not summary.success
    assert any("a test holding the workspace" in e for e in summary.errors), summary.errors
    assert demo.head() == head


def test_apply_before_any_pipeline_run_says_to_run_the_pipeline_first(tmp_path, capsys):
    init_demo(tmp_path, customers=30, seed=3)
    assert main(["review", "apply", "--config", str(tmp_path / "hub.yaml")]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "no scored pairs in the workspace yet: run the whole pipeline first" in out


def test_the_runner_prepares_before_the_first_action_and_a_failed_preparation_stops_nothing(caplog):
    """`hub serve` readies what apply_decisions needs (Great Expectations, ~4 s to import) in the runner's thread as
    soon as it starts, so a steward's first action does not wait for it; a preparation that fails is logged and the
    runs still happen."""
    ran, prepared = [], threading.Event()

    class Published:  # what the runner reads of a run's summary
        run_id, success, blocked, checks, errors = "r", True, False, [], []

        def value(self, asset: str, key: str) -> str:
            return "published-run"

    def run_apply() -> Published:
        ran.append(prepared.is_set())
        return Published()

    applier = DecisionApplier(run_apply, "immediately", prepare=prepared.set)
    try:
        assert prepared.wait(10) and not ran  # prepared with no action yet
        applier.after_change()
        assert applier.wait_idle(10) and ran == [True]
    finally:
        applier.close()

    def broken() -> None:
        raise RuntimeError("no GX here")

    applier = DecisionApplier(run_apply, "immediately", prepare=broken)
    try:
        applier.after_change()
        assert applier.wait_idle(10) and len(ran) == 2 and applier.status().last.success
    finally:
        applier.close()
    assert "preparing apply_decisions failed" in caplog.text
