"""Set-based write-back on SQLite, PostgreSQL and MariaDB (connectors/sql_stage.py): the batch's keys and values are
staged in temporary tables and the rows read and updated by join, with the guarantees of a row-by-row push: the
optimistic check, one row per key, NULL as "leave the cell", any text, atomic batches, locks until commit."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import SourceError, SqlConnector
from connectors.transforms import row_version
from hub import store
from hub.config import HubConfig

pytestmark = pytest.mark.slow(seconds=10)  # the file's weight in the suite's order (tests/conftest.py)

T0 = datetime(2024, 1, 1, 9, 0, 0)
FIELDS = {"first_name": "given", "email": "email", "city": "town"}


def people_table(key_type: sa.types.TypeEngine | None = None, unique: bool = True) -> sa.Table:
    """A source table: a NOT NULL written column (a staged NULL there means "leave it"), a column never mapped."""
    return sa.Table(
        "wb_people",
        sa.MetaData(),
        sa.Column("id", key_type if key_type is not None else sa.String(20), primary_key=unique, autoincrement=False),
        sa.Column("given", sa.String(60)),
        sa.Column("email", sa.String(120), nullable=False),
        sa.Column("town", sa.String(60)),
        sa.Column("notes", sa.String(60)),
        sa.Column("modified_at", sa.DateTime),
    )


def source(url: str, tmp_path, rows: list[dict], table: sa.Table | None = None, **block) -> SqlConnector:
    table = table if table is not None else people_table()
    engine = sa.create_engine(url)
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{"notes": "kept", "modified_at": T0, **r} for r in rows])
    cfg = HubConfig.model_validate(
        {"workspace": str(tmp_path / "ws.duckdb"), "sources": {"crm": {
            "kind": "sql", "url": url, "table": "wb_people", "primary_key": "id", "updated_at": "modified_at",
            "fields": FIELDS, "accepts": list(FIELDS), **block}}}
    )  # fmt: skip
    return SqlConnector("crm", cfg.sources["crm"], cfg, engine=engine)


def planned(connector: SqlConnector, values: dict[str, dict[str, str | None]]) -> pd.DataFrame:
    """Push input as write-back builds it: each row's version as a pull sees it, and the values to write."""
    raw = pd.concat(list(connector.read_chunks(None)), ignore_index=True)
    version = dict(zip(raw["id"].astype("string"), row_version(raw, connector.src), strict=True))
    rows = [{"source_key": k, "expected_version": version.get(k, "gone"), **v} for k, v in values.items()]
    return pd.DataFrame(rows, columns=["source_key", "expected_version", *FIELDS]).astype("string")


def rows_of(connector: SqlConnector) -> dict[str, tuple]:
    with connector.engine.connect() as conn:
        found = conn.execute(sa.text("SELECT id, given, email, town, notes FROM wb_people")).all()
    return {str(r[0]): tuple(r[1:]) for r in found}


def status(report) -> dict[str, str]:
    return dict(zip(report.rows["source_key"], report.rows["status"], strict=True))


def test_a_row_changed_after_planning_is_not_overwritten(source_url, tmp_path):
    connector = source(
        source_url, tmp_path, [{"id": "1", "email": "a@x.com"}, {"id": "2", "email": "b@x.com", "town": "Leeds"}]
    )
    plan = planned(connector, {"1": {"email": "one@x.com"}, "2": {"email": "two@x.com", "city": "York"}})
    with connector.engine.begin() as conn:  # someone edits row 2 after the plan was made
        conn.execute(
            sa.text("UPDATE wb_people SET town = 'Hull', modified_at = :t WHERE id = '2'"), {"t": T0.replace(hour=10)}
        )
    report = connector.push(plan)
    assert status(report) == {"1": "updated", "2": "conflict"}
    assert rows_of(connector) == {"1": (None, "one@x.com", None, "kept"), "2": (None, "b@x.com", "Hull", "kept")}
    assert report.changes["source_key"].tolist() == ["1"]


def test_the_rows_read_stay_locked_until_the_batch_commits(source_url, tmp_path):
    """The optimistic check holds because the rows it read cannot change before the UPDATE commits: another
    connection's write to a row the batch read waits (and here gives up), whether the batch writes that row or not."""
    connector = source(source_url, tmp_path, [{"id": "1", "email": "a@x.com"}, {"id": "2", "email": "b@x.com"}])
    plan = planned(connector, {"1": {"email": "one@x.com"}, "2": {"email": "b@x.com"}})  # row 2: already so
    other = sa.create_engine(source_url, connect_args={"timeout": 0.2} if source_url.startswith("sqlite") else {})
    refused = []

    def edit_meanwhile(_report) -> None:
        for key in ("1", "2"):
            with other.connect() as conn:
                if other.dialect.name == "postgresql":
                    conn.exec_driver_sql("SET lock_timeout = '200ms'")
                elif other.dialect.name == "mysql":
                    conn.exec_driver_sql("SET SESSION innodb_lock_wait_timeout = 1")
                try:
                    conn.execute(sa.text("UPDATE wb_people SET town = 'Hull' WHERE id = :k"), {"k": key})
                    conn.commit()
                except sa.exc.OperationalError:
                    refused.append(key)

    report = connector.push(plan, before_commit=edit_meanwhile)
    other.dispose()
    assert status(report) == {"1": "updated", "2": "unchanged"}
    assert refused == ["1", "2"]
    assert rows_of(connector) == {"1": (None, "one@x.com", None, "kept"), "2": (None, "b@x.com", None, "kept")}


def _collation_insensitive_key(url: str) -> sa.types.TypeEngine:
    """A key type under which 'abc' and 'ABC' are one key: NOCASE on SQLite, a nondeterministic ICU collation on
    PostgreSQL, MariaDB's default collation."""
    if url.startswith("sqlite"):
        return sa.String(20, collation="NOCASE")
    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE COLLATION hub_ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)"
            )
        engine.dispose()
        return sa.String(20, collation="hub_ci")
    return sa.String(20)


def test_a_key_matching_two_rows_refuses_the_whole_batch(source_url, tmp_path):
    """'abc' and 'ABC' are one key to the database's collation: written by join, abc's values would land in ABC's
    row too. Counted before the UPDATE: the batch is rolled back and every row of it reported ambiguous."""
    table = people_table(_collation_insensitive_key(source_url), unique=False)
    rows = [{"id": "abc", "email": "abc@x.com"}, {"id": "ABC", "email": "ABC@x.com"}, {"id": "x", "email": "x@x.com"}]
    connector = source(source_url, tmp_path, rows, table=table)
    before = rows_of(connector)
    report = connector.push(planned(connector, {"abc": {"email": "new@x.com"}, "x": {"email": "newx@x.com"}}))
    assert set(status(report).values()) == {"ambiguous"} and report.changes.empty
    assert "2 UPDATEs by wb_people.id touched 3 rows" in report.rows["detail"].iloc[0]
    assert rows_of(connector) == before
    both = connector.push(planned(connector, {"abc": {"email": "n1@x.com"}, "ABC": {"email": "n2@x.com"}}))
    assert "2 UPDATEs by wb_people.id touched 4 rows" in both.rows["detail"].iloc[0]  # each key finds both rows
    assert rows_of(connector) == before
    rest = connector.push(planned(connector, {"x": {"email": "newx@x.com"}}))
    assert status(rest) == {"x": "updated"} and rows_of(connector)["x"][1] == "newx@x.com"


def test_nulls_leave_cells_and_blanks_are_filled(source_url, tmp_path):
    """Rows setting different columns share one UPDATE: a staged NULL leaves the cell as it is (a NOT NULL column
    included), a NULL in the source is filled, and a row with nothing new is not written."""
    rows = [
        {"id": "1", "given": "Ann", "email": "a@x.com", "town": None},
        {"id": "2", "given": None, "email": "b@x.com", "town": "Leeds"},
        {"id": "3", "given": "Cy", "email": "c@x.com", "town": None},
        {"id": "4", "given": None, "email": "d@x.com", "town": None},
    ]
    connector = source(source_url, tmp_path, rows)
    plan = planned(
        connector,
        {
            "1": {"city": "York"},  # a blank filled, the rest left
            "2": {"first_name": "Bo", "email": "bo@x.com"},  # two columns, town left
            "3": {"first_name": "Cy", "city": None},  # the same name: unchanged, the blank town stays blank
            "4": {"first_name": None, "email": None, "city": None},  # nothing to write
        },
    )
    report = connector.push(plan)
    assert status(report) == {"1": "updated", "2": "updated", "3": "unchanged", "4": "unchanged"}
    assert rows_of(connector) == {
        "1": ("Ann", "a@x.com", "York", "kept"),
        "2": ("Bo", "bo@x.com", "Leeds", "kept"),
        "3": ("Cy", "c@x.com", None, "kept"),
        "4": (None, "d@x.com", None, "kept"),
    }
    audit = report.changes.set_index(["source_key", "column"])
    assert pd.isna(audit.loc[("1", "town"), "old_value"]) and audit.loc[("1", "town"), "new_value"] == "York"
    assert sorted(audit.index) == [("1", "town"), ("2", "email"), ("2", "given")]


@pytest.mark.parametrize(
    "text",
    [
        "O'Brien", 'Zoë "Zo" Ünal', "Łódź \u2013 東京 🙂", "back\\slash", "%s %(x)s :name $1 ?", "tab\tin",
        "line\nbreak", "a" * 60,
    ],
)  # fmt: skip
def test_any_text_is_written_as_it_is(source_url, tmp_path, text):
    connector = source(source_url, tmp_path, [{"id": "1", "email": "a@x.com"}, {"id": "2", "email": "b@x.com"}])
    report = connector.push(planned(connector, {"1": {"city": text}, "2": {"email": "b@x.com"}}))
    assert status(report) == {"1": "updated", "2": "unchanged"}
    assert rows_of(connector)["1"] == (None, "a@x.com", text, "kept")
    assert report.changes["new_value"].tolist() == [text]


def test_a_batch_larger_than_a_staging_batch_is_written_whole(source_url, tmp_path, monkeypatch):
    """2,500 rows staged 1,000 at a time (integer keys): each gets its own values, and a permanent table named like
    a stage is never touched."""
    monkeypatch.setattr(store.bulk, "BATCH_ROWS", 1000)
    rows = [{"id": i, "email": f"p{i}@x.com", "town": "Leeds" if i % 3 else None} for i in range(2500)]
    connector = source(source_url, tmp_path, rows, table=people_table(sa.Integer()))
    bystander = sa.Table(
        "hub_wb_rows", sa.MetaData(), sa.Column("hub_key", sa.Integer), sa.Column("town", sa.String(9))
    )
    bystander.create(connector.engine)
    with connector.engine.begin() as conn:
        conn.execute(bystander.insert(), [{"hub_key": 7, "town": "Mine"}])
    plan = planned(connector, {str(i): {"email": f"n{i}@x.com", "city": f"Town {i}"} for i in range(2500)})
    report = connector.push(plan)
    assert report.count("updated") == 2500 and len(report.changes) == 5000
    after = rows_of(connector)
    assert all(after[str(i)] == (None, f"n{i}@x.com", f"Town {i}", "kept") for i in range(2500))
    with connector.engine.connect() as conn:
        assert conn.execute(sa.select(bystander)).all() == [(7, "Mine")]


def test_a_batch_failing_after_its_updates_leaves_the_source_as_it_was(source_url, tmp_path):
    """The temporary tables are created and dropped inside the batch's transaction, golden ids included (a second
    round of stages after the first UPDATE): none of it commits early (on MariaDB only CREATE / DROP TEMPORARY TABLE
    keep a transaction open), so a batch that fails before its commit writes nothing."""
    rows = [{"id": "1", "email": "a@x.com"}, {"id": "2", "email": "b@x.com"}]
    table = people_table()
    table.append_column(sa.Column("golden_ref", sa.String(64)))
    connector = source(source_url, tmp_path, rows, table=table, golden_id={"column": "golden_ref"})
    plan = planned(connector, {"1": {"email": "one@x.com"}, "2": {"city": "York"}}).assign(golden_id=["G-1", "G-2"])
    before = rows_of(connector)

    def fail(_report) -> None:
        raise RuntimeError("killed before the commit")

    with pytest.raises(RuntimeError, match="killed"):
        connector.push(plan, before_commit=fail)
    assert rows_of(connector) == before
    report = connector.push(plan)
    assert status(report) == {"1": "updated", "2": "updated"} and len(report.changes) == 4
    with connector.engine.connect() as conn:
        assert dict(conn.execute(sa.text("SELECT id, golden_ref FROM wb_people")).all()) == {"1": "G-1", "2": "G-2"}


def test_an_sqlite_without_update_from_is_refused_by_name(sqlite_url, tmp_path, monkeypatch):
    connector = source(sqlite_url, tmp_path, [{"id": "1", "email": "a@x.com"}])
    monkeypatch.setattr(connector.engine.dialect.dbapi, "sqlite_version_info", (3, 32, 3))
    with pytest.raises(SourceError, match=r"needs SQLite 3\.33 or newer"):
        connector.push(planned(connector, {"1": {"email": "one@x.com"}}))
    assert rows_of(connector) == {"1": (None, "a@x.com", None, "kept")}


def test_versions_reads_the_same_version_tokens_as_fetch(source_url, tmp_path):
    """Write-back's read-back asks only the version of rows it gave nothing but a golden id (WriteSession.versions):
    it must be the token fetch (and a pull) computes, or every such row would look moved, or never would."""
    rows = [{"id": f"k{i}", "given": "Ann", "email": f"a{i}@x.org", "modified_at": datetime(2024, 1, 2, 3, 4, i)}
            for i in range(5)]  # fmt: skip
    rows.append({"id": "k-null", "given": None, "email": "n@x.org", "modified_at": None})
    connector = source(source_url, tmp_path, rows)
    keys = [r["id"] for r in rows] + ["not-there"]
    with connector.write_session(dry_run=True) as session:
        fetched = session.fetch(keys)[["source_key", "source_version"]]
        versions = session.versions(keys)
    by_key = lambda f: dict(zip(f["source_key"], f["source_version"], strict=True))  # noqa: E731
    assert by_key(versions) == by_key(fetched)
    assert len(versions) == len(rows) and versions["source_version"].notna().all()


def test_a_cell_whose_text_would_not_change_is_not_written(source_url, tmp_path):
    """A full-name column read as first + last: "Mary Ann Smith" reads as "Mary Ann" + "Smith", and a golden "Mary" +
    "Ann Smith" (a double surname another system holds apart) joins back to the same text. Nothing is written and
    nothing is audited: no UPDATE for a cell that stays as it is (a trigger would otherwise stamp its updated-at, and
    the audit say "Mary Ann Smith -> Mary Ann Smith")."""
    fields = {
        "first_name": {"column": "given", "transform": "split_name", "order": "first_last", "part": "first"},
        "last_name": {"column": "given", "transform": "split_name", "order": "first_last", "part": "last"},
        "email": "email",
    }
    rows = [
        {"id": "k1", "given": "Mary Ann Smith", "email": "n@x.org"},
        {"id": "k2", "given": "Ann Lee", "email": "a@x.org"},
    ]
    connector = source(source_url, tmp_path, rows, fields=fields, accepts=list(fields))
    raw = pd.concat(list(connector.read_chunks(None)), ignore_index=True)
    version = dict(zip(raw["id"].astype("string"), row_version(raw, connector.src), strict=True))
    plan = pd.DataFrame(
        [
            {"source_key": "k1", "expected_version": version["k1"], "first_name": "Mary", "last_name": "Ann Smith"},
            {"source_key": "k2", "expected_version": version["k2"], "first_name": "Anne", "last_name": "Lee"},
        ]
    ).astype("string")
    report = connector.push(plan)
    assert status(report) == {"k1": "unchanged", "k2": "updated"}
    assert report.changes[["source_key", "old_value", "new_value"]].values.tolist() == [["k2", "Ann Lee", "Anne Lee"]]
    assert rows_of(connector) == {
        "k1": ("Mary Ann Smith", "n@x.org", None, "kept"),
        "k2": ("Anne Lee", "a@x.org", None, "kept"),
    }


def test_a_surname_part_written_alone_keeps_the_particles_out_of_the_first_name(source_url, tmp_path):
    """A full-name column "Tilmann van der Dussen" whose golden surname "van der Dussen" is written while the first
    name is left as it is: the first name the row holds is "Tilmann", so the cell stays. When the split read
    "Tilmann van der" + "Dussen", the push wrote "Tilmann van der van der Dussen"."""
    fields = {
        "first_name": {"column": "given", "transform": "split_name", "order": "first_last", "part": "first"},
        "last_name": {"column": "given", "transform": "split_name", "order": "first_last", "part": "last"},
        "email": "email",
    }
    rows = [{"id": "k1", "given": "Tilmann van der Dussen", "email": "t@x.org"}]
    connector = source(source_url, tmp_path, rows, fields=fields, accepts=list(fields))
    raw = pd.concat(list(connector.read_chunks(None)), ignore_index=True)
    version = dict(zip(raw["id"].astype("string"), row_version(raw, connector.src), strict=True))
    plan = pd.DataFrame(
        [{"source_key": "k1", "expected_version": version["k1"], "first_name": None, "last_name": "van der Dussen"}]
    ).astype("string")
    report = connector.push(plan)
    assert status(report) == {"k1": "unchanged"} and report.changes.empty
    assert rows_of(connector)["k1"][0] == "Tilmann van der Dussen"
