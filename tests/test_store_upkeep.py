"""After a publish that rewrote much of a PostgreSQL store, lookups read the covering name indexes alone at once
(hub/store/upkeep.py), instead of reading every candidate's row from the table until autovacuum comes by."""

from __future__ import annotations

import pandas as pd
import pytest
import sqlalchemy as sa

from hub import store
from hub.store import upkeep
from hub.store.search import SearchCriteria, candidate_queries
from tests.test_store import golden, links, person, publish

N = 3000


def _people(n: int, start: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    ids = [f"G{i:06d}" for i in range(start, start + n)]
    rows = [person(g, first_name=f"Ann{i % 7}", last_name=f"Smith{i % 11}") for i, g in enumerate(ids)]
    return golden(*rows), links(*[(f"k{g}", g) for g in ids])


def _name_plan(conn: sa.Connection) -> list[str]:
    """The plan of a two-name search's statement on the surname (it finds every record), run, with index scans the
    only way in."""
    conn.exec_driver_sql("SET enable_seqscan = off")
    conn.exec_driver_sql("SET enable_bitmapscan = off")
    queries = candidate_queries(SearchCriteria(name="ann smith"), N, ["golden_id", "first_name", "last_name"])
    texts = [str(q.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})) for q in queries]
    [sql] = [t for t in texts if "lower(golden_records.last_name) >= 'smi'" in t]
    assert len(conn.exec_driver_sql(sql).all()) == N
    return [row[0] for row in conn.exec_driver_sql(f"EXPLAIN (ANALYZE, COSTS OFF) {sql}")]


@pytest.mark.postgres
def test_a_first_publish_leaves_name_lookups_reading_no_table_row_on_postgres(postgres_url):
    engine = store.open_store(postgres_url)
    publish(engine, *_people(N))
    with engine.connect() as conn:
        plan = _name_plan(conn)
    engine.dispose()
    assert any("Index Only Scan" in step for step in plan), plan
    fetches = [step for step in plan if "Heap Fetches" in step]
    assert fetches and all(step.strip() == "Heap Fetches: 0" for step in fetches), plan


@pytest.mark.postgres
def test_only_a_publish_that_wrote_a_tenth_of_a_table_vacuums_it(postgres_url):
    engine = store.open_store(postgres_url)
    with engine.connect() as conn:
        assert upkeep.due(conn, {"golden_records": 1, "xref": 0}) == ["golden_records"]  # never analyzed: a first
        conn.exec_driver_sql("ANALYZE")
    gold, xr = _people(N)
    publish(engine, gold, xr)
    with engine.connect() as conn:
        assert upkeep.due(conn, {"golden_records": N // 10, "xref": N // 10 - 1}) == ["golden_records"]
        assert upkeep.due(conn, {"golden_records": 0, "no_such_table": N}) == []
    changed = gold.assign(last_name=gold["last_name"].where(gold.index > 0, "Jones"))
    assert upkeep.after_publish(engine, {"golden_records": 1}) == []
    assert publish(engine, changed, xr).changed == 1
    engine.dispose()


def test_a_sqlite_store_is_left_as_it_is(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path / 'serving.db'}")
    assert upkeep.after_publish(engine, {"golden_records": N}) == []
    engine.dispose()
