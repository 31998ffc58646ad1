"""The Dagster pipeline on small demos of their own: a dry run before any run, `hub run`'s summary, the source-change
sensor, and sources on PostgreSQL and MariaDB. Apart from tests/test_pipeline.py (one larger demo, run once per
module), so the suite's two workers share the pipeline tests."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa
import yaml

from connectors.demo import init_demo
from golden_record.run import publish_build
from hub import store
from hub.config import load_config
from hub.workspace import Workspace
from pipelines.build import build_definitions
from pipelines.entry import main
from pipelines.run import run_pipeline
from tests.test_pipeline import SYSTEMS, table_digests

pytestmark = pytest.mark.slow(seconds=50)


def test_dry_run_before_any_run_reports_what_it_would_do_and_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    init_demo(tmp_path, customers=120, seed=4)
    config = str(tmp_path / "hub.yaml")
    cfg = load_config(config)
    digests = {s: table_digests(tmp_path / f"{s}.db") for s in SYSTEMS}
    r = run_pipeline(config, dry_run=True, instance=dg.DagsterInstance.ephemeral())
    assert r.success and r.dry_run
    would = r.metadata["published_golden"]
    assert would["dry_run"] and "run_id" not in would
    assert would["new"] == r.value("golden_records", "golden_records") == r.value("golden_records", "minted") > 0
    assert all(r.value(f"writeback_{s}", "dry_run") for s in SYSTEMS)
    assert sum(r.value(f"writeback_{s}", "values_changed") for s in SYSTEMS) > 0  # planned against the dry build
    assert {s: table_digests(tmp_path / f"{s}.db") for s in SYSTEMS} == digests
    assert not Path(sa.make_url(cfg.serving_store).database).exists()  # not even created

    assert main(["run", "--config", config, "--dry-run", "--log-level", "ERROR"]) == 0
    out = capsys.readouterr().out
    assert "DRY RUN: nothing was written" in out and "dry run: would publish" in out
    assert "DRY RUN: nothing written" in out and "values that would be written, by column" in out
    assert re.search(r"\| column +\| +values \|", out) and "old_value" not in out  # counts: Dagster keeps no values
    assert {s: table_digests(tmp_path / f"{s}.db") for s in SYSTEMS} == digests

    # The dry run's golden records (provisional ids) are never written back or published.
    assert main(["writeback", "--config", config, "--dry-run"]) == 0
    assert "golden values of the dry run's build" in capsys.readouterr().out
    assert main(["writeback", "--config", config]) == 1
    err = capsys.readouterr().err
    assert "come from a dry run" in err and "without --dry-run" in err
    ws = Workspace.for_config(cfg)
    with store.opened(cfg.serving_store) as engine, pytest.raises(RuntimeError, match="built by a dry run"):
        publish_build(ws, cfg, engine)
    ws.close()
    assert {s: table_digests(tmp_path / f"{s}.db") for s in SYSTEMS} == digests

    real = run_pipeline(config, instance=dg.DagsterInstance.ephemeral())
    assert real.success and not real.dry_run and real.value("published_golden", "run_id")
    assert real.value("published_golden", "new") == would["new"]
    assert real.value("golden_records", "minted") == r.value("golden_records", "minted")
    assert sum(real.value(f"writeback_{s}", "values_changed") for s in SYSTEMS) > 0


def test_hub_run_prints_the_summary_and_exits_zero(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    init_demo(tmp_path, customers=60, seed=8)
    assert main(["run", "--config", str(tmp_path / "hub.yaml"), "--log-level", "WARNING"]) == 0
    out = capsys.readouterr().out
    assert "succeeded" in out and "write-back" in out and "expectations:" in out
    for name in SYSTEMS:
        assert name in out


def test_the_sensor_starts_a_run_when_a_source_row_changes(tmp_path):
    init_demo(tmp_path, customers=30, seed=2)
    defs = build_definitions(str(tmp_path / "hub.yaml"))
    sensor = defs.resolve_sensor_def("source_change_sensor")

    # As Dagster's daemon does: only the resources the sensor needs (never the workspace's job lock).
    resources = {k: v for k, v in defs.resources.items() if k in sensor.required_resource_keys}
    assert "workspace" not in resources

    def tick(cursor):
        ctx = dg.build_sensor_context(cursor=cursor, resources=resources, definitions=defs)
        return sensor(ctx), ctx.cursor

    first, cursor = tick(None)
    assert isinstance(first, dg.SkipReason)
    quiet, cursor = tick(cursor)
    assert isinstance(quiet, dg.SkipReason) and "no source changed" in quiet.skip_message

    con = sqlite3.connect(tmp_path / "crm.db")
    con.execute("UPDATE contacts SET LastName = 'Changed', LastModifiedDate = '2099-01-01T00:00:00.000+0000' "
                "WHERE Id = (SELECT min(Id) FROM contacts)")  # fmt: skip
    con.commit()
    con.close()
    fired, cursor = tick(cursor)
    assert isinstance(fired, dg.SensorResult) and len(fired.run_requests) == 1
    assert fired.run_requests[0].tags["hub/changed_sources"] == "crm"
    assert isinstance(tick(fired.cursor)[0], dg.SkipReason)


def _copy_table(sqlite_db: Path, table: str, url: str) -> None:
    """The demo table on a real server, with text columns as VARCHAR(255) (MariaDB keys need a length)."""
    src = sa.create_engine(f"sqlite:///{sqlite_db}")
    reflected = sa.Table(table, sa.MetaData(), autoload_with=src)
    target = sa.Table(
        table,
        sa.MetaData(),
        *(
            sa.Column(c.name, sa.BigInteger() if isinstance(c.type, sa.Integer) else sa.String(255),
                      primary_key=c.primary_key)
            for c in reflected.columns
        ),
    )  # fmt: skip
    dst = sa.create_engine(url)
    target.create(dst)
    with src.connect() as s, dst.begin() as d:
        rows = [dict(r._mapping) for r in s.execute(sa.select(reflected))]
        d.execute(sa.insert(target), rows)
    src.dispose()
    dst.dispose()


@pytest.mark.postgres
@pytest.mark.mariadb
def test_postgresql_and_mariadb_sources_run_through_the_same_pipeline(tmp_path, postgres_url, mariadb_url):
    init_demo(tmp_path, customers=150, seed=6)
    _copy_table(tmp_path / "billing.db", "accounts", postgres_url)
    _copy_table(tmp_path / "crm.db", "contacts", mariadb_url)
    raw = yaml.safe_load((tmp_path / "hub.yaml").read_text())
    raw["sources"]["billing"]["url"] = postgres_url
    raw["sources"]["crm"]["url"] = mariadb_url
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))

    r = run_pipeline(str(tmp_path / "hub.yaml"), instance=dg.DagsterInstance.ephemeral())
    assert r.success, r.errors
    for name in ("billing", "crm"):
        assert r.value(f"raw_{name}", "rows_read") > 0
        assert r.value(f"writeback_{name}", "values_changed") > 0, name
    pg = sa.create_engine(postgres_url)
    with pg.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM accounts WHERE hub_customer_id LIKE 'G%'")) > 0
    pg.dispose()
    my = sa.create_engine(mariadb_url)
    with my.connect() as conn:
        assert conn.scalar(sa.text("SELECT count(*) FROM contacts WHERE Master_Id__c LIKE 'G%'")) > 0
    my.dispose()
    again = run_pipeline(str(tmp_path / "hub.yaml"), instance=dg.DagsterInstance.ephemeral())
    assert all(again.value(f"writeback_{s}", "values_changed") == 0 for s in SYSTEMS)
