"""hub.workspace.replace_rows: rows replacing those with their key, by DELETE + INSERT for a few rows and by
INSERT OR REPLACE for many. Both ways must leave the same table; a reference built in pandas says which."""

from __future__ import annotations

import random

import duckdb
import pandas as pd
import pytest

from hub import workspace
from hub.workspace import replace_rows

KEYS = ("source_system", "source_key")


def _table(con: duckdb.DuckDBPyConnection, rows: list[tuple]) -> None:
    con.execute(
        "CREATE TABLE t (source_system VARCHAR, source_key VARCHAR, golden_id VARCHAR, note VARCHAR, n INTEGER,"
        " PRIMARY KEY (source_system, source_key))"
    )
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", rows)


def _expected(before: list[tuple], new: list[tuple]) -> pd.DataFrame:
    """The reference: every row of `new`, and the rows of `before` whose key `new` does not hold."""
    cols = ["source_system", "source_key", "golden_id", "note", "n"]
    old, fresh = pd.DataFrame(before, columns=cols), pd.DataFrame(new, columns=cols)
    kept = old[~old.set_index(list(KEYS)).index.isin(fresh.set_index(list(KEYS)).index)]
    return _sorted(pd.concat([kept, fresh], ignore_index=True))


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    ordered = frame.sort_values(list(KEYS)).reset_index(drop=True).astype(object)
    return ordered.where(ordered.notna(), None)


@pytest.mark.parametrize("by_delete", [True, False], ids=["delete-insert", "upsert"])
@pytest.mark.parametrize("seed", range(5))
def test_both_ways_replace_the_rows_of_the_keys_given_and_keep_the_others(monkeypatch, by_delete, seed):
    monkeypatch.setattr(workspace, "REPLACE_BY_DELETE", 10**9 if by_delete else -1)
    rnd = random.Random(seed)
    key = lambda i: (("crm", "web")[i % 2], f"k{i // 2}")  # noqa: E731  (each key text under both systems)
    before = [(*key(i), f"g{rnd.randrange(50)}", rnd.choice(["x", None]), i) for i in range(200)]
    changed = rnd.sample(range(300), 120)  # some replace existing rows, some are new keys
    new = [(*key(i), f"g{rnd.randrange(50)}", rnd.choice(["y", None]), -i) for i in changed]
    con = duckdb.connect()
    _table(con, before)
    frame = pd.DataFrame(new, columns=["source_system", "source_key", "golden_id", "note", "n"])
    con.register("_new", frame.iloc[:, ::-1])  # columns are matched by name, not position
    replace_rows(con, "t", "SELECT * FROM _new", KEYS)
    assert _sorted(con.execute("SELECT * FROM t").df()).equals(_expected(before, new))


@pytest.mark.parametrize("by_delete", [True, False], ids=["delete-insert", "upsert"])
def test_the_rows_may_be_read_from_the_table_they_replace(monkeypatch, by_delete):
    """What echoes do: the new row keeps a column of the old one where it brings none."""
    monkeypatch.setattr(workspace, "REPLACE_BY_DELETE", 10**9 if by_delete else -1)
    con = duckdb.connect()
    _table(con, [("crm", "1", "g1", "kept", 1), ("crm", "2", "g2", "other", 2)])
    con.register("_new", pd.DataFrame({"source_system": ["crm", "crm"], "source_key": ["1", "3"], "n": [10, 30]}))
    replace_rows(
        con,
        "t",
        """SELECT n.source_system, n.source_key, o.golden_id, o.note, n.n FROM _new AS n
           LEFT JOIN t AS o USING (source_system, source_key)""",
        KEYS,
    )
    rows = con.execute("SELECT * FROM t ORDER BY source_key").fetchall()
    assert rows == [("crm", "1", "g1", "kept", 10), ("crm", "2", "g2", "other", 2), ("crm", "3", None, None, 30)]
    assert not con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = '_replace_rows'").fetchone()[0]


def test_a_key_given_twice_fails_and_leaves_the_table_as_it_was():
    con = duckdb.connect()
    _table(con, [("crm", "1", "g1", None, 1)])
    con.register("_new", pd.DataFrame({"source_system": ["crm", "crm"], "source_key": ["1", "1"], "n": [2, 3]}))
    con.execute("BEGIN TRANSACTION")
    with pytest.raises(duckdb.Error):
        replace_rows(con, "t", "SELECT * FROM _new", KEYS)
    con.execute("ROLLBACK")
    assert con.execute("SELECT * FROM t").fetchall() == [("crm", "1", "g1", None, 1)]


@pytest.mark.parametrize("by_delete", [True, False], ids=["delete-insert", "update"])
def test_rows_that_all_replace_one_are_updated_when_many_even_without_a_primary_key(monkeypatch, by_delete):
    """staged_records has no primary key: many rows read back after a write-back are updated in place."""
    monkeypatch.setattr(workspace, "REPLACE_BY_DELETE", 10**9 if by_delete else -1)
    con = duckdb.connect()
    con.execute("CREATE TABLE s (source_system VARCHAR, source_key VARCHAR, email VARCHAR, pulled_at INTEGER)")
    before = [("crm", str(i), f"{i}@x.org", i) for i in range(50)] + [
        ("web", str(i), f"w{i}@x.org", i) for i in range(50)
    ]
    con.executemany("INSERT INTO s VALUES (?, ?, ?, ?)", before)
    con.register("_fresh", pd.DataFrame({"source_system": "crm", "source_key": ["3", "7"], "email": ["new", None]}))
    replace_rows(
        con,
        "s",
        "SELECT s.* REPLACE (f.email AS email) FROM s JOIN _fresh AS f USING (source_system, source_key)",
        KEYS,
        new_keys=False,
    )
    after = dict(((r[0], r[1]), r[2:]) for r in con.execute("SELECT * FROM s").fetchall())
    expected = {(r[0], r[1]): r[2:] for r in before} | {("crm", "3"): ("new", 3), ("crm", "7"): (None, 7)}
    assert after == expected and con.execute("SELECT count(*) FROM s").fetchone()[0] == 100


def test_a_column_the_rows_leave_out_is_null_whichever_way_they_go_in(monkeypatch):
    """The three ways (delete + insert, upsert, update) leave the same table."""
    tables = []
    for limit, new_keys in ((10**9, True), (-1, True), (-1, False)):
        monkeypatch.setattr(workspace, "REPLACE_BY_DELETE", limit)
        con = duckdb.connect()
        _table(con, [("crm", "1", "g1", "kept?", 1), ("crm", "2", "g2", "other", 2)])
        con.register("_new", pd.DataFrame({"source_system": ["crm"], "source_key": ["1"], "n": [10]}))
        replace_rows(con, "t", "SELECT * FROM _new", KEYS, new_keys=new_keys)
        tables.append(con.execute("SELECT * FROM t ORDER BY source_key").fetchall())
    assert tables[0] == [("crm", "1", None, None, 10), ("crm", "2", "g2", "other", 2)]
    assert tables[1] == tables[0] and tables[2] == tables[0]
