"""Small SQL helpers of the survivorship statements: checked identifiers, quoted text, temp tables."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb

from hub.catalogue import GOLDEN_CONFLICTS, GOLDEN_CONTESTED, GOLDEN_LINEAGE, GOLDEN_POPULATION, GOLDEN_VALUES


@dataclass(frozen=True)
class Outputs:
    """The tables survivorship writes (created or replaced): the workspace's own by default; an incremental build
    writes the golden ids it rebuilds into scratch tables and merges them (golden_record.incremental)."""

    values: str = GOLDEN_VALUES
    lineage: str = GOLDEN_LINEAGE
    contested: str = GOLDEN_CONTESTED
    conflicts: str = GOLDEN_CONFLICTS
    population: str = GOLDEN_POPULATION


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?")


def drop_tables(con: duckdb.DuckDBPyConnection, *tables: str) -> None:
    for table in tables:
        con.execute(f"DROP TABLE IF EXISTS {table}")


def identifier(name: str) -> str:
    if not _IDENTIFIER.fullmatch(name):
        raise ValueError(f"not a plain table or column name: {name!r}")
    return name


def quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def column_types(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    return {row[0]: row[1] for row in con.execute(f"DESCRIBE {table}").fetchall()}
