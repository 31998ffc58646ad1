"""SQL sources shaped like real schemas, against real SQLite, PostgreSQL and MariaDB: a table in another schema
(MariaDB: another database), and a read-only query as a source."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from connectors import SourceError, open_connector, pull_source
from hub.config import HubConfig
from hub.workspace import Workspace
from tests import source_fixture as fx


def config(url: str, tmp_path, **block: Any) -> HubConfig:
    """The fixture's hub.yaml with `block` keys replacing the crm source's (None: removed)."""
    data = fx.hub_config(url, tmp_path).model_dump(mode="json", exclude_unset=True)
    crm = {k: v for k, v in (data["sources"]["crm"] | block).items() if v is not None}
    return HubConfig.model_validate(data | {"sources": {"crm": crm}})


@pytest.fixture
def schema_table(source_url) -> Iterator[tuple[str, str]]:
    """The fixture's tables moved out of the connection's default schema: (url, schema). SQLite's own schema is
    'main'; PostgreSQL gets schema 'sales'; MariaDB, whose schemas are databases, a second database."""
    engine = fx.create_source(source_url)
    dialect = engine.dialect.name
    schema = {"sqlite": "main", "postgresql": "sales"}.get(dialect, f"{engine.url.database}_sales")
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql("CREATE SCHEMA sales")
            conn.exec_driver_sql("ALTER TABLE customers SET SCHEMA sales")
        elif dialect != "sqlite":
            conn.exec_driver_sql(f"CREATE DATABASE `{schema}`")
            conn.exec_driver_sql(f"RENAME TABLE customers TO `{schema}`.customers")
    yield source_url, schema
    if dialect not in ("sqlite", "postgresql"):
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP DATABASE `{schema}`")
    engine.dispose()


def test_a_schema_qualified_table_is_pulled_and_written_back(schema_table, tmp_path):
    url, schema = schema_table
    cfg = config(url, tmp_path, table=f"{schema}.customers", golden_id={"table": f"{schema}.hub_golden_ids"})
    ws = Workspace.for_config(cfg)
    result = pull_source(cfg, "crm", ws)
    assert result.staged_total == len(fx.rows()) and result.quarantined == 0

    staged = ws.staged("crm").set_index("source_key")
    changes = pd.DataFrame(
        {"source_key": ["1"], "expected_version": [staged.loc["1", "source_version"]],
         "email": ["john.smith@example.com"], "golden_id": ["G-1"]}
    )  # fmt: skip
    report = open_connector("crm", cfg).push(changes)
    assert report.summary()["updated"] == 1
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        customers = sa.Table("customers", sa.MetaData(), schema=schema, autoload_with=conn)
        email = conn.execute(sa.select(customers.c.email).where(customers.c.id == 1)).scalar()
        side = sa.Table("hub_golden_ids", sa.MetaData(), schema=schema, autoload_with=conn)  # in that schema
        ids = dict(conn.execute(sa.select(side.c.source_key, side.c.golden_id)).all())
    engine.dispose()
    assert email == "john.smith@example.com" and ids == {"1": "G-1"}
    ws.close()


def test_a_table_missing_from_its_schema_is_named(source_url, tmp_path):
    fx.create_source(source_url).dispose()
    with pytest.raises(
        SourceError, match=r"sources\.crm\.table: table 'nowhere\.customers' (not found|cannot be read)"
    ):
        open_connector("crm", config(source_url, tmp_path, table="nowhere.customers"))


# A query shaped like a reporting view: a join, an aggregate, a LIKE with '%' and a literal with a colon (neither
# may be taken for a bind parameter), and a trailing ';' people copy from their SQL console.
QUERY = """
    SELECT c.id, c.full_name, c.email, c.phone, c.dob, c.country, c.email_optin, c.modified_at,
           count(o.id) AS orders, 'tier :none' AS note
    FROM customers c LEFT JOIN orders o ON o.customer_id = c.id
    WHERE c.email LIKE '%@%' OR c.email IS NULL
    GROUP BY c.id, c.full_name, c.email, c.phone, c.dob, c.country, c.email_optin, c.modified_at;
"""


@pytest.fixture
def query_source(source_url, tmp_path) -> Iterator[tuple[sa.Engine, HubConfig, Workspace]]:
    engine = fx.create_source(source_url)
    cfg = config(source_url, tmp_path, table=None, query=QUERY, accepts=None)
    ws = Workspace.for_config(cfg)
    yield engine, cfg, ws
    ws.close()
    engine.dispose()


def test_a_query_source_is_pulled_in_chunks_and_incrementally(query_source):
    engine, cfg, ws = query_source
    cfg = cfg.model_copy(update={"chunk_size": 7})
    first = pull_source(cfg, "crm", ws)
    assert (first.mode, first.rows_read, first.staged_total) == ("full", len(fx.rows()), len(fx.rows()))
    john = ws.staged("crm").set_index("source_key").loc["1"]
    assert (john.first_name, john.email, john.phone) == ("John", "J.Smith@Example.com", "+442079460018")

    with engine.begin() as conn:
        conn.execute(fx.customers.update().where(fx.customers.c.id.in_([2, 110]))
                     .values(email="changed@example.com", modified_at=fx.T0 + timedelta(days=3)))  # fmt: skip
    again = pull_source(cfg, "crm", ws)
    # Filtered in SQL around the query: the two changed rows, and the row at the old cursor (read again, skipped).
    assert (again.mode, again.rows_read, again.records) == ("incremental", 3, 2)
    assert ws.staged("crm").set_index("source_key").loc["110", "email"] == "changed@example.com"
    last = pull_source(cfg, "crm", ws)
    assert (last.rows_read, last.records) == (2, 0)


def test_a_query_source_has_a_change_marker_and_is_never_written(query_source):
    engine, cfg, ws = query_source
    connector = open_connector("crm", cfg)
    quiet = connector.change_marker()
    assert quiet.startswith(f"rows={len(fx.rows())};") and connector.change_marker() == quiet
    with engine.begin() as conn:
        conn.execute(fx.customers.update().where(fx.customers.c.id == 2).values(modified_at=fx.T0 + timedelta(days=9)))
    assert connector.change_marker() != quiet

    pull_source(cfg, "crm", ws)
    before = fx.snapshot(engine)
    staged = ws.staged("crm").set_index("source_key")
    changes = pd.DataFrame({"source_key": ["1"], "expected_version": [staged.loc["1", "source_version"]]})
    with pytest.raises(SourceError, match="a query source is read-only"):
        connector.push(changes)
    assert fx.snapshot(engine) == before


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT id, email FROM customers",
            r"sources\.crm\.updated_at: no column 'modified_at' in the result of its query",
        ),
        ("SELECT * FROM no_such_table", r"sources\.crm\.query: the database refused it"),
    ],
)
def test_a_query_that_does_not_fit_its_block_is_named(source_url, tmp_path, query, message):
    fx.create_source(source_url).dispose()
    with pytest.raises(SourceError, match=message):
        open_connector("crm", config(source_url, tmp_path, table=None, query=query, accepts=None))
