"""SQL connector pull and push against real SQLite, PostgreSQL and MariaDB source systems."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import SourceError, SqlConnector, open_connector, pull_source
from hub.config import HubConfig
from hub.workspace import Workspace
from tests import source_fixture as fx

pytestmark = pytest.mark.slow(seconds=20)  # the file's weight in the suite's order (tests/conftest.py)

UNMAPPED = ["notes"]


@pytest.fixture
def source(source_url, tmp_path):
    engine = fx.create_source(source_url)
    cfg = fx.hub_config(source_url, tmp_path)
    ws = Workspace.for_config(cfg)
    yield engine, cfg, ws
    ws.close()
    engine.dispose()


def staged_changes(ws: Workspace, **values) -> pd.DataFrame:
    """Push input built the way the pipeline builds it: keys and versions from staging."""
    st = ws.staged("crm").set_index("source_key")
    keys = list(values["source_key"])
    out = pd.DataFrame({"source_key": keys, "expected_version": st.loc[keys, "source_version"].values})
    for name, col in values.items():
        if name != "source_key":
            out[name] = col
    return out


def warnings(ws: Workspace) -> set[tuple[str, str]]:
    return set(ws.con.execute("SELECT source_key, field FROM field_warnings WHERE source_system = 'crm'").fetchall())


def test_full_pull_maps_to_canonical_and_keeps_rows_with_unreadable_values(source):
    _engine, cfg, ws = source
    result = pull_source(cfg, "crm", ws)
    assert result.mode == "full"
    assert result.rows_read == len(fx.rows())
    assert result.quarantined == 0 and result.staged_total == len(fx.rows())  # nothing lost, nothing quarantined
    assert (result.warned, result.warned_total) == (2, 2)

    staged = ws.staged("crm").set_index("source_key")
    john = staged.loc["1"]
    assert (john.first_name, john.last_name) == ("John", "SMITH")
    assert john.phone == "+442079460018"
    assert john.date_of_birth == pd.Timestamp("1980-01-31")
    assert john.country == "GB"
    assert john.consent_email == "granted"
    assert john.consent_email_at == fx.T0  # no own timestamp column: the row's updated-at

    # Unreadable values are missing, the rest of the row is read; a warning per record and field says what.
    bob = staged.loc["3"]
    assert pd.isna(bob.phone) and pd.isna(bob.date_of_birth) and bob.email == "bob@example.com"
    assert staged.loc["5", "consent_email"] == "unknown"
    assert warnings(ws) == fx.WARNED
    w = ws.con.execute("SELECT * FROM field_warnings WHERE source_key = '3' AND field = 'phone'").df().iloc[0]
    assert (w["column"], w["value"], w["reason"]) == ("phone", "n/a", "cannot parse")
    assert w["source_version"] == bob.source_version
    by_field = ws.warning_counts("crm").set_index("field")["records"].to_dict()
    assert by_field == {"phone": 1, "date_of_birth": 1, "consent_email": 1}


def test_a_required_field_quarantines_the_row_and_names_the_field(source_url, tmp_path):
    fx.create_source(source_url).dispose()
    cfg = fx.hub_config(source_url, tmp_path, required=("date_of_birth",))
    ws = Workspace.for_config(cfg)
    result = pull_source(cfg, "crm", ws)
    q = ws.quarantined("crm").set_index("source_key")
    assert set(q.index) == {"3", "4"} and result.quarantined == 2  # an unreadable date; no date at all
    assert q.loc["3", "reason"] == "date_of_birth (column 'dob'): cannot parse '31/02/1985'"
    assert q.loc["4", "reason"] == "date_of_birth (column 'dob'): required but missing"
    assert '"phone": "n/a"' in q.loc["3", "raw_row"]  # the mapped columns as read, for the steward
    assert result.staged_total + result.quarantined_total == len(fx.rows())
    assert warnings(ws) == {("5", "consent_email")}  # a quarantined row takes no warnings to staging
    problems = ws.quarantine_reasons("crm").set_index("problem")["rows"].to_dict()
    assert problems == {
        "date_of_birth (column 'dob'): cannot parse": 1,
        "date_of_birth (column 'dob'): required but missing": 1,
    }
    ws.close()


def test_pull_reads_in_chunks(source_url, tmp_path):
    fx.create_source(source_url)
    cfg = fx.hub_config(source_url, tmp_path, chunk_size=7)
    batches = list(open_connector("crm", cfg).stream())
    sizes = [len(b.records) + len(b.quarantined) for b in batches]
    assert len(batches) == -(-len(fx.rows()) // 7) and max(sizes) <= 7


def test_incremental_pull_picks_up_exactly_the_changed_rows(source):
    engine, cfg, ws = source
    pull_source(cfg, "crm", ws)
    later = fx.T0 + timedelta(days=3)
    with engine.begin() as conn:
        for key in (2, 4, 110):
            conn.execute(
                fx.customers.update()
                .where(fx.customers.c.id == key)
                .values(email=f"changed{key}@example.com", modified_at=later)
            )
        new = fx.rows()[0] | {"id": 999, "full_name": "NEW, Person", "modified_at": later}
        conn.execute(fx.customers.insert(), [new])

    result = pull_source(cfg, "crm", ws)
    assert result.mode == "incremental"
    assert result.records == 4 and result.quarantined == 0
    staged = ws.staged("crm").set_index("source_key")
    assert staged.loc["4", "email"] == "changed4@example.com"
    assert "999" in staged.index
    assert result.staged_total == len(fx.rows()) + 1

    again = pull_source(cfg, "crm", ws)
    assert again.records == 0 and again.staged_total == result.staged_total


def test_incremental_pull_releases_a_fixed_row_from_quarantine(source_url, tmp_path):
    engine = fx.create_source(source_url)
    cfg = fx.hub_config(source_url, tmp_path, required=("date_of_birth",))
    ws = Workspace.for_config(cfg)
    pull_source(cfg, "crm", ws)
    with engine.begin() as conn:
        conn.execute(
            fx.customers.update()
            .where(fx.customers.c.id == 3)
            .values(phone="020 7946 0333", dob="28/02/1985", modified_at=fx.T0 + timedelta(days=5))
        )
    pull_source(cfg, "crm", ws)
    assert "3" in set(ws.staged("crm").source_key)
    assert "3" not in set(ws.quarantined("crm").source_key)
    ws.close()
    engine.dispose()


def test_field_warnings_follow_the_records_through_incremental_and_full_pulls(source):
    engine, cfg, ws = source
    pull_source(cfg, "crm", ws)
    later = fx.T0 + timedelta(days=5)
    with engine.begin() as conn:  # row 3 fixed, row 2 broken, row 5 touched but still unreadable
        conn.execute(
            fx.customers.update()
            .where(fx.customers.c.id == 3)
            .values(phone="020 7946 0333", dob="28/02/1985", modified_at=later)
        )
        conn.execute(fx.customers.update().where(fx.customers.c.id == 2).values(dob="1990-02-01", modified_at=later))
        conn.execute(fx.customers.update().where(fx.customers.c.id == 5).values(notes="touched", modified_at=later))
    result = pull_source(cfg, "crm", ws)
    assert result.mode == "incremental" and result.records == 3
    assert (result.warned, result.warned_total) == (2, 2)
    assert warnings(ws) == {("2", "date_of_birth"), ("5", "consent_email")}
    assert ws.con.execute("SELECT count(*) FROM field_warnings").fetchone()[0] == 2  # replaced, never duplicated

    with engine.begin() as conn:  # fixed without a newer updated-at: only a full pull sees it
        conn.execute(fx.customers.update().where(fx.customers.c.id == 5).values(email_optin="N"))
    assert warnings(ws) == {("2", "date_of_birth"), ("5", "consent_email")}
    full = pull_source(cfg, "crm", ws, full=True)
    assert warnings(ws) == {("2", "date_of_birth")} and full.warned_total == 1


def people_source(url: str, tmp_path, rows: str, key_type: str = "VARCHAR(20)") -> HubConfig:
    """A `people` table with no key constraint (duplicates possible) and an email write-back accepts."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE TABLE people (id {key_type}, email VARCHAR(100), notes VARCHAR(20))"))
        conn.execute(sa.text(f"INSERT INTO people VALUES {rows}"))
    engine.dispose()
    return HubConfig.model_validate(
        {"workspace": str(tmp_path / "ws.duckdb"), "sources": {"crm": {
            "kind": "sql", "url": url, "table": "people", "primary_key": "id", "default_region": "GB",
            "fields": {"email": "email"}, "accepts": ["email"]}}}
    )  # fmt: skip


def people(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, email, notes FROM people ORDER BY id, notes")).all()
    engine.dispose()
    return [tuple(r) for r in rows]


def insert_people(url: str, rows: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"INSERT INTO people VALUES {rows}"))
    engine.dispose()


def test_push_skips_a_key_that_finds_several_rows_and_writes_the_rest(source_url, tmp_path):
    """A --full write-back over a table holding a duplicate key failed with 'Can only compare identically-labeled
    Series objects' (MariaDB: 'cannot reindex on an axis with duplicate labels')."""
    cfg = people_source(source_url, tmp_path, "('k1', 'a@x.com', 'one'), ('k2', NULL, 'x')")
    ws = Workspace.for_config(cfg)
    pull_source(cfg, "crm", ws, full=True)
    staged = ws.con.execute("SELECT source_key, source_version FROM staged_records ORDER BY 1").fetchall()
    ws.close()
    insert_people(source_url, "('k1', 'b@x.com', 'two')")  # a second k1 since the pull (a pull quarantines both)
    changes = pd.DataFrame(
        {"source_key": [k for k, _ in staged], "expected_version": [v for _, v in staged], "email": ["n@x.com"] * 2}
    )
    report = open_connector("crm", cfg).push(changes)
    status = report.rows.set_index("source_key")["status"].to_dict()
    assert status == {"k1": "ambiguous", "k2": "updated"}
    assert report.changes["source_key"].tolist() == ["k2"]
    assert people(source_url) == [("k1", "a@x.com", "one"), ("k1", "b@x.com", "two"), ("k2", "n@x.com", "x")]


@pytest.mark.mariadb
def test_an_update_hitting_two_rows_rolls_back_its_batch_and_the_next_batch_goes_on(mariadb_url, tmp_path):
    """On MariaDB (utf8mb4_general_ci) 'abc' and 'ABC' are one key to an UPDATE: writing abc's email would
    also overwrite ABC's, another person's. The whole batch is rolled back and reported instead."""
    cfg = people_source(mariadb_url, tmp_path, "('abc', 'abc@x.com', 'one'), ('x', NULL, 'three')")
    ws = Workspace.for_config(cfg)
    pull_source(cfg, "crm", ws)
    version = dict(ws.con.execute("SELECT source_key, source_version FROM staged_records").fetchall())
    ws.close()
    insert_people(mariadb_url, "('ABC', 'ABC@x.com', 'two')")  # since the pull (a pull quarantines both)
    connector = open_connector("crm", cfg)
    batch = pd.DataFrame(
        {"source_key": ["abc", "x"], "expected_version": [version["abc"], version["x"]], "email": ["n@x.com"] * 2}
    )
    before = people(mariadb_url)
    report = connector.push(batch)
    assert report.rows["status"].tolist() == ["ambiguous", "ambiguous"] and report.changes.empty
    assert "2 UPDATEs by people.id touched 3 rows" in report.rows.loc[0, "detail"]
    assert people(mariadb_url) == before  # nothing of the batch committed
    rest = connector.push(batch[batch["source_key"] == "x"])
    assert rest.rows["status"].tolist() == ["updated"]
    assert ("x", "n@x.com", "three") in people(mariadb_url)


def test_push_changes_only_configured_columns_of_targeted_rows(source):
    engine, cfg, ws = source
    pull_source(cfg, "crm", ws)
    before, schema_before = fx.snapshot(engine), fx.schema(engine)

    changes = staged_changes(
        ws,
        source_key=["1", "2", "4"],
        last_name=["Smith", "Jones", "Taylor"],
        email=["john.smith@example.com", "mary@example.com", "ann@example.com"],
        phone=["+442079460018", "+447700900124", None],  # None: never blank a field
    )
    report = open_connector("crm", cfg).push(changes)
    assert report.summary()["updated"] == 3

    after = fx.snapshot(engine)
    assert fx.schema(engine) == schema_before
    for table in before:
        if table != "customers":
            assert after[table] == before[table], f"table {table} changed"
    accepted_cols = {cfg.sources["crm"].fields[f].column for f in fx.ACCEPTS}
    all_cols = list(before["customers"]["1"])
    for key, row in after["customers"].items():
        changed = {c for c in all_cols if row[c] != before["customers"][key][c]}
        assert changed <= accepted_cols, f"row {key}: unmapped/unaccepted columns changed: {changed - accepted_cols}"
        if key not in {"1", "2", "4"}:
            assert not changed, f"untargeted row {key} changed"
    unmapped = ["notes", "golden_ref", "modified_at", "dob", "email_optin", "id"]
    assert fx.digest(after["customers"], unmapped) == fx.digest(before["customers"], unmapped)

    assert after["customers"]["1"]["full_name"] == "Smith, John"
    assert after["customers"]["1"]["email"] == "john.smith@example.com"
    assert after["customers"]["2"]["phone"] == "07700 900124"  # written in the source's own format
    assert after["customers"]["4"]["phone"] is None
    audit = report.changes.set_index(["source_key", "column"])
    assert audit.loc[("1", "email"), "old_value"] == "J.Smith@Example.com"
    assert audit.loc[("1", "email"), "new_value"] == "john.smith@example.com"
    assert audit.loc[("1", "full_name"), "fields"] == "first_name,last_name"


def test_push_is_idempotent_and_dry_run_writes_nothing(source):
    engine, cfg, ws = source
    pull_source(cfg, "crm", ws)
    changes = staged_changes(ws, source_key=["1", "2"], email=["a@example.com", "b@example.com"])
    connector = open_connector("crm", cfg)
    before = fx.snapshot(engine)

    dry = connector.push(changes, dry_run=True)
    assert dry.dry_run and dry.summary()["updated"] == 2 and len(dry.changes) == 2
    assert fx.snapshot(engine) == before

    first = connector.push(changes)
    assert first.summary()["updated"] == 2
    second = connector.push(changes)
    assert second.summary() == {
        "updated": 0, "unchanged": 2, "conflict": 0, "missing": 0, "ambiguous": 0, "values_changed": 0
    }  # fmt: skip


def test_push_skips_and_reports_rows_changed_since_pull(source):
    engine, cfg, ws = source
    pull_source(cfg, "crm", ws)
    with engine.begin() as conn:  # a user edits row 2 in the source after the hub pulled it
        conn.execute(
            fx.customers.update()
            .where(fx.customers.c.id == 2)
            .values(email="edited@example.com", modified_at=fx.T0 + timedelta(days=9))
        )
    changes = staged_changes(ws, source_key=["1", "2"], email=["one@example.com", "two@example.com"])
    report = open_connector("crm", cfg).push(changes)
    rows = report.rows.set_index("source_key")
    assert rows.loc["2", "status"] == "conflict" and "changed in the source" in rows.loc["2", "detail"]
    assert rows.loc["1", "status"] == "updated"
    assert fx.snapshot(engine)["customers"]["2"]["email"] == "edited@example.com"


def test_push_reports_missing_rows_and_refuses_unaccepted_fields(source):
    _engine, cfg, ws = source
    pull_source(cfg, "crm", ws)
    connector = open_connector("crm", cfg)
    gone = pd.DataFrame({"source_key": ["424242"], "expected_version": ["x"], "email": ["x@example.com"]})
    assert connector.push(gone).rows.loc[0, "status"] == "missing"
    with pytest.raises(ValueError, match=r"date_of_birth.*accepts"):
        connector.push(staged_changes(ws, source_key=["1"], date_of_birth=[pd.Timestamp("1999-01-01")]))


@pytest.mark.parametrize("target", [{"column": "golden_ref"}, {"table": "hub_golden_ids"}])
def test_push_writes_golden_ids_where_configured(source_url, tmp_path, target):
    engine = fx.create_source(source_url)
    cfg = fx.hub_config(source_url, tmp_path, golden_id=target)
    ws = Workspace.for_config(cfg)
    pull_source(cfg, "crm", ws)
    before = fx.snapshot(engine)
    changes = staged_changes(ws, source_key=["1", "2"], golden_id=["G-1", "G-2"])
    connector = open_connector("crm", cfg)
    assert connector.push(changes).summary()["values_changed"] == 2
    after = fx.snapshot(engine)
    if "column" in target:
        assert after["customers"]["1"]["golden_ref"] == "G-1"
    else:
        assert after["customers"] == before["customers"] and after["orders"] == before["orders"]
        assert {k: r["golden_id"] for k, r in after["hub_golden_ids"].items()} == {"1": "G-1", "2": "G-2"}
    assert connector.push(changes).summary()["values_changed"] == 0
    moved = staged_changes(ws, source_key=["2"], golden_id=["G-9"])  # a merge redirected row 2
    assert connector.push(moved).changes.loc[0, ["old_value", "new_value"]].tolist() == ["G-2", "G-9"]
    ws.close()


def test_side_table_never_takes_over_an_existing_table(sqlite_url, tmp_path):
    fx.create_source(sqlite_url)
    cfg = fx.hub_config(sqlite_url, tmp_path, golden_id={"table": "orders"})
    ws = Workspace.for_config(cfg)
    pull_source(cfg, "crm", ws)
    with pytest.raises(SourceError, match="never alters existing tables"):
        open_connector("crm", cfg).push(staged_changes(ws, source_key=["1"], golden_id=["G-1"]))
    ws.close()


def test_source_not_matching_its_config_names_the_problem(sqlite_url, tmp_path):
    engine = fx.create_source(sqlite_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE customers RENAME COLUMN email TO mail"))
    with pytest.raises(
        SourceError, match=r"sources\.crm\.fields\.email\.column: no column 'email' in table 'customers'"
    ):
        open_connector("crm", fx.hub_config(sqlite_url, tmp_path))


def test_incremental_text_cursor_with_offset_keeps_a_row_committed_later_at_the_same_time(tmp_path):
    """Salesforce-style '2024-01-01T10:00:00.000+0000' does not compare byte-for-byte with a
    formatted cursor; a row added later with exactly the cursor's time must still be pulled."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE contacts (Id TEXT PRIMARY KEY, Email TEXT, LastModifiedDate TEXT)"))
        conn.execute(sa.text("INSERT INTO contacts VALUES ('a', 'a@x.com', '2024-01-01T10:00:00.000+0000')"))
    cfg = HubConfig.model_validate(
        {
            "workspace": str(tmp_path / "ws.duckdb"),
            "sources": {
                "crm": {
                    "kind": "sql", "url": url, "table": "contacts", "primary_key": "Id",
                    "updated_at": "LastModifiedDate", "updated_at_format": "%Y-%m-%dT%H:%M:%S.%f%z",
                    "fields": {"email": "Email"},
                }
            },
        }
    )  # fmt: skip
    ws = Workspace.for_config(cfg)
    pull_source(cfg, "crm", ws)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO contacts VALUES ('b', 'b@x.com', '2024-01-01T10:00:00.000+0000')"))
    result = pull_source(cfg, "crm", ws)
    assert result.records == 1 and set(ws.staged("crm").source_key) == {"a", "b"}
    ws.close()


def test_change_marker_moves_on_edits_inserts_and_deletes_but_not_on_write_back(source):
    engine, cfg, ws = source
    connector = open_connector("crm", cfg)
    quiet = connector.change_marker()
    assert connector.change_marker() == quiet

    pull_source(cfg, "crm", ws)
    report = connector.push(staged_changes(ws, source_key=["1"], email=["harmonized@example.com"]))
    assert report.count("updated") == 1
    assert connector.change_marker() == quiet  # the hub's own write-back never looks like a source change

    with engine.begin() as conn:
        conn.execute(fx.customers.update().where(fx.customers.c.id == 2).values(modified_at=fx.T0 + timedelta(days=9)))
    edited = connector.change_marker()
    assert edited != quiet
    with engine.begin() as conn:
        conn.execute(fx.customers.delete().where(fx.customers.c.id == 110))
    assert connector.change_marker() != edited


def test_side_table_push_works_when_sqlite_spills_the_open_write_transaction(sqlite_url, tmp_path):
    """Regression: the side table used to be inspected on a second connection, which waits on the write
    lock this push holds once SQLite spills its page cache to the file, and then fails with 'database is
    locked' (seen at 1M rows; a one-page cache makes it happen on a handful)."""
    fx.create_source(sqlite_url).dispose()
    cfg = fx.hub_config(sqlite_url, tmp_path, golden_id={"table": "hub_golden_ids"})
    ws = Workspace.for_config(cfg)
    pull_source(cfg, "crm", ws)
    engine = sa.create_engine(sqlite_url, connect_args={"timeout": 0.5})
    sa.event.listen(engine, "connect", lambda dbapi, _rec: dbapi.execute("PRAGMA cache_size = 1"))
    connector = SqlConnector("crm", cfg.sources["crm"], cfg, engine=engine)
    keys = ws.staged("crm")["source_key"].tolist()
    changes = staged_changes(ws, source_key=keys, email=[f"spill{k}@example.com" for k in keys])
    report = connector.push(changes.assign(golden_id=[f"G-{k}" for k in keys]))
    assert report.count("updated") == len(keys)
    ws.close()
    engine.dispose()
