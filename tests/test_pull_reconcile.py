"""Pulls that never lose rows: the cursor's ceiling, reconciliation of keys and values, and keys a database
takes for one (SQLite, PostgreSQL and MariaDB sources)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import pull_source
from connectors.base import FUTURE_REASON
from connectors.ingest import open_connector
from hub.config import HubConfig
from hub.workspace import SHARED_KEY_REASON, Workspace
from tests import source_fixture as fx
from tests import test_sql_connector

pytestmark = pytest.mark.slow(seconds=15)  # the file's weight in the suite's order (tests/conftest.py)

source = test_sql_connector.source  # its fixture: the fixture table on each backend, a config and a workspace


def edit(engine: sa.Engine, key: int, **values) -> None:
    with engine.begin() as conn:
        conn.execute(fx.customers.update().where(fx.customers.c.id == key).values(**values))


def utc_now() -> datetime:
    return pd.Timestamp.now(tz="UTC").tz_localize(None).floor("s").to_pydatetime()


def test_a_future_timestamp_is_staged_with_a_warning_and_never_holds_the_cursor(source):
    engine, cfg, ws = source
    pull_source(cfg, "crm", ws)
    edit(engine, 2, email="future@example.com", modified_at=datetime(9999, 12, 31, 23, 59, 59))
    result = pull_source(cfg, "crm", ws)
    staged = ws.staged("crm").set_index("source_key")
    assert result.future == 1 and staged.loc["2", "email"] == "future@example.com"  # staged all the same
    warned = ws.con.execute("SELECT source_key, field, reason FROM field_warnings WHERE field = 'source_updated_at'")
    assert warned.fetchall() == [("2", "source_updated_at", FUTURE_REASON)]
    ceiling = pd.Timestamp.now(tz="UTC").tz_localize(None) + pd.Timedelta(seconds=cfg.pull.cursor_tolerance_seconds)
    assert pd.Timestamp(ws.get_state("crm")["cursor"]) <= ceiling

    edit(engine, 4, email="ordinary@example.com", modified_at=utc_now())  # an ordinary edit, after the bad one
    later = pull_source(cfg, "crm", ws)
    staged = ws.staged("crm").set_index("source_key")
    assert staged.loc["4", "email"] == "ordinary@example.com"
    assert later.mode == "incremental" and later.future == 1  # row 2 is read again until its time comes

    # A cursor saved in the future (before cursors had a ceiling) is not trusted: the pull is a full one.
    ws.set_state("crm", {"cursor": "9999-12-31T23:59:59", "boundary": {}})
    edit(engine, 5, email="missed@example.com", modified_at=utc_now())
    assert pull_source(cfg, "crm", ws).mode == "full"
    assert ws.staged("crm").set_index("source_key").loc["5", "email"] == "missed@example.com"


def test_rows_behind_the_cursor_are_pulled_and_deleted_rows_leave_staging(source):
    engine, cfg, ws = source
    pull_source(cfg, "crm", ws)
    with engine.begin() as conn:  # stamped before the cursor: an incremental read skips it
        conn.execute(fx.customers.insert(), [fx.rows()[0] | {"id": 998, "full_name": "LATE, Lena"}])
        conn.execute(fx.customers.delete().where(fx.customers.c.id.in_([101, 3])))
    edit(engine, 2, email="changed@example.com", modified_at=fx.T0 + timedelta(days=2))

    result = pull_source(cfg, "crm", ws)
    assert result.mode == "incremental"
    assert (result.behind_cursor, result.deleted, result.records) == (1, 2, 2)
    staged = ws.staged("crm").set_index("source_key")
    assert staged.loc["998", "last_name"] == "LATE" and staged.loc["2", "email"] == "changed@example.com"
    assert not {"101", "3"} & set(staged.index)
    assert ws.con.execute("SELECT count(*) FROM field_warnings WHERE source_key = '3'").fetchall() == [(0,)]
    assert result.staged_total == len(fx.rows()) - 1
    quiet = pull_source(cfg, "crm", ws)
    assert (quiet.behind_cursor, quiet.deleted, quiet.records) == (0, 0, 0)

    # A value changed without a newer updated-at: only a comparison of values finds it.
    edit(engine, 4, email="quiet@example.com")
    assert pull_source(cfg, "crm", ws).records == 0
    full = pull_source(cfg, "crm", ws, reconcile=True)
    assert (full.mode, full.behind_cursor, full.records) == ("reconcile", 1, 1)
    assert ws.staged("crm").set_index("source_key").loc["4", "email"] == "quiet@example.com"
    assert len(ws.staged("crm")) == len(fx.rows()) - 1  # re-staged, not duplicated


def test_a_full_comparison_is_due_every_configured_interval(source):
    _engine, cfg, ws = source
    assert pull_source(cfg, "crm", ws).mode == "full"
    assert pull_source(cfg, "crm", ws).mode == "incremental"  # a full pull compared everything just now
    state = ws.get_state("crm")
    ws.set_state("crm", state | {"reconciled_at": str(pd.Timestamp(state["reconciled_at"]) - pd.Timedelta(days=8))})
    assert pull_source(cfg, "crm", ws).mode == "reconcile"  # older than the default 168 hours
    assert pull_source(cfg, "crm", ws).mode == "incremental"
    never = cfg.model_copy(update={"pull": cfg.pull.model_copy(update={"full_reconcile_every_hours": 0})})
    ws.set_state("crm", {k: v for k, v in ws.get_state("crm").items() if k != "reconciled_at"})
    assert pull_source(never, "crm", ws).mode == "incremental"  # 0: only on request
    assert pull_source(cfg, "crm", ws).mode == "reconcile"  # a cursor never compared is compared at once


def _people(url: str, tmp_path, rows: list[tuple[str, str, str]]) -> tuple[sa.Engine, HubConfig]:
    """A table without a key constraint, as an export is, with a case-insensitive key on MariaDB."""
    engine = sa.create_engine(url)
    table = sa.Table(
        "people",
        sa.MetaData(),
        sa.Column("id", sa.String(20, collation="utf8mb4_general_ci") if "mysql" in url else sa.String(20)),
        sa.Column("email", sa.String(60)),
        sa.Column("dob", sa.String(20)),
        sa.Column("changed", sa.DateTime),
        **({"mysql_charset": "utf8mb4"} if "mysql" in url else {}),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"id": k, "email": e, "dob": d, "changed": fx.T0} for k, e, d in rows])
    cfg = HubConfig.model_validate(
        {"workspace": str(tmp_path / "ws.duckdb"), "sources": {"crm": {
            "kind": "sql", "url": url, "table": "people", "primary_key": "id", "updated_at": "changed",
            "default_region": "GB", "fields": {"email": "email", "date_of_birth": "dob"}}}}
    )  # fmt: skip
    return engine, cfg


def test_every_row_of_a_key_the_database_may_take_for_one_is_quarantined(source_url, tmp_path):
    rows = [
        ("ab", "ab@example.com", "never"),  # warned: its warning leaves with it
        ("AB", "other@example.com", "1980-01-01"),  # differs only by case
        ("ab ", "third@example.com", "1980-01-02"),  # and by a trailing space
        ("7", "seven@example.com", "1980-01-03"),  # the same key twice
        ("7", "again@example.com", "1980-01-04"),
        ("Ångström", "a1@example.com", "1980-01-05"),  # accents (utf8mb4_general_ci)
        ("angstrom", "a2@example.com", "1980-01-06"),
        ("solo", "solo@example.com", "1980-01-07"),
    ]
    engine, cfg = _people(source_url, tmp_path, rows)
    ws = Workspace.for_config(cfg)
    result = pull_source(cfg, "crm", ws)
    assert set(ws.staged("crm").source_key) == {"solo"}
    assert (result.shared_keys, result.records, result.quarantined) == (7, 1, 7)
    assert result.staged_total + result.quarantined_total == len(rows)  # nothing lost
    q = ws.quarantined("crm")
    assert sorted(q.source_key) == sorted(["ab", "AB", "ab", "7", "7", "Ångström", "angstrom"])
    reasons = q.set_index("source_key")["reason"]
    assert reasons["AB"] == (
        f"primary key (column 'id'): {SHARED_KEY_REASON} 'AB', 'ab', 'ab' (3 rows, which a database comparing keys so, "
        "such as MariaDB with utf8mb4_general_ci, would update all at once)"
    )
    problems = ws.quarantine_reasons("crm").set_index("problem")["rows"].to_dict()
    assert problems == {f"primary key (column 'id'): {SHARED_KEY_REASON}": 7}  # one problem, not one per group
    assert q.raw_row.str.contains("third@example.com").any()  # the row as read, for the steward
    assert ws.con.execute("SELECT count(*) FROM field_warnings").fetchall() == [(0,)]

    # Its twins gone from the source, a key is read again and staged.
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM people WHERE email IN ('other@example.com', 'third@example.com')"))
    again = pull_source(cfg, "crm", ws)
    assert set(ws.staged("crm").source_key) == {"solo", "ab"}
    assert (again.mode, again.deleted, again.behind_cursor) == ("incremental", 1, 0)  # 'AB' went; 'ab' was read
    assert again.staged_total + again.quarantined_total == len(rows) - 2
    ws.close()
    engine.dispose()


@pytest.mark.parametrize("kind", ["integer", "numeric", "text", "timestamp", "uuid"])
def test_keys_of_any_type_are_read_as_the_pull_stages_them(source_url, tmp_path, kind):
    """Every run reads every key to see deletes (straight from the driver when SQLAlchemy would pass its values on
    unchanged, else through SQLAlchemy): the keys read are the staged keys, so nothing counts as deleted but the row
    deleted."""
    keys = {
        "integer": (sa.Integer(), [1, 22, 333, 4444]),
        "numeric": (sa.Numeric(12, 2), [Decimal("1.50"), Decimal("22.00"), Decimal("-3.25"), Decimal("4444.10")]),
        "text": (sa.String(40), ["a-1", " padded ", "Ünïcode", "0035g00001Bii6WAAR"]),
        "timestamp": (sa.DateTime(), [datetime(2024, 1, 1, 9, 0, s) for s in range(4)]),
        "uuid": (sa.Uuid(), [uuid.UUID(int=i * 7919 + 1) for i in range(4)]),
    }
    type_, values = keys[kind]
    engine = sa.create_engine(source_url)
    table = sa.Table("things", sa.MetaData(), sa.Column("k", type_), sa.Column("email", sa.String(60)))
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"k": v, "email": f"p{i}@example.com"} for i, v in enumerate(values)])
    cfg = HubConfig.model_validate(
        {"workspace": str(tmp_path / "ws.duckdb"), "sources": {"crm": {
            "kind": "sql", "url": source_url, "table": "things", "primary_key": "k", "fields": {"email": "email"}}}}
    )  # fmt: skip
    ws = Workspace.for_config(cfg)
    try:
        first = pull_source(cfg, "crm", ws)
        staged = sorted(ws.staged("crm").source_key)
        read = sorted(pd.concat(list(open_connector("crm", cfg).key_chunks())).dropna())
        assert (first.records, len(staged), read) == (4, 4, staged)
        with engine.begin() as conn:
            conn.execute(table.delete().where(table.c.k == values[1]))
        again = pull_source(cfg, "crm", ws)
        assert again.deleted == 1 and len(ws.staged("crm")) == 3
    finally:
        ws.close()
        engine.dispose()
