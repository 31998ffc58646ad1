"""Temporary tables on a source's own connection, so write-back reads and updates by join instead of row by row.

A stage holds the key (as `hub_key`) and some of the source table's columns. It is created from the source table
itself (CREATE TEMPORARY TABLE ... AS SELECT over an outer join that matches nothing), so every column has exactly the
source column's type, character set and collation: a key compares in the join as it would in `WHERE key = ...`, and
a staged value goes into its column without a cast. Being on the nullable side of an outer join, every column is
nullable even where the source's is NOT NULL (MariaDB copies NOT NULL into a table created from a SELECT), so a NULL
can stand for "leave this cell". The key is indexed for the join. It is filled in bulk (hub.store.bulk.insert_frame:
COPY on PostgreSQL, batched executemany elsewhere, which PyMySQL sends as multi-row INSERTs).

Temporary tables are private to the connection, so parallel write-backs never see each other's, and are dropped by
name with the temporary qualifier, so a real table that happens to share the name is never touched. On MariaDB only
CREATE / DROP TEMPORARY TABLE leave the open transaction alone (CREATE INDEX or ALTER would commit it): the index is
declared in the CREATE itself.
"""

from __future__ import annotations

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connectors.base import SourceError
from hub.store.bulk import insert_frame

KEY = "hub_key"  # the staged key's column (never a source column's name: a key column may also be written)


def stage(conn: Connection, name: str, source: sa.Table, key: str, columns: list[str], frame: pd.DataFrame) -> sa.Table:
    """A temporary table `name` typed like `source`'s `key` and `columns`, holding `frame` (columns KEY, *columns).
    Any earlier stage of that name on this connection is dropped first."""
    dialect = conn.dialect.name
    if dialect == "sqlite" and conn.dialect.dbapi.sqlite_version_info < (3, 33):  # type: ignore[union-attr]
        raise SourceError(f"write-back updates by join (UPDATE ... FROM): it needs SQLite 3.33 or newer, this is "
                          f"{conn.dialect.dbapi.sqlite_version}")  # type: ignore[union-attr]  # fmt: skip
    drop(conn, name)
    q = conn.dialect.identifier_preparer
    one = sa.select(sa.literal(1).label("one")).subquery("hub_one")
    shape = sa.select(source.c[key].label(KEY), *[source.c[c] for c in columns]).select_from(
        one.outerjoin(source, sa.false())
    )
    select = str(shape.compile(conn, compile_kwargs={"literal_binds": True}))
    table, index = q.quote(name), q.quote(f"{name}_key")
    if dialect == "mysql":  # MariaDB / MySQL
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {table} (INDEX ({q.quote(KEY)})) AS {select}")
    else:
        conn.exec_driver_sql(f"CREATE TEMPORARY TABLE {table} AS {select}")
        on = f"temp.{index} ON {table}" if dialect == "sqlite" else f"{index} ON {table}"
        conn.exec_driver_sql(f"CREATE INDEX {on} ({q.quote(KEY)})")
    staged = sa.Table(
        name, sa.MetaData(), sa.Column(KEY, source.c[key].type), *[sa.Column(c, source.c[c].type) for c in columns]
    )
    insert_frame(conn, staged, frame[[KEY, *columns]])
    if dialect == "postgresql":
        conn.exec_driver_sql(f"ANALYZE {table}")  # temporary tables get no autovacuum statistics: plan on the real size
    return staged


def drop(conn: Connection, name: str) -> None:
    """Drop this connection's temporary table `name`, if there is one (never a permanent table of that name)."""
    q = conn.dialect.identifier_preparer
    table = q.quote(name)
    statement = {
        "mysql": f"DROP TEMPORARY TABLE IF EXISTS {table}",
        "postgresql": f"DROP TABLE IF EXISTS pg_temp.{table}",
        "sqlite": f"DROP TABLE IF EXISTS temp.{table}",
    }.get(conn.dialect.name)
    if statement is None:
        raise SourceError(f"write-back runs on SQLite, PostgreSQL and MariaDB/MySQL sources, not {conn.dialect.name}")
    conn.exec_driver_sql(statement)
