"""The Dagster pipeline end to end on demo data: pull -> match -> golden -> gate -> publish -> write-back.

One demo is built and run once per module (a run takes tens of seconds); the tests then look at what
that run did to the serving store and to the four source databases, and run it again where they need to.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

import expectations
from connectors import open_connector
from connectors.demo import bad_rows, init_demo
from hub import store
from hub.catalogue import GOLDEN_GATE
from hub.config import ADDRESS_BLOCK, load_config
from hub.workspace import Workspace
from pipelines.build import APPLY_JOB
from pipelines.checks import golden_check
from pipelines.entry import main
from pipelines.resources import HubResource, WorkspaceResource
from pipelines.run import run_pipeline
from tests.value_keys import keys

pytestmark = pytest.mark.slow(seconds=45)

SYSTEMS = ("billing", "web", "app", "crm")
PEOPLE = 1000


def _ephemeral() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


def table_digests(db: Path) -> dict[str, str]:
    """A digest of every table's full contents (rows in key order) and its schema, read without writing."""
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    out = {}
    for name, sql in con.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name"):
        rows = con.execute(f'SELECT * FROM "{name}" ORDER BY 1').fetchall()
        out[name] = hashlib.sha256(repr((sql, rows)).encode()).hexdigest()
    con.close()
    return out


def serving_store_state(db: Path) -> tuple[str, int, dict[str, str]]:
    """The serving store's file bytes (sha256), the size of its write-ahead log, every table's contents."""
    wal = db.with_name(f"{db.name}-wal")
    return hashlib.sha256(db.read_bytes()).hexdigest(), wal.stat().st_size if wal.exists() else 0, table_digests(db)


def column_digests(db: Path, table: str, exclude: set[str]) -> dict[str, str]:
    """Per column of `table` (except `exclude`): a digest of its values in rowid order."""
    con = sqlite3.connect(db)
    cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")') if r[1] not in exclude]
    out = {c: hashlib.sha256(repr(con.execute(f'SELECT "{c}" FROM "{table}" ORDER BY rowid').fetchall()).encode())
           .hexdigest() for c in cols}  # fmt: skip
    con.close()
    return out


def harmonized_columns(cfg, name: str) -> set[str]:
    src = cfg.sources[name]
    cols = {src.fields[f].column for f in src.accepts}
    if src.golden_id and src.golden_id.column:
        cols.add(src.golden_id.column)
    return cols


def snapshot(demo: Path, cfg) -> dict:
    snap = {}
    for name in SYSTEMS:
        db = demo / f"{name}.db"
        table = cfg.sources[name].table
        tables = {t: d for t, d in table_digests(db).items() if t != table and t != "hub_golden_ids"}
        snap[name] = {"tables": tables, "columns": column_digests(db, table, harmonized_columns(cfg, name))}
    return snap


def source_values(cfg, name: str) -> pd.DataFrame:
    """The source's current rows as canonical records, read through its connector."""
    frames = [b.records for b in open_connector(name, cfg).stream(None, full=True)]
    return pd.concat(frames, ignore_index=True)


def unreadable(cfg, name: str) -> set[tuple[str, str]]:
    """(source_key, field) of every value the source holds that the hub cannot read (field warnings)."""
    batches = open_connector(name, cfg).stream(None, full=True)
    return {(k, f) for b in batches for k, f in zip(b.warnings["source_key"], b.warnings["field"], strict=True)}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """A demo whose pristine copy stays aside, and the summary of one full pipeline run over it."""
    base = tmp_path_factory.mktemp("pipeline")
    pristine = base / "pristine"
    init_demo(pristine, customers=PEOPLE, seed=11)
    work = base / "demo"
    shutil.copytree(pristine, work)
    cfg = load_config(work / "hub.yaml")
    before = snapshot(work, cfg)
    summary = run_pipeline(str(work / "hub.yaml"), instance=_ephemeral())
    return work, cfg, before, summary


def test_the_job_materializes_every_asset_and_every_check_passes(demo):
    _work, cfg, _before, r = demo
    assert r.success and not r.blocked and not r.skipped_steps, r.errors
    expected = {f"raw_{s}" for s in cfg.sources} | {f"writeback_{s}" for s in cfg.sources}
    expected |= {"standardized_records", "match_model", "scored_pairs", "clusters", "review_queue"}
    expected |= {"golden_records", "published_golden", "retention_purge"}
    assert set(r.metadata) == expected
    assert len(r.checks) == len(cfg.sources) + 2 and all(c.passed for c in r.checks), [c.summary for c in r.checks]
    assert [c.asset for c in r.checks if c.blocking] == ["golden_records"]
    assert r.value("review_queue", "queue_size") >= 0 and r.value("clusters", "records_merged") > 0
    assert sum(r.value(f"writeback_{s}", "values_changed") for s in cfg.sources) > 0


def test_golden_record_count_is_within_two_percent_of_the_true_number_of_people(demo):
    work, _cfg, _before, r = demo
    truth = pd.read_csv(work / "ground_truth.csv", dtype=str, keep_default_na=False)
    people = truth.loc[~truth["bad_reason"].isin(bad_rows.QUARANTINED), "person_id"].nunique()  # warned rows match
    golden = r.value("golden_records", "golden_records")
    assert abs(golden - people) / people <= 0.02, (golden, people)


def test_after_write_back_every_value_written_says_what_the_golden_record_says_and_blanks_are_filled(demo):
    """Write-back writes golden values only, fills the blanks it can (where the record's own address is not another
    place and its golden record is not two people), and never rewrites a value that says the same."""
    work, cfg, _before, r = demo
    pristine = load_config(work.parent / "pristine" / "hub.yaml")
    engine = store.open_store(cfg.serving_store)
    with engine.connect() as conn:
        xref = store.current_xref(conn)
        golden = store.current_golden(conn).set_index("golden_id")
    engine.dispose()
    ws = Workspace.for_config(cfg)
    conflicted = set(ws.con.execute("SELECT golden_id FROM golden_conflicts").df()["golden_id"])
    written = filled = 0
    for name in SYSTEMS:
        src = cfg.sources[name]
        ids = xref[xref.source_system == name][["source_key", "golden_id"]]
        now = source_values(cfg, name).merge(ids, on="source_key").set_index("source_key")
        was = source_values(pristine, name).set_index("source_key").loc[now.index]
        want = golden.loc[now["golden_id"]].set_index(now.index)
        two_people = now["golden_id"].isin(conflicted).to_numpy()
        unread = unreadable(pristine, name)
        for field in [f for f in src.accepts if f not in ADDRESS_BLOCK and not f.startswith("consent_")]:
            k_was, k_now, k_want = (keys(ws, field, x[field]) for x in (was, now, want))
            changed = (k_was.fillna("\0") != k_now.fillna("\0")).to_numpy()
            assert (k_now[changed] == k_want[changed]).all(), (name, field)
            text = np.array([(k, field) in unread for k in now.index], dtype=bool)  # unreadable is not blank
            assert not changed[text].any(), (name, field)
            blank = was[field].isna().to_numpy() & want[field].notna().to_numpy() & ~two_people & ~text
            assert now[field].notna().to_numpy()[blank].all(), (name, field)
            written += int(changed.sum())
            filled += int(blank.sum())
    ws.close()
    assert filled > 500 and written >= filled, (filled, written)
    assert sum(r.value(f"writeback_{s}", "values_changed") for s in cfg.sources) > written


def test_write_back_leaves_every_other_column_and_table_byte_for_byte_unchanged(demo):
    work, cfg, before, _r = demo
    assert snapshot(work, cfg) == before
    con = sqlite3.connect(work / "billing.db")
    written = con.execute("SELECT count(*) FROM accounts WHERE hub_customer_id LIKE 'G%'").fetchone()[0]
    con.close()
    assert written > 0


def _golden_state(cfg) -> tuple[pd.DataFrame, pd.DataFrame]:
    engine = store.open_store(cfg.serving_store)
    with engine.connect() as conn:
        golden = store.current_golden(conn, ["golden_id", *store.ATTRIBUTES]).set_index("golden_id")
        xref = store.current_xref(conn).set_index(["source_system", "source_key"])
    engine.dispose()
    return golden, xref


def test_a_second_run_with_no_new_data_writes_only_what_new_golden_values_require(demo):
    """Write-back changes what matching sees: harmonized records can score higher and reveal a true
    duplicate, and the merged golden record's new values are then written. Everything else writes
    nothing, and once nothing merges any more a run writes nothing at all."""
    work, cfg, _before, _r = demo
    golden_before, xref_before = _golden_state(cfg)
    again = run_pipeline(str(work / "hub.yaml"), instance=_ephemeral())
    assert again.success
    golden_after, xref_after = _golden_state(cfg)
    engine = store.open_store(cfg.serving_store)
    with engine.connect() as conn:
        written = store.writeback_audit(conn, run_id=again.value("published_golden", "run_id"))
    engine.dispose()
    for row in written[["source_system", "source_key"]].drop_duplicates().itertuples(index=False):
        old_id, new_id = xref_before.loc[tuple(row), "golden_id"], xref_after.loc[tuple(row), "golden_id"]
        old, new = golden_before.loc[old_id], golden_after.loc[new_id]
        assert old_id != new_id or not old.astype("string").equals(new.astype("string")), row
    assert len(written) <= 20  # a handful of merges, not a rewrite
    assert sum(again.value(f"writeback_{name}", "conflicts") for name in cfg.sources) == 0

    third = run_pipeline(str(work / "hub.yaml"), instance=_ephemeral())
    for name in cfg.sources:
        assert third.value(f"writeback_{name}", "values_changed") == 0, name


def test_a_failing_blocking_expectation_stops_publish_and_write_back(demo, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    work, cfg, _before, _r = demo
    copy = tmp_path / "demo"
    shutil.copytree(work, copy)
    cfg = load_config(copy / "hub.yaml")
    engine = store.open_store(cfg.serving_store)
    with engine.connect() as conn:
        some_id = store.current_golden(conn, ["golden_id"])["golden_id"].iloc[0]
        runs_before = len(store.runs(conn))
    with store.write_transaction(engine) as conn:
        store.pin(conn, some_id, "email", "not-an-email", "test")  # a steward pins an invalid value
    # A source change that write-back would otherwise push.
    con = sqlite3.connect(copy / "web.db")
    con.execute("UPDATE users SET first_name = 'Zebedee', updated_at = '2099-01-01T00:00:00' WHERE id = "
                "(SELECT min(id) FROM users)")  # fmt: skip
    con.commit()
    con.close()
    digests = {s: table_digests(copy / f"{s}.db") for s in SYSTEMS}

    dry = run_pipeline(str(copy / "hub.yaml"), dry_run=True, instance=_ephemeral())
    assert dry.blocked  # the gate reported its failure instead of failing to record it
    with engine.connect() as conn:  # a dry run records nothing, not even the blocked gate
        assert len(store.runs(conn)) == runs_before

    r = run_pipeline(str(copy / "hub.yaml"), instance=_ephemeral())
    assert r.blocked and not r.success
    gate = next(c for c in r.checks if c.blocking)
    assert not gate.passed and "email" in gate.summary
    assert "published_golden" not in r.metadata and not any(k.startswith("writeback_") for k in r.metadata)
    # retention_purge follows published_golden: the next run that publishes purges
    assert set(r.skipped_steps) == {"published_golden", "retention_purge", *(f"writeback_{s}" for s in SYSTEMS)}
    assert {s: table_digests(copy / f"{s}.db") for s in SYSTEMS} == digests
    with engine.connect() as conn:
        runs = store.runs(conn)
        assert store.golden_by_id(conn, some_id)["email"] != "not-an-email"
    engine.dispose()
    assert len(runs) == runs_before + 1
    assert runs.iloc[-1]["status"] == "failed" and "quality gate" in runs.iloc[-1]["message"]

    assert main(["run", "--config", str(copy / "hub.yaml"), "--log-level", "ERROR"]) == 1  # still pinned
    out = capsys.readouterr().out
    assert "BLOCKED" in out and "publish and write-back did not run" in out and "skipped: published_golden" in out


def test_dry_run_leaves_the_serving_store_byte_identical_and_a_real_run_then_publishes(demo, tmp_path, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    work, _cfg, _before, _r = demo
    copy = tmp_path / "demo"
    shutil.copytree(work, copy)
    config = str(copy / "hub.yaml")
    cfg = load_config(config)
    serving = Path(sa.make_url(cfg.serving_store).database)
    engine = store.open_store(cfg.serving_store)
    with engine.connect() as conn:
        xref = store.current_xref(conn)
        runs = len(store.runs(conn))
    engine.dispose()
    sizes = xref.groupby("golden_id").size()
    alone = xref[(xref.source_system == "web") & xref.golden_id.isin(sizes[sizes == 1].index)].iloc[0]
    con = sqlite3.connect(copy / "web.db")  # a change a real run publishes as a new version
    con.execute("UPDATE users SET first_name = 'Zebedee', updated_at = '2099-01-01T00:00:00' WHERE id = ?",
                [int(alone.source_key)])  # fmt: skip
    con.commit()
    con.close()
    sources = {s: table_digests(copy / f"{s}.db") for s in SYSTEMS}
    before = serving_store_state(serving)

    dry = run_pipeline(config, dry_run=True, instance=_ephemeral())
    assert dry.success and dry.dry_run
    would = dry.metadata["published_golden"]
    assert would["changed"] >= 1 and would["new"] == 0 and "run_id" not in would
    assert serving_store_state(serving) == before  # file bytes, no WAL growth, every table
    assert {s: table_digests(copy / f"{s}.db") for s in SYSTEMS} == sources

    real = run_pipeline(config, instance=_ephemeral())
    assert real.success and real.value("published_golden", "changed") == would["changed"]
    engine = store.open_store(cfg.serving_store)
    with engine.connect() as conn:
        assert store.golden_by_id(conn, alone.golden_id)["first_name"] == "Zebedee"
        assert len(store.runs(conn)) == runs + 1
    engine.dispose()


def test_the_golden_gate_runs_once_per_build_and_its_check_reports_that_verdict(demo, tmp_path, monkeypatch):
    """The golden_records asset gates the build and keeps the verdict; the blocking check reports it for that build
    rather than validating again, and runs the gate itself only when it has none for the build."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    work, _cfg, _before, _r = demo
    copy = tmp_path / "demo"
    shutil.copytree(work, copy)
    calls = []
    gate = expectations.check_golden
    monkeypatch.setattr(expectations, "check_golden", lambda ws: calls.append(1) or gate(ws))
    r = run_pipeline(str(copy / "hub.yaml"), instance=_ephemeral(), job_name=APPLY_JOB)
    assert r.success and [(c.asset, c.passed, c.blocking) for c in r.checks] == [("golden_records", True, True)]
    assert len(calls) == 1
    assert r.value("golden_records", "gate_scope").startswith("changed since the last gated publish")

    ws = Workspace.for_config(load_config(copy / "hub.yaml"))
    try:
        assert expectations.gate.kept(ws).summary() == r.checks[0].summary
        ws.con.execute(f"DELETE FROM {GOLDEN_GATE}")  # no verdict kept for this build: the check gates it itself
    finally:
        ws.close()
    hub = HubResource(config_path=str(copy / "hub.yaml"))
    alone = golden_check(workspace=WorkspaceResource(hub=hub))
    assert len(calls) == 2 and alone.passed
