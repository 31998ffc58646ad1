"""Incremental golden builds (golden_record.incremental) against full ones: after a random sequence of source inserts,
edits and deletes, steward decisions, pins and unpins and consent choices, each taken by an incremental run, a full
rebuild (`hub run --full`) finds nothing to change, in the workspace or in the serving store."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from connectors.demo import init_demo
from hub import store
from hub.catalogue import GOLDEN_CONFLICTS, GOLDEN_CONTESTED, GOLDEN_LINEAGE, GOLDEN_MEMBERS, GOLDEN_VALUES
from hub.config import load_config
from hub.workspace import Workspace
from pipelines.run import run_pipeline

NOTHING = {"new": 0, "changed": 0, "lineage_updated": 0, "retired": 0, "xref_changed": 0}
TABLES = (GOLDEN_MEMBERS, GOLDEN_VALUES, GOLDEN_LINEAGE, GOLDEN_CONTESTED, GOLDEN_CONFLICTS)


def _run(config: Path, full: bool = False) -> dict:
    summary = run_pipeline(str(config), full=full, reconcile=True, log_level="WARNING")
    assert summary.success, summary.errors
    return summary.metadata


def _published(metadata: dict) -> dict:
    return {k: metadata["published_golden"][k] for k in NOTHING}


def _state(config: Path) -> dict[str, pd.DataFrame]:
    """The golden tables of the workspace and the store's current golden records and xref, sorted."""
    cfg = load_config(config)
    out = {}
    ws = Workspace.for_config(cfg)
    try:
        for table in TABLES:
            frame = ws.con.execute(f"SELECT * FROM {table} ORDER BY ALL").df()
            out[table] = frame.reset_index(drop=True)
    finally:
        ws.close()
    engine = store.open_store(cfg.serving_store)
    try:
        with engine.connect() as conn:
            golden = store.current_golden(conn).drop(columns=["updated_at", "run_id"], errors="ignore")
            out["store golden"] = golden.sort_values("golden_id").reset_index(drop=True)
            out["store xref"] = (
                store.current_xref(conn).sort_values(["source_system", "source_key"]).reset_index(drop=True)
            )
    finally:
        engine.dispose()
    return out


def _edit_sources(folder: Path, rng: random.Random) -> None:
    """An edit, an insert (a near copy of a customer: another record of that person) and a delete in web.db."""
    con = sqlite3.connect(folder / "web.db")
    ids = [r[0] for r in con.execute("SELECT id FROM users ORDER BY id")]
    names = [r[0] for r in con.execute("SELECT DISTINCT last_name FROM users WHERE last_name IS NOT NULL")]
    edited, copied, deleted = rng.sample(ids, 3)
    con.execute(
        "UPDATE users SET last_name = ?, city = upper(city), updated_at = '2099-01-01T00:00:00' WHERE id = ?",
        [rng.choice(names), edited],
    )
    columns = [r[1] for r in con.execute("PRAGMA table_info(users)") if r[1] != "id"]
    picked = ", ".join(f"{c} || 'x'" if c == "username" else c for c in columns)
    con.execute(f"INSERT INTO users ({', '.join(columns)}) SELECT {picked} FROM users WHERE id = ?", [copied])
    con.execute("DELETE FROM users WHERE id = ?", [deleted])
    con.commit()
    con.close()


def _steward(config: Path, rng: random.Random) -> None:
    """A match or not-a-match decision, a pin or an unpin, and a consent choice through the hub."""
    cfg = load_config(config)
    rules = store.consent.Rules.of(cfg.consent)
    engine = store.open_store(cfg.serving_store)
    try:
        with engine.connect() as conn:
            xref = store.current_xref(conn)
            pins = store.overrides(conn)
        by_golden = xref.groupby("golden_id")
        multi = [g for g, rows in by_golden if len(rows) > 1]
        rid = (xref["source_system"] + ":" + xref["source_key"]).tolist()
        with store.write_transaction(engine) as conn:
            if rng.random() < 0.5 and multi:
                rows = by_golden.get_group(rng.choice(multi))
                pair = sorted((rows["source_system"] + ":" + rows["source_key"]).tolist()[:2])
                store.decide(conn, pair[0], pair[1], "not_match", "tester")
            else:
                pair = sorted(rng.sample(rid, 2))
                if (
                    xref.set_index(xref["source_system"] + ":" + xref["source_key"]).loc[pair, "golden_id"].nunique()
                    > 1
                ):
                    store.decide(conn, pair[0], pair[1], "match", "tester")
            golden = rng.choice(sorted(xref["golden_id"].unique()))
            if len(pins) and rng.random() < 0.4:
                row = pins.iloc[0]
                store.unpin(conn, row["golden_id"], row["field"])
            else:
                store.pin(conn, golden, "city", rng.choice(["Pinford", "Oldtown"]), "tester")
            store.consent.record(
                conn, rules, rng.choice(sorted(xref["golden_id"].unique())), channel="email",
                purpose=rules.source_purpose, value=rng.choice(["granted", "denied"]),
                legal_basis=rules.source_legal_basis, source="api", recorded_by="tester",
            )  # fmt: skip
    finally:
        engine.dispose()


@pytest.fixture
def demo(tmp_path) -> Path:
    folder = tmp_path / "demo"
    init_demo(folder, customers=80, seed=11)
    return folder / "hub.yaml"


def test_an_unchanged_run_rebuilds_nothing_and_publishes_nothing(demo):
    first = _run(demo)
    assert first["golden_records"]["full_build"] and first["golden_records"]["rebuilt"] > 0
    again = _run(demo)
    assert not again["golden_records"]["full_build"]
    assert again["golden_records"]["rebuilt"] == 0
    assert _published(again) == NOTHING
    # the gate validated every row of the full build, and nothing of a build that changed nothing
    assert first["golden_records"]["gate_scope"] == "all rows" and first["golden_records"]["gate_rows_validated"] > 0
    assert again["golden_records"]["gate_rows_validated"] == 0


@pytest.mark.parametrize("seed", [5])
def test_incremental_runs_agree_with_a_full_rebuild_after_random_changes(demo, seed):
    rng = random.Random(seed)
    _run(demo)
    rebuilt = []
    for _ in range(3):
        if rng.random() < 0.8:
            _edit_sources(demo.parent, rng)
        _steward(demo, rng)
        metadata = _run(demo)
        assert not metadata["golden_records"]["full_build"]
        assert metadata["golden_records"]["gate_scope"].startswith("changed since the last gated publish")
        rebuilt.append((metadata["golden_records"]["rebuilt"], metadata["golden_records"]["golden_records"]))
    assert all(0 < n < total for n, total in rebuilt), rebuilt  # the incremental path, not a full one
    before = _state(demo)
    full = _run(demo, full=True)
    assert full["golden_records"]["full_build"] and full["golden_records"]["gate_scope"] == "all rows"
    assert _published(full) == NOTHING
    after = _state(demo)
    for name, frame in before.items():
        pd.testing.assert_frame_equal(frame, after[name], obj=name)
