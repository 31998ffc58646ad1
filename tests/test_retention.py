"""Retention (hub.yaml `retention:`): the purge deletes only what is older than each setting, never a current
golden-record version, set-based, and reports counts; `hub purge` and the pipeline's retention_purge asset run it.
SQLite and PostgreSQL serving stores."""

from __future__ import annotations

from datetime import datetime, timedelta

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from hub import store
from hub.store.schema import golden_history, pii_reads, subject_requests, writeback_audit_table
from pipelines.assets import retention_purge
from pipelines.entry import main
from pipelines.resources import HubResource, ServingStoreResource
from tests.test_store import ABC, ABC_LINKS, golden, person, publish


@pytest.fixture(params=["sqlite", "postgres"])
def serving(request, tmp_path):
    """A migrated serving store on each backend."""
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else f"sqlite:///{tmp_path / 's.db'}"
    engine = store.open_store(url)
    yield engine
    engine.dispose()


DAYS = {"golden_history_days": 30, "writeback_audit_days": 30, "pii_reads_days": 30, "request_log_days": 30}


def _aged(engine: sa.Engine) -> datetime:
    """ABC published, then A changed (A v1 superseded 100 days ago); B's current version began 400 days ago; one
    write-back audit row and one PII read from 100 days ago and one of each from now. Returns now."""
    publish(engine, ABC, ABC_LINKS)
    publish(engine, golden(person("A", email="ann@new.example"), person("B"), person("C")), ABC_LINKS)
    now = store.utc_now()
    old = now - timedelta(days=100)
    h = golden_history.c
    with store.write_transaction(engine) as conn:
        conn.execute(golden_history.update().where(h.golden_id == "A", h.version == 1).values(valid_to=old))
        conn.execute(golden_history.update().where(h.golden_id == "B").values(valid_from=now - timedelta(days=400)))
        for at in (old, now):
            conn.execute(
                writeback_audit_table.insert().values(
                    run_id="r", source_system="crm", source_key="a1", column="email", fields="email", old_value="x",
                    new_value="y", written_at=at,
                )
            )  # fmt: skip
    for at in (old, now):
        store.record_reads(engine, "k1", "GET /v1/golden/{golden_id}", ["A"], ["email"], [], at=at)
    with store.write_transaction(engine) as conn:
        for n, at in enumerate((old, now)):
            conn.execute(
                subject_requests.insert().values(
                    request_id=f"req{n}", action="show", subject="A", requested_by="cli:test", received_at=at,
                    due_at=at + timedelta(days=30), finished_at=at, outcome="done",
                )
            )  # fmt: skip
    return now


def _count(engine: sa.Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0


def test_purge_deletes_only_what_is_older_than_each_setting(serving):
    engine = serving
    _aged(engine)
    before = {t.name: _count(engine, t) for t in (golden_history, writeback_audit_table, pii_reads)}
    dry = store.purge(engine, DAYS, dry_run=True)
    assert dry == {"golden_history": 1, "writeback_audit": 1, "pii_reads": 1, "subject_requests": 1}
    assert {t.name: _count(engine, t) for t in (golden_history, writeback_audit_table, pii_reads)} == before
    assert store.purge(engine, DAYS) == dry
    with engine.connect() as conn:
        versions = {(r.golden_id, r.version) for r in conn.execute(sa.select(golden_history))}
        assert versions == {("A", 2), ("B", 1), ("C", 1)}  # B's old but current version stays
        assert store.golden_by_id(conn, "A")["email"] == "ann@new.example"
        assert [r["read_at"] > datetime.now() - timedelta(days=1) for r in store.reads(conn)] == [True]
    assert _count(engine, writeback_audit_table) == 1
    assert store.purge(engine, DAYS) == {
        "golden_history": 0,
        "writeback_audit": 0,
        "pii_reads": 0,
        "subject_requests": 0,
    }
    assert _count(engine, subject_requests) == 1


def test_no_setting_keeps_everything(serving):
    engine = serving
    _aged(engine)
    assert store.purge(engine, dict.fromkeys(DAYS)) == {}
    assert store.purge(engine, {**dict.fromkeys(DAYS), "pii_reads_days": 365}) == {"pii_reads": 0}
    assert _count(engine, golden_history) == 4 and _count(engine, pii_reads) == 2


@pytest.fixture
def config(tmp_path):
    url = f"sqlite:///{tmp_path / 'serving.db'}"
    doc = {
        "serving_store": url,
        "retention": {"golden_history_days": 30, "pii_reads_days": 30},
        "sources": {"crm": {"kind": "file", "path": "c.csv", "primary_key": "id", "fields": {"email": "email"}}},
    }
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(doc))
    engine = store.open_store(url)
    _aged(engine)
    yield tmp_path / "hub.yaml", engine
    engine.dispose()


def test_hub_purge_reports_counts_and_keeps_unset_tables(config, capsys):
    path, engine = config
    assert main(["purge", "--config", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would purge" in out and "golden_history" in out and "writeback_audit_days" in out
    assert _count(engine, golden_history) == 4
    assert main(["purge", "--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "purged" in out and _count(engine, golden_history) == 3 and _count(engine, pii_reads) == 1
    assert _count(engine, writeback_audit_table) == 2  # no writeback_audit_days: kept


def test_the_pipelines_retention_asset_purges(config):
    path, engine = config
    hub = HubResource(config_path=str(path))
    result = dg.materialize([retention_purge], resources={"hub": hub, "serving_store": ServingStoreResource(hub=hub)})
    assert result.success
    meta = result.asset_materializations_for_node("retention_purge")[0].metadata
    assert meta["purged_golden_history"].value == 1 and meta["purged_pii_reads"].value == 1
    assert _count(engine, golden_history) == 3
