"""The set differences incremental runs start from (matching.changes.changed_ids_sql, golden_record.incremental.
member_changes), computed with one full join on the id, against a reference oracle: the two EXCEPTs they replace."""

from __future__ import annotations

import random

import duckdb
import pandas as pd
import pytest

from golden_record import incremental
from hub.catalogue import GOLDEN_MEMBERS
from matching import changes


def _evolve(rng: random.Random, before: dict[str, str], values: list[str]) -> dict[str, str]:
    """Ids gone, ids new, values changed and kept, at random."""
    after = {k: v for k, v in before.items() if rng.random() > 0.1}
    after |= {k: rng.choice(values) for k in list(after) if rng.random() < 0.2}
    after |= {f"new{i}": rng.choice(values) for i in range(rng.randrange(0, 30))}
    return after


def _frame(rows: dict[str, str], key: str, value: str) -> pd.DataFrame:
    return pd.DataFrame({key: pd.Series(list(rows), dtype="string"), value: pd.Series(list(rows.values()))})


@pytest.mark.parametrize("seed", range(5))
def test_changed_ids_are_the_symmetric_difference_of_the_fingerprints(seed):
    rng = random.Random(seed)
    kept = {f"s:{i}": str(rng.randrange(5)) for i in range(300)}
    current = _evolve(rng, kept, [str(v) for v in range(5)])
    con = duckdb.connect()
    for name, rows in (("kept", kept), ("current", current)):
        con.register("_rows", _frame(rows, "unique_id", "fp").astype({"fp": "uint64"}))
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _rows")
        con.unregister("_rows")
    got = {r[0] for r in con.execute(changes.changed_ids_sql("current", "kept")).fetchall()}
    oracle = {r[0] for r in con.execute(
        """SELECT unique_id FROM (SELECT * FROM current EXCEPT SELECT * FROM kept)
           UNION SELECT unique_id FROM (SELECT * FROM kept EXCEPT SELECT * FROM current)"""
    ).fetchall()}  # fmt: skip
    assert got == oracle
    assert got  # the evolution changed something, so the comparison can fail
    assert len(con.execute(changes.changed_ids_sql("current", "kept")).fetchall()) == len(got)  # each id once


@pytest.mark.parametrize("seed", range(5))
def test_memberships_left_and_joined_are_the_two_set_differences(seed):
    rng = random.Random(seed)
    ids = [f"G{i}" for i in range(40)]
    basis = {f"r{i}": rng.choice(ids) for i in range(300)}
    now = _evolve(rng, basis, ids)
    con = duckdb.connect()
    for name, rows in ((GOLDEN_MEMBERS, basis), ("_members_now", now)):
        con.register("_rows", _frame(rows, "record_id", "golden_id"))
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _rows")
        con.unregister("_rows")
    incremental.member_changes(con, "_members_now")
    for table, first, second in (("_gi_left", GOLDEN_MEMBERS, "_members_now"),
                                 ("_gi_joined", "_members_now", GOLDEN_MEMBERS)):  # fmt: skip
        got = set(con.execute(f"SELECT record_id, golden_id FROM {table}").fetchall())
        oracle = set(con.execute(f"SELECT * FROM {first} EXCEPT SELECT * FROM {second}").fetchall())
        assert got == oracle and got, table
        assert len(con.execute(f"SELECT * FROM {table}").fetchall()) == len(got)  # a set, as EXCEPT gives
