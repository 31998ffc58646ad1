"""The whole pipeline over reconciled pulls: a row deleted at the source leaves its golden record on the next
incremental run, and rows whose keys a MariaDB collation takes for one are quarantined and never written to."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from connectors.demo import init_demo
from hub import store
from hub.cli import run_summary
from hub.config import load_config
from hub.workspace import SHARED_KEY_REASON, Workspace
from pipelines.entry import main
from pipelines.run import run_pipeline

pytestmark = pytest.mark.slow(seconds=25)


def _run(config: Path, reconcile: bool = False):
    r = run_pipeline(str(config), reconcile=reconcile, log_level="WARNING", instance=dg.DagsterInstance.ephemeral())
    assert r.success and not r.blocked, r.errors
    return r


def _published(config: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    engine = store.open_store(load_config(config).serving_store)
    with engine.connect() as conn:
        xref, golden = store.current_xref(conn), store.current_golden(conn, ["golden_id", "record_count"])
    engine.dispose()
    return xref, golden


def test_a_row_deleted_at_the_source_leaves_its_golden_record_on_the_next_incremental_run(tmp_path, capsys):
    init_demo(tmp_path, customers=60, seed=8)
    config = tmp_path / "hub.yaml"
    _run(config)
    xref, golden = _published(config)
    crm = xref[xref.source_system == "crm"].merge(golden, on="golden_id")
    alone = crm[crm.record_count == 1].iloc[0]
    shared = crm[crm.record_count > 1].iloc[0]
    con = sqlite3.connect(tmp_path / "crm.db")
    con.executemany("DELETE FROM contacts WHERE Id = ?", [(alone.source_key,), (shared.source_key,)])
    con.commit()
    con.close()

    r = _run(config, reconcile=True)
    assert (r.value("raw_crm", "mode"), r.value("raw_crm", "rows_deleted")) == ("reconcile", 2)
    assert r.value("raw_crm", "rows_behind_cursor") == 0  # nothing else changed
    assert "behind cursor" in run_summary(r) and "deleted" in run_summary(r)
    xref, golden = _published(config)
    assert not set(xref[xref.source_system == "crm"].source_key) & {alone.source_key, shared.source_key}
    assert alone.golden_id not in set(golden.golden_id)  # retired, as a full pull would have it
    left = golden.set_index("golden_id").loc[shared.golden_id, "record_count"]
    assert left == shared.record_count - 1

    capsys.readouterr()
    assert main(["pull", "--config", str(config), "--source", "crm", "--reconcile"]) == 0
    out = capsys.readouterr().out
    assert "reconcile" in out and "behind cursor" in out


def _to_mariadb(sqlite_db: Path, table: str, url: str) -> sa.Table:
    """The demo table on MariaDB with its text in utf8mb4_general_ci: keys compare without case and trailing spaces."""
    src = sa.create_engine(f"sqlite:///{sqlite_db}")
    reflected = sa.Table(table, sa.MetaData(), autoload_with=src)
    target = sa.Table(
        table,
        sa.MetaData(),
        *(
            sa.Column(c.name, sa.BigInteger() if isinstance(c.type, sa.Integer) else
                      sa.String(255, collation="utf8mb4_general_ci"))
            for c in reflected.columns
        ),
        mysql_charset="utf8mb4",
    )  # fmt: skip
    dst = sa.create_engine(url)
    target.create(dst)
    with src.connect() as s, dst.begin() as d:
        d.execute(sa.insert(target), [dict(r._mapping) for r in s.execute(sa.select(reflected))])
    src.dispose()
    dst.dispose()
    return target


@pytest.mark.mariadb
def test_keys_a_mariadb_collation_takes_for_one_are_quarantined_and_never_written_back(tmp_path, mariadb_url):
    init_demo(tmp_path, customers=80, seed=6)
    contacts = _to_mariadb(tmp_path / "crm.db", "contacts", mariadb_url)
    raw = yaml.safe_load((tmp_path / "hub.yaml").read_text())
    raw["sources"]["crm"]["url"] = mariadb_url
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    engine = sa.create_engine(mariadb_url)
    with engine.begin() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.select(contacts).where(contacts.c.Id.is_not(None)).limit(2))]
        first, second = rows
        twins = [  # other people under the same key, to the database
            first | {"Id": first["Id"].lower(), "FirstName": "Twin", "Email": "twin@example.com"},
            second | {"Id": second["Id"] + " ", "FirstName": "Spacey", "Email": "spacey@example.com"},
        ]
        conn.execute(sa.insert(contacts), twins)
    group = [first["Id"], second["Id"]]

    def rows_of_group() -> list[tuple]:
        with engine.connect() as conn:  # by binary comparison: each of the four rows, as stored
            stmt = sa.select(contacts).where(sa.func.binary(contacts.c.Id).in_([t["Id"] for t in twins] + group))
            return sorted(tuple(r) for r in conn.execute(stmt))

    before = rows_of_group()
    assert len(before) == 4
    r = _run(tmp_path / "hub.yaml")
    assert r.value("raw_crm", "rows_sharing_a_key") == 4
    assert r.value("writeback_crm", "values_changed") > 0  # write-back did write the other rows
    assert rows_of_group() == before  # not a cell of the four rows changed, golden id column included

    ws = Workspace.for_config(load_config(tmp_path / "hub.yaml"))
    q = ws.quarantined("crm")
    ws.close()
    shared = q[q.reason.str.contains(SHARED_KEY_REASON)]
    assert len(shared) == 4 and {k.lower() for k in shared.source_key} == {k.lower() for k in group}
    assert shared.reason.str.startswith("primary key (column 'Id'): ").all()
    assert shared.reason.str.contains("utf8mb4_general_ci").all()
    xref, _golden = _published(tmp_path / "hub.yaml")
    assert not {k.lower() for k in xref[xref.source_system == "crm"].source_key} & {k.lower() for k in group}
    engine.dispose()
