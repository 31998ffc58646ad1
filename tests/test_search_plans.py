"""Every statement search and match-on-entry find candidates with is an index range scan on the serving store, on
SQLite and PostgreSQL alike: with a million golden records a table scan costs seconds, where the index costs what
the candidates cost (hub.store.search); the rows they then read in full are primary-key lookups. The plans come
from the databases' own EXPLAIN."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from hub import store
from hub.api.search import rank_columns
from hub.store.schema import golden_records
from hub.store.search import SEARCH_COLUMNS, SearchCriteria, candidate_queries, rows_query

CRITERIA = {
    "one name": SearchCriteria(name="smith"),
    "two names": SearchCriteria(name="john smith"),
    "three names": SearchCriteria(name="mary ann o'neill"),
    "email": SearchCriteria(email="John.Smith@example.com"),
    "email prefix": SearchCriteria(email="john.sm"),
    "phone": SearchCriteria(phone="+447700900123"),
    "postcode": SearchCriteria(postal_code="ls1 4ap"),
    "all": SearchCriteria("ann smith", "ann@example.com", "+447700900123", "LS1"),
    "match": SearchCriteria("ann smitt", "ann@example.com", None, "LS1 4AP"),  # as match-on-entry's commonest
    "match by phone": SearchCriteria("ann smitt", None, "+447700900123", None),  # and its other common one
}
# A name of two words or more keeps the rows whose other name starts with a given initial: an index on both names
# (migration 0012) checks the initial in the index, so only the rows kept are read from the table.
BOTH_NAMES = ("ix_golden_records_lower_last_first", "ix_golden_records_lower_first_last")
# what match-on-entry reads of the candidates it scores (hub.api.match)
MATCH_COLUMNS = ["golden_id", "first_name", "last_name", "date_of_birth", "email", "phone", "address_line1",
                 "address_line2", "city", "region", "postal_code", "country"]  # fmt: skip


def _statements(engine: sa.Engine) -> list[tuple[str, str]]:
    out = []
    for label, criteria in CRITERIA.items():
        for columns in (SEARCH_COLUMNS, rank_columns(criteria)):  # search_candidates' default; what rank reads
            for query in candidate_queries(criteria, 500, columns):
                sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
                out.append((label, sql))
    return out


def _index_search(step: str) -> bool:
    """A step of SQLite's plan that searches one of our indexes by a range (a covering one or not)."""
    return re.match(r"SEARCH golden_records USING (COVERING )?INDEX ix_golden_records_", step) is not None


def _sqlite_plan(conn: sa.Connection, sql: str) -> list[str]:
    return [row[3] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}")]


def _postgres_plan(conn: sa.Connection, sql: str) -> list[str]:
    return [row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}")]


def test_every_candidate_query_searches_an_index_on_sqlite(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path / 'serving.db'}")
    with engine.connect() as conn:
        statements = _statements(engine)
        assert len(statements) > 20
        for label, sql in statements:
            plan = _sqlite_plan(conn, sql)
            steps = [p for p in plan if "golden_records" in p]
            assert steps and all(_index_search(p) for p in steps), (label, sql, plan)
            if "substr" in sql:
                assert any(ix in p for p in steps for ix in BOTH_NAMES), (label, sql, plan)
    engine.dispose()


@pytest.mark.postgres
def test_every_candidate_query_can_scan_an_index_on_postgres(postgres_url):
    """With sequential scans priced out (the test table is small: the planner would rightly scan it whole), a
    statement that no index serves still shows a Seq Scan; each must show an index scan on golden_records."""
    engine = store.open_store(postgres_url)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for label, sql in _statements(engine):
            plan = _postgres_plan(conn, sql)
            text = "\n".join(plan)
            assert "Seq Scan" not in text and "Index" in text and "ix_golden_records_" in text, (label, sql, text)
            if "substr" in sql:
                assert any(ix in text for ix in BOTH_NAMES), (label, sql, text)
    engine.dispose()


def test_a_name_search_reads_its_candidates_from_the_name_indexes_alone(tmp_path):
    """What a name search ranks by is in the name indexes (migration 0013), and so is what match-on-entry ranks its
    name candidates by when the record gives an e-mail and a postcode (0014) or a phone (0015) too: SQLite reads no
    table row for them."""
    engine = store.open_store(f"sqlite:///{tmp_path / 'serving.db'}")
    with engine.connect() as conn:
        for label in ("one name", "two names", "three names", "match", "match by phone", "all"):
            criteria = CRITERIA[label]  # its name's statements, reading what its ranking reads
            for query in candidate_queries(SearchCriteria(name=criteria.name), 500, rank_columns(criteria)):
                sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
                plan = [p for p in _sqlite_plan(conn, sql) if "golden_records" in p]
                assert plan and all(p.startswith("SEARCH golden_records USING COVERING INDEX") for p in plan), (
                    label, sql, plan)  # fmt: skip
    engine.dispose()


def _rows_statements(engine: sa.Engine) -> list[str]:
    ids = ["G00000001", "G00000002"]
    return [
        str(rows_query(ids, columns).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
        for columns in (SEARCH_COLUMNS, MATCH_COLUMNS)
    ]


def test_the_rows_shown_or_scored_are_read_by_primary_key(tmp_path):
    engine = store.open_store(f"sqlite:///{tmp_path / 'serving.db'}")
    with engine.connect() as conn:
        for sql in _rows_statements(engine):
            plan = [p for p in _sqlite_plan(conn, sql) if "golden_records" in p]
            assert plan and all(
                p.startswith("SEARCH golden_records USING INDEX sqlite_autoindex_golden_records_1 (golden_id=?)")
                for p in plan
            ), (sql, plan)
    engine.dispose()


@pytest.mark.postgres
def test_the_rows_shown_or_scored_are_read_by_primary_key_on_postgres(postgres_url):
    engine = store.open_store(postgres_url)
    with engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")
        for sql in _rows_statements(engine):
            text = "\n".join(_postgres_plan(conn, sql))
            assert "Seq Scan" not in text and "Index Scan on pk_golden_records" in text, (sql, text)
    engine.dispose()


def test_a_plain_scan_is_caught(tmp_path):
    """The check above fails for a condition no index serves (a name's middle letters)."""
    engine = store.open_store(f"sqlite:///{tmp_path / 'serving.db'}")
    g = golden_records.c
    sql = str(sa.select(g.golden_id).where(g.last_name.like("%mit%")).compile(
        dialect=engine.dialect, compile_kwargs={"literal_binds": True}))  # fmt: skip
    with engine.connect() as conn:
        plan = _sqlite_plan(conn, sql)  # the whole table, or the whole of an index holding golden_id and last_name
        assert plan[0].startswith("SCAN golden_records") and not _index_search(plan[0]), plan
    engine.dispose()
