"""Serving store against real SQLite (WAL) and PostgreSQL: migrations, versioned publish, redirects,
xref, atomicity, a reader during a publish, id minting, pins."""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from hub import store
from hub.model import ATTRIBUTE_FIELDS
from hub.store import bulk, diff, schema, writes

pytestmark = pytest.mark.slow(seconds=25)  # the file's weight in the suite's order (tests/conftest.py)

TABLES = {
    "golden_records",
    "golden_history",
    "xref",
    "id_redirects",
    "overrides",
    "run_log",
    "id_sequence",
    "api_keys",
    "match_decisions",
    "review_queue",
}


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    """The same test against each serving-store backend."""
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path / '.hub' / 'serving.db'}"  # parent dir does not exist yet


@pytest.fixture
def engine(store_url):
    engine = store.open_store(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path):
    """For checks that do not depend on the backend."""
    engine = store.open_store(f"sqlite:///{tmp_path / 'serving.db'}")
    yield engine
    engine.dispose()


def person(gid: str, **values: Any) -> dict[str, Any]:
    """A golden record row with every attribute; lineage names the record its email came from."""
    row: dict[str, Any] = {f.name: None for f in ATTRIBUTE_FIELDS}
    row |= {
        "golden_id": gid,
        "first_name": f"Ann {gid}",
        "last_name": "Lee",
        "date_of_birth": date(1980, 1, 2),
        "email": f"{gid.lower()}@example.com",
        "consent_email": "granted",
        "consent_email_at": datetime(2024, 1, 1, 9, 0),
        "extra": {"loyalty_tier": "gold"},
        "lineage": {"email": {"source_system": "crm", "source_key": gid, "rule": "valid", "value_at": "2024-01-01"}},
        "record_count": 1,
    }
    return row | values


def golden(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def links(*rows: tuple) -> pd.DataFrame:
    """(source_key, golden_id[, probability, link_type]) in source system 'crm'."""
    full = [(k, g, *(rest or (None, "singleton"))) for k, g, *rest in rows]
    frame = pd.DataFrame(full, columns=["source_key", "golden_id", "match_probability", "link_type"])
    return frame.assign(source_system="crm")


def redirect(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(pairs, columns=["retired_id", "surviving_id"])


def publish(engine, gold: pd.DataFrame, xr: pd.DataFrame, redirects: pd.DataFrame | None = None, **counts):
    return store.publish(engine, store.start_run(engine), gold, xr, redirects, counts)


def scalar(engine, sql: str) -> Any:
    with engine.connect() as conn:
        return conn.exec_driver_sql(sql).scalar()


def snapshot(engine) -> dict[str, pd.DataFrame]:
    with engine.connect() as conn:
        return {
            "golden": store.current_golden(conn).sort_values("golden_id", ignore_index=True),
            "history": bulk.read_frame(conn, sa.select(schema.golden_history)).sort_values(
                ["golden_id", "version"], ignore_index=True
            ),
            "xref": store.current_xref(conn).sort_values("source_key", ignore_index=True),
            "redirects": store.current_redirects(conn),
        }


def assert_same_state(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], obj=name)


ABC = golden(person("A"), person("B"), person("C"))
ABC_LINKS = links(("a1", "A"), ("b1", "B", 0.97, "auto"), ("b2", "B", 0.97, "auto"), ("c1", "C"))


def test_migrations_build_the_schema_once_and_match_the_code(engine):
    store.upgrade(engine)  # second run: nothing to do
    head = ScriptDirectory.from_config(store.alembic_config()).get_current_head()
    with engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) >= TABLES
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalars().all() == [head]
        assert compare_metadata(MigrationContext.configure(conn), store.metadata) == []
        assert conn.exec_driver_sql("SELECT next_value FROM id_sequence").scalar() == 1


def test_sqlite_store_runs_in_wal_with_busy_timeout(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path / 'a' / 'b' / 'serving.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    engine.dispose()


def test_first_publish_writes_version_1_and_logs_the_run(engine):
    result = publish(engine, ABC, ABC_LINKS, records=4)
    assert (result.new, result.changed, result.unchanged, result.retired, result.xref_changed) == (3, 0, 0, 0, 4)
    with engine.connect() as conn:
        rec = store.golden_by_id(conn, "A")
        assert rec["version"] == 1 and rec["email"] == "a@example.com" and rec["redirected_from"] is None
        assert rec["date_of_birth"] == date(1980, 1, 2)
        assert rec["consent_email_at"] == datetime(2024, 1, 1, 9, 0)
        assert rec["extra"] == {"loyalty_tier": "gold"} and rec["lineage"]["email"]["source_key"] == "A"
        [h] = store.history(conn, "A")
        assert h["version"] == 1 and h["valid_to"] is None
        assert store.golden_by_source_key(conn, "crm", "b2")["golden_id"] == "B"
        assert store.golden_by_source_key(conn, "crm", "nope") is None
        assert store.golden_by_id(conn, "nope") is None
        status, counts = conn.execute(sa.select(schema.run_log.c.status, schema.run_log.c.counts)).one()
    assert status == "published"
    assert json.loads(counts) == {"records": 4, "publish": result.counts()}


def test_identical_republish_writes_no_versions_and_no_xref_changes(engine):
    publish(engine, ABC, ABC_LINKS)
    before = snapshot(engine)
    # The same values in other shapes: ISO text, another time zone, rows in another order.
    again = ABC.iloc[::-1].copy()
    again["date_of_birth"] = "1980-01-02"
    again["consent_email_at"] = pd.Timestamp("2024-01-01 10:00", tz="Europe/Paris")
    result = publish(engine, again, ABC_LINKS.iloc[::-1])
    assert (result.new, result.changed, result.unchanged, result.xref_changed) == (0, 0, 3, 0)
    assert_same_state(before, snapshot(engine))


def test_changed_field_is_version_2_and_as_of_reads_the_version_then(engine):
    publish(engine, ABC, ABC_LINKS)
    result = publish(engine, golden(person("A", email="ann@new.example"), person("B"), person("C")), ABC_LINKS)
    assert (result.new, result.changed, result.unchanged) == (0, 1, 2)
    with engine.connect() as conn:
        v1, v2 = store.history(conn, "A")
        assert (v1["version"], v2["version"]) == (1, 2)
        assert v1["valid_to"] == v2["valid_from"] and v2["valid_to"] is None
        assert len(store.history(conn, "B")) == 1
        between = v1["valid_from"] + (v2["valid_from"] - v1["valid_from"]) / 2
        assert store.golden_by_id(conn, "A", as_of=between)["email"] == "a@example.com"
        assert store.golden_by_id(conn, "A", as_of=between.replace(tzinfo=UTC))["version"] == 1
        assert store.golden_by_id(conn, "A", as_of=v2["valid_from"])["email"] == "ann@new.example"
        assert store.golden_by_id(conn, "A", as_of=v1["valid_from"] - timedelta(seconds=1)) is None
        current = store.golden_by_id(conn, "A")
        assert current["version"] == 2 and current["created_at"] == v1["valid_from"]


def test_lineage_alone_is_updated_in_place_in_current_and_history_without_a_version(engine):
    publish(engine, ABC, ABC_LINKS)
    with engine.connect() as conn:
        before = store.golden_by_id(conn, "A")
    moved = {"email": {"source_system": "web", "source_key": "9", "rule": "valid", "value_at": "2024-02-01"}}
    result = publish(engine, golden(person("A", lineage=moved), person("B", record_count=3), person("C")), ABC_LINKS)
    assert (result.new, result.changed, result.lineage_updated, result.unchanged) == (0, 0, 1, 2)
    with engine.connect() as conn:
        a, [history] = store.golden_by_id(conn, "A"), store.history(conn, "A")
        b = store.golden_by_id(conn, "B")
    assert a["lineage"] == history["lineage"] == moved and history["valid_to"] is None
    assert {k: a[k] for k in ("version", "run_id", "updated_at")} == {
        k: before[k] for k in ("version", "run_id", "updated_at")
    }
    assert (b["version"], b["record_count"]) == (1, 3)


def test_a_store_holding_the_older_per_field_lineage_reads_the_same_and_is_rewritten_in_place(engine):
    """Stores written before lineage was a list hold one JSON object per field: readers get the same per-field lineage
    from it, and the next publish rewrites it in place as a list, with no new version."""
    old_form = ABC.assign(lineage=[json.dumps(r, separators=(",", ":")) for r in ABC["lineage"]])
    publish(engine, old_form, ABC_LINKS)
    with engine.connect() as conn:
        before = store.golden_by_id(conn, "A")
    assert before["lineage"] == ABC["lineage"][0]
    result = publish(engine, ABC, ABC_LINKS)
    assert (result.new, result.changed, result.lineage_updated) == (0, 0, 3)
    with engine.connect() as conn:
        after, [history] = store.golden_by_id(conn, "A"), store.history(conn, "A")
        g = schema.golden_records.c
        text = conn.execute(sa.select(g.lineage).where(g.golden_id == "A")).scalar_one()
    assert after["lineage"] == history["lineage"] == before["lineage"] and after["version"] == 1
    assert json.loads(text) == [{"source_system": "crm", "source_key": "A", "rule": "valid", "value_at": "2024-01-01",
                                 "fields": ["email"]}]  # fmt: skip


def test_each_version_lists_the_fields_it_changed(engine):
    publish(engine, ABC, ABC_LINKS)
    second = golden(
        person("A", email="ann@new.example", extra={"loyalty_tier": "silver"}),
        person("B", phone="+442079460018"),
        person("C", email=None, extra={}),
    )
    publish(engine, second, ABC_LINKS)
    with engine.connect() as conn:
        (a1, a2), (_, b2), (_, c2) = (store.history(conn, gid) for gid in "ABC")
    with_value = [f.name for f in ATTRIBUTE_FIELDS if person("A")[f.name] is not None]
    assert a1["changed_fields"] == [*with_value, "loyalty_tier"]  # a first version: every field with a value
    assert a2["changed_fields"] == ["email", "loyalty_tier"]
    assert b2["changed_fields"] == ["phone"]
    assert c2["changed_fields"] == ["email", "loyalty_tier"]  # a value that went away changed too


def test_preview_reports_what_publish_would_do_and_writes_nothing(engine):
    publish(engine, ABC, ABC_LINKS)
    before, runs = snapshot(engine), scalar(engine, "SELECT count(*) FROM run_log")
    moved = {"email": {"source_system": "web", "source_key": "9", "rule": "valid", "value_at": "2024-02-01"}}
    gold = golden(person("A", email="ann@new.example"), person("B", lineage=moved), person("D"))
    xr = links(
        ("a1", "A"), ("b1", "B", 0.97, "auto"), ("b2", "B", 0.97, "auto"), ("c1", "A", 0.99, "auto"), ("d1", "D")
    )
    preview = store.preview(engine, gold, xr, redirect(("C", "A")))
    assert preview.run_id is None
    assert (preview.new, preview.changed, preview.lineage_updated, preview.unchanged, preview.retired) == (
        1,
        1,
        1,
        0,
        1,
    )
    assert_same_state(before, snapshot(engine))
    assert scalar(engine, "SELECT count(*) FROM run_log") == runs
    assert publish(engine, gold, xr, redirect(("C", "A"))).counts() == preview.counts()


def test_rows_hashed_before_migration_0006_are_compared_by_value_and_not_versioned(store_url, monkeypatch):
    """Before 0006 the stored row_hash covered lineage too: the first publish after the upgrade compares
    those rows' values instead, refreshes the hash in place, and the next publish no longer needs to."""
    engine = store.create_store_engine(store_url)
    store.upgrade(engine, "0005")
    lineage, extra = '{"email":{"rule":"valid","source_key":"a1"}}', '{"loyalty_tier":"gold"}'
    row = person("A", lineage=lineage, extra=extra)
    at = datetime(2025, 1, 1)
    with store.write_transaction(engine) as conn:
        meta = sa.MetaData()
        current, history = (sa.Table(t, meta, autoload_with=conn) for t in ("golden_records", "golden_history"))
        values = {k: v for k, v in row.items() if k != "golden_id" and k != "record_count"}
        conn.execute(current.insert().values(
            golden_id="A", version=1, **values, record_count=1, row_hash="0" * 32, created_at=at, updated_at=at,
            run_id="old",
        ))  # fmt: skip
        conn.execute(history.insert().values(golden_id="A", version=1, **values, valid_from=at, run_id="old"))
    store.upgrade(engine)
    assert scalar(engine, "SELECT lineage_hash FROM golden_records") == hashlib.md5(lineage.encode()).hexdigest()

    compared: list[list[str]] = []
    diff_fields = diff.diff_fields
    monkeypatch.setattr(
        diff,
        "diff_fields",
        lambda conn, db, rows: compared.append(rows["golden_id"].tolist()) or diff_fields(conn, db, rows),
    )
    first = publish(engine, golden(row), links(("a1", "A")))
    assert (first.new, first.changed, first.lineage_updated, first.unchanged) == (0, 0, 0, 1)
    second = publish(engine, golden(row), links(("a1", "A")))
    assert (second.changed, second.unchanged) == (0, 1)
    assert compared == [["A"]]  # only the first publish had to read values
    with engine.connect() as conn:
        assert len(store.history(conn, "A")) == 1 and store.golden_by_id(conn, "A")["run_id"] == "old"
    engine.dispose()


def test_a_read_only_store_writes_nothing_and_is_never_migrated(store_url):
    """What a dry run opens: no store yet answers as an empty one (and none is created), an older schema
    is refused instead of migrated, and any write fails."""
    with store.opened(store_url, read_only=True) as empty, empty.connect() as conn:
        assert store.last_published_run(conn) is None and store.peek_ids(conn, 2) == ["G00000001", "G00000002"]
    if store_url.startswith("sqlite"):
        assert not Path(sa.make_url(store_url).database).exists()
    engine = store.create_store_engine(store_url)
    store.upgrade(engine, "0005")
    with pytest.raises(RuntimeError, match="a dry run does not migrate it"):
        store.open_read_only(store_url)
    store.upgrade(engine)
    publish(engine, ABC, ABC_LINKS)
    engine.dispose()
    with store.opened(store_url, read_only=True) as ro:
        with ro.connect() as conn:
            assert store.golden_by_id(conn, "A")["email"] == "a@example.com"
            assert store.peek_ids(conn, 1) == store.peek_ids(conn, 1) == ["G00000001"]
        with pytest.raises(sa.exc.DBAPIError), store.write_transaction(ro) as conn:
            store.mint_ids(conn, 1)


def test_retired_ids_resolve_to_their_survivor_also_through_a_chain(engine):
    publish(engine, ABC, ABC_LINKS)
    merged = links(("a1", "B", 0.99, "auto"), ("b1", "B", 0.97, "auto"), ("b2", "B", 0.97, "auto"), ("c1", "C"))
    result = publish(engine, golden(person("B", record_count=3), person("C")), merged, redirect(("A", "B")))
    assert result.retired == 1
    with engine.connect() as conn:
        assert store.resolve(conn, "A") == "B"
        rec = store.golden_by_id(conn, "A")
        assert rec["golden_id"] == "B" and rec["redirected_from"] == "A"
        assert store.history(conn, "A")[-1]["valid_to"] is not None
        after_first_merge = store.history(conn, "A")[-1]["valid_to"]

    # B merges into C; the list of redirects is cumulative (A -> B again is ignored).
    all_c = merged.assign(golden_id="C")
    result = publish(engine, golden(person("C", record_count=4)), all_c, redirect(("A", "B"), ("B", "C")))
    assert result.retired == 1
    with engine.connect() as conn:
        assert store.resolve(conn, "A") == "C" and store.resolve(conn, "B") == "C"
        rows = store.current_redirects(conn).set_index("retired_id")
        assert rows.loc["A", "surviving_id"] == "C" and rows.loc["A", "retired_into"] == "B"  # one hop now
        assert store.golden_by_id(conn, "A", as_of=after_first_merge)["golden_id"] == "B"  # where A was then
        assert store.golden_by_id(conn, "A")["golden_id"] == "C"
        assert store.current_golden(conn, ["golden_id"]).to_dict("list") == {"golden_id": ["C"]}


def test_an_id_whose_records_are_all_gone_is_retired_without_a_survivor(engine):
    publish(engine, ABC, ABC_LINKS)
    with engine.connect() as conn:
        v1 = store.history(conn, "A")[0]
    deleted = pd.DataFrame({"retired_id": ["A"], "surviving_id": [None]})
    result = publish(engine, golden(person("B"), person("C")), ABC_LINKS.iloc[1:], deleted)
    assert result.retired == 1
    with engine.connect() as conn:
        assert store.resolve(conn, "A") is None and store.golden_by_id(conn, "A") is None
        assert store.golden_by_id(conn, "A", as_of=v1["valid_from"])["email"] == "a@example.com"
        assert store.current_redirects(conn).set_index("retired_id").loc["A", "reason"] == "deleted"
    with pytest.raises(ValueError, match="retired earlier"):  # and the id is never handed out again
        publish(engine, ABC, ABC_LINKS)


def test_a_chain_inside_one_run_is_followed_to_the_live_id(engine):
    publish(engine, ABC, ABC_LINKS)
    result = publish(engine, golden(person("C")), ABC_LINKS.assign(golden_id="C"), redirect(("A", "B"), ("B", "C")))
    assert result.retired == 2
    with engine.connect() as conn:
        assert store.resolve(conn, "A") == "C"


@pytest.mark.parametrize(
    ("gold", "xr", "redirects", "message"),
    [
        (golden(person("B"), person("C")), ABC_LINKS.iloc[1:], None, "no redirect says where they went"),
        (golden(person("B"), person("C")), ABC_LINKS.iloc[1:], redirect(("A", "Z")), "does not end at a golden"),
        (ABC, ABC_LINKS, redirect(("A", "B")), "still in the golden records"),
        (ABC, ABC_LINKS.assign(golden_id="Z"), None, "not in the golden records"),
        (ABC, ABC_LINKS.assign(link_type="maybe"), None, "link_type"),
        (ABC.assign(emial="x"), ABC_LINKS, None, "unknown columns \\['emial'\\]"),
        (golden(person("A"), person("A")), ABC_LINKS, None, "more than once"),
    ],
)
def test_inconsistent_input_is_refused_and_changes_nothing(sqlite_engine, gold, xr, redirects, message):
    engine = sqlite_engine
    publish(engine, ABC, ABC_LINKS)
    before = snapshot(engine)
    with pytest.raises(ValueError, match=message):
        publish(engine, gold, xr, redirects)
    assert_same_state(before, snapshot(engine))


def test_a_retired_id_never_comes_back(engine):
    publish(engine, ABC, ABC_LINKS)
    publish(engine, golden(person("B"), person("C")), ABC_LINKS.iloc[1:], redirect(("A", "B")))
    with pytest.raises(ValueError, match="retired earlier"):
        publish(engine, ABC, ABC_LINKS)


def test_xref_rows_are_replaced_added_and_removed_only_when_they_change(engine):
    publish(engine, ABC, ABC_LINKS)
    with engine.connect() as conn:
        first = store.current_xref(conn).set_index("source_key")
    changed = links(
        ("a1", "A"),  # unchanged
        ("b1", "B", 0.98, "auto"),  # probability changed
        ("b2", "C", 1.0, "steward"),  # moved by a steward
        ("c2", "C", 0.96, "auto"),  # new source record; c1 is gone
    )
    result = publish(engine, ABC, changed)
    assert result.xref_changed == 4
    with engine.connect() as conn:
        now = store.current_xref(conn).set_index("source_key")
    assert sorted(now.index) == ["a1", "b1", "b2", "c2"]
    assert now.loc["a1", "linked_at"] == first.loc["a1", "linked_at"]
    assert now.loc["b1", "match_probability"] == 0.98 and now.loc["b1", "linked_at"] > first.loc["b1", "linked_at"]
    assert (now.loc["b2", "golden_id"], now.loc["b2", "link_type"]) == ("C", "steward")
    assert np.isnan(now.loc["a1", "match_probability"])


def test_a_failed_publish_leaves_the_previous_run_in_place(engine, monkeypatch):
    publish(engine, ABC, ABC_LINKS)
    before = snapshot(engine)
    run = store.start_run(engine)
    seen: dict[str, Any] = {}

    def fail_after_golden(conn, *args):
        seen["email"] = store.golden_by_id(conn, "B")["email"]  # golden rows are written by now
        seen["resolved"] = store.resolve(conn, "A")
        raise RuntimeError("disk full")

    monkeypatch.setattr(writes, "publish_xref", fail_after_golden)
    gold = golden(person("B", email="b@new.example"), person("C"), person("D"))
    with pytest.raises(RuntimeError, match="disk full"):
        store.publish(engine, run, gold, ABC_LINKS.iloc[1:], redirect(("A", "B")))
    assert seen == {"email": "b@new.example", "resolved": "B"}
    assert_same_state(before, snapshot(engine))
    status = sa.select(schema.run_log.c.status).where(schema.run_log.c.run_id == run)
    with engine.connect() as conn:
        assert conn.scalar(status) == "running"  # the store does not guess; the caller records it
    store.fail_run(engine, run, "disk full")
    with engine.connect() as conn:
        assert conn.scalar(status) == "failed"
    monkeypatch.undo()
    with pytest.raises(ValueError, match="is failed"):
        store.publish(engine, run, gold, ABC_LINKS.iloc[1:], redirect(("A", "B")))


def test_a_run_left_running_by_a_killed_process_is_marked_failed_when_the_next_run_starts(engine):
    killed = store.start_run(engine)  # its process died during publish: nothing ever finished the row
    publish(engine, ABC, ABC_LINKS)
    with engine.connect() as conn:
        status, message = conn.execute(
            sa.select(schema.run_log.c.status, schema.run_log.c.message).where(schema.run_log.c.run_id == killed)
        ).one()
        assert status == "failed" and message.startswith("interrupted: still running when run ")
        assert conn.scalar(sa.select(sa.func.count()).where(schema.run_log.c.status == "running")) == 0


def test_a_reader_during_a_publish_sees_the_previous_run(engine, monkeypatch):
    publish(engine, ABC, ABC_LINKS)
    inside, release = threading.Event(), threading.Event()
    outcome: list[Any] = []
    write_xref = writes.publish_xref

    def pause(conn, *args):
        n = write_xref(conn, *args)
        inside.set()
        assert release.wait(20)
        return n

    monkeypatch.setattr(writes, "publish_xref", pause)

    def run_publish() -> None:
        try:
            gold = golden(person("A", email="new@example.com"), person("C"))
            outcome.append(publish(engine, gold, ABC_LINKS[ABC_LINKS.golden_id != "B"], redirect(("B", "C"))))
        except BaseException as exc:
            outcome.append(exc)

    writer = threading.Thread(target=run_publish)
    writer.start()
    try:
        assert inside.wait(20), outcome
        with engine.connect() as reader:  # another connection, while the publish transaction is open
            assert store.golden_by_id(reader, "A")["email"] == "a@example.com"
            assert store.resolve(reader, "B") == "B"
            assert len(store.current_xref(reader)) == 4
            assert scalar(engine, "SELECT count(*) FROM run_log WHERE status = 'published'") == 1
    finally:
        release.set()
        writer.join(30)
    assert isinstance(outcome[0], store.PublishResult), outcome
    with engine.connect() as reader:
        assert store.golden_by_id(reader, "A")["email"] == "new@example.com"
        assert store.resolve(reader, "B") == "C"
        assert len(store.current_xref(reader)) == 2


def test_minted_ids_never_repeat(engine):
    with store.write_transaction(engine) as conn:
        first = store.mint_ids(conn, 3)
    with store.write_transaction(engine) as conn:
        second = store.mint_ids(conn, 2) + store.mint_ids(conn, 0)
    assert first == ["G00000001", "G00000002", "G00000003"]
    assert second == ["G00000004", "G00000005"]


def test_pins_follow_a_merge_and_unpin_removes_them(engine):
    publish(engine, ABC, ABC_LINKS)
    with store.write_transaction(engine) as conn:
        assert store.pin(conn, "A", "email", "pinned@example.com", "steward1") == "A"
        store.pin(conn, "B", "date_of_birth", date(1979, 5, 6), "steward2")
        with pytest.raises(KeyError):
            store.pin(conn, "Z", "email", "x", "steward1")
    publish(engine, golden(person("B"), person("C")), ABC_LINKS.iloc[1:], redirect(("A", "B")))
    with engine.connect() as conn:
        pins = store.overrides(conn).set_index("field")
    assert pins.loc["email", ["golden_id", "pinned_on", "value"]].tolist() == ["B", "A", "pinned@example.com"]
    assert pins.loc["date_of_birth", "value"] == "1979-05-06"
    with store.write_transaction(engine) as conn:
        assert store.unpin(conn, "B", "email") is True
        assert store.unpin(conn, "B", "email") is False
        assert store.overrides(conn)["field"].tolist() == ["date_of_birth"]


def test_a_publish_prepared_on_a_stale_snapshot_is_refused(sqlite_engine, monkeypatch):
    """The diff runs before the write lock; a run published meanwhile makes it stale."""
    engine = sqlite_engine
    publish(engine, ABC, ABC_LINKS)
    plan_xref = diff.plan_xref

    def another_run_publishes_meanwhile(*args):
        monkeypatch.setattr(diff, "plan_xref", plan_xref)
        publish(engine, golden(person("A", email="first@example.com"), person("B"), person("C")), ABC_LINKS)
        return plan_xref(*args)

    monkeypatch.setattr(diff, "plan_xref", another_run_publishes_meanwhile)
    with pytest.raises(RuntimeError, match="publish again"):
        publish(engine, golden(person("A", email="second@example.com"), person("B"), person("C")), ABC_LINKS)
    with engine.connect() as conn:
        assert store.golden_by_id(conn, "A")["email"] == "first@example.com"


def test_bulk_reads_in_chunks_keep_their_types(engine, monkeypatch):
    monkeypatch.setattr(bulk, "FETCH_ROWS", 2)  # chunks where valid_to is all NULL, then filled
    publish(engine, ABC, ABC_LINKS)
    publish(engine, golden(*(person(g, email="x@example.com") for g in "ABC")), ABC_LINKS)
    h = schema.golden_history
    with engine.connect() as conn:
        frame = bulk.read_frame(conn, sa.select(h).order_by(h.c.valid_to.is_(None).desc(), h.c.golden_id))
        current = store.current_golden(conn)
    assert frame["valid_to"].isna().tolist() == [True] * 3 + [False] * 3
    assert str(frame["valid_to"].dtype) == "datetime64[us]" and str(current["date_of_birth"].dtype) == "datetime64[us]"
    assert (current["date_of_birth"] == pd.Timestamp("1980-01-02")).all()


def scoped(engine, gold: pd.DataFrame, xr: pd.DataFrame, ids: list[str], keys: list[str], redirects=None):
    scope = store.Scope(golden_ids=pd.Series(ids, dtype=object), xref_keys=links(*((k, "") for k in keys)))
    return store.publish(engine, store.start_run(engine), gold, xr, redirects, {}, scope=scope)


def test_a_scoped_publish_equals_the_full_one_and_leaves_the_rest_alone(engine, tmp_path):
    """An incremental build's publish: only the rows in its scope are read and changed; the result is the state
    the same run published in full leaves."""
    merged = links(("a1", "B", 0.99, "auto"), ("b1", "B", 0.97, "auto"), ("b2", "B", 0.97, "auto"), ("c1", "C"))
    after = golden(person("B", record_count=3, city="Leeds"), person("C"))
    full = store.open_store(f"sqlite:///{tmp_path / 'full.db'}")
    try:
        publish(full, ABC, ABC_LINKS)
        publish(full, after, merged, redirect(("A", "B")))
        expected = snapshot(full)
    finally:
        full.dispose()
    publish(engine, ABC, ABC_LINKS)
    result = scoped(engine, after.iloc[[0]], merged.iloc[[0]], ["A", "B"], ["a1"], redirect(("A", "B")))
    assert (result.new, result.changed, result.retired, result.xref_changed) == (0, 1, 1, 1)
    got = snapshot(engine)
    for name in ("golden", "xref", "redirects"):
        columns = [c for c in expected[name].columns if not c.endswith("_at") and c != "run_id"]  # times differ
        pd.testing.assert_frame_equal(got[name][columns], expected[name][columns], obj=name)


@pytest.mark.parametrize(
    ("ids", "keys", "gold", "xr", "message"),
    [
        (["B"], [], ["B", "C"], [], "outside the scope"),  # a golden row outside it
        (["B"], ["b1"], ["B"], [("c1", "C")], "outside the scope"),  # an xref row outside it
        (["A", "B"], ["a1"], ["B"], [("a1", "A")], "not in the golden records"),  # pointing at an id retired now
        (["A", "B"], [], ["B"], [], "outside the scope point at golden ids retired now"),  # a1 left dangling
    ],
)
def test_a_scoped_publish_refuses_rows_that_leave_its_scope(sqlite_engine, ids, keys, gold, xr, message):
    publish(sqlite_engine, ABC, ABC_LINKS)
    before = snapshot(sqlite_engine)
    rows = golden(*(person(g) for g in gold))
    with pytest.raises(ValueError, match=message):
        scoped(sqlite_engine, rows, links(*xr) if xr else ABC_LINKS.iloc[[]], ids, keys, redirect(("A", "B")))
    assert_same_state(before, snapshot(sqlite_engine))


def test_keyed_bulk_reads_seek_an_index(store_engine):
    """A read by key (hub.store.bulk.key_batches: a scoped publish's xref, a build's ids and consent state) seeks the
    key's index instead of scanning the table: SQLite scans a whole table for `(a, b) IN (VALUES ...)`."""
    from hub.store.bulk import key_batches
    from hub.store.schema import consent_state, golden_records, xref

    x, c, g = xref.c, consent_state.c, golden_records.c
    reads = [
        (xref, sa.select(x.golden_id), [x.source_system, x.source_key], [("billing", "1"), ("web", "2"), ("web", "3")]),
        (consent_state, sa.select(c.value), [c.source, c.holder], [("billing", "1"), ("crm", "9")]),
        (golden_records, sa.select(g.created_at), [g.golden_id], ["G1", "G2"]),
    ]
    with store_engine.connect() as conn:
        postgres = store_engine.dialect.name == "postgresql"
        if postgres:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: the planner would rightly scan it
        for table, stmt, key, values in reads:
            conditions = key_batches(key, values)
            assert conditions
            for condition in conditions:
                sql = str(stmt.where(condition).compile(dialect=store_engine.dialect,
                                                        compile_kwargs={"literal_binds": True}))  # fmt: skip
                if postgres:
                    plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {sql}"))
                    assert "Seq Scan" not in plan and "Index" in plan, (sql, plan)
                else:
                    plan = "\n".join(r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                    assert f"SEARCH {table.name} USING" in plan and "SCAN" not in plan, (sql, plan)


def test_a_publish_staged_one_row_at_a_time_writes_what_one_batch_writes(engine, monkeypatch, tmp_path):
    """Golden records are staged by position from the run's frame, batch by batch, in id order (bulk.insert_frame's
    `rows`; a sorted copy of a million records' lineage would cost gigabytes): with batches of one row, every new,
    changed and lineage-only record still lands on its own id, with its own version and lineage."""
    ids = ["Q", "D", "M", "A", "K"]  # not in id order
    moved = {"email": {"source_system": "web", "source_key": "9", "rule": "valid", "value_at": "2024-02-01"}}
    first, first_links = golden(*(person(g) for g in ids)), links(*((g.lower(), g) for g in ids))
    second = golden(
        person("Q", email="q@new.example"), person("D", lineage=moved), person("M"), person("Z", phone="+442079460018"),
        person("A", phone="+442079460018"), person("K", lineage=moved, record_count=2),
    )  # fmt: skip
    second_links = links(*((g.lower(), g) for g in [*ids, "Z"]), ("k2", "K"))

    def state(engine) -> dict[str, list[tuple]]:
        s = snapshot(engine)
        g, h = s["golden"], s["history"]
        return {
            "golden": [tuple(r) for r in g[["golden_id", "version", "email", "phone", "record_count"]].values]
            + [(i, json.dumps(lineage, sort_keys=True)) for i, lineage in g[["golden_id", "lineage"]].values],
            "history": [tuple(map(str, r)) for r in h[["golden_id", "version", "changed_fields", "lineage"]].values],
            "xref": [tuple(r) for r in s["xref"][["source_key", "golden_id"]].values],
        }

    reference = store.open_store(f"sqlite:///{tmp_path / 'reference.db'}")
    try:
        publish(reference, first, first_links)
        publish(reference, second, second_links)
        expected = state(reference)
    finally:
        reference.dispose()
    monkeypatch.setattr(bulk, "BATCH_CELLS", 1)
    publish(engine, first, first_links)
    result = publish(engine, second, second_links)
    assert (result.new, result.changed, result.lineage_updated, result.unchanged) == (1, 2, 2, 1)
    assert state(engine) == expected


def test_insert_frame_inserts_exactly_the_positions_given(engine, monkeypatch):
    """Positions in any order, with gaps, over a frame of several Arrow chunks (as a frame built in pieces is), in
    batches that each span a slice of it: exactly those rows are inserted, each once."""
    monkeypatch.setattr(bulk, "BATCH_CELLS", 6)  # three rows of two columns per batch
    pieces = [pa.table({"k": [f"k{i}" for i in range(n, n + 5)], "v": list(range(n, n + 5))}) for n in (0, 5, 10)]
    frame = pa.concat_tables(pieces).to_pandas()
    table = sa.Table("hub_test_positions", sa.MetaData(), sa.Column("k", sa.String(10)), sa.Column("v", sa.Integer))
    positions = np.array([14, 0, 7, 3, 8, 13, 1])
    with engine.begin() as conn:
        table.create(conn)
        bulk.insert_frame(conn, table, frame, positions)
        got = sorted(conn.execute(sa.select(table.c.k, table.c.v)).all())
        table.drop(conn)
    assert got == sorted((f"k{i}", i) for i in positions)
