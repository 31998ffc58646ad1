"""Bulk-load generated tables into a new SQLite file.

One transaction per table, no journal (the file is built aside and renamed into place, so a
crash leaves nothing half-written), indexes built after the rows are in.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Table:
    name: str
    ddl: str
    frame: pd.DataFrame  # columns in the order of `ddl`
    indexes: tuple[str, ...] = ()


def write_database(path: Path, tables: Sequence[Table]) -> None:
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        for table in tables:
            con.execute(table.ddl)
            columns = ", ".join(f'"{c}"' for c in table.frame.columns)
            marks = ", ".join("?" * len(table.frame.columns))
            with con:
                con.executemany(f"INSERT INTO {table.name} ({columns}) VALUES ({marks})", _rows(table.frame))
            for index in table.indexes:
                con.execute(index)
    finally:
        con.close()


def _rows(frame: pd.DataFrame) -> Iterator[tuple]:
    return zip(*(_python_values(frame[c]) for c in frame.columns), strict=True)


def _python_values(column: pd.Series) -> list:
    """Plain Python values with None for missing: sqlite3 binds neither numpy scalars nor NaN."""
    if pd.api.types.is_bool_dtype(column.dtype):
        return column.astype(np.int64).tolist()
    if pd.api.types.is_integer_dtype(column.dtype):
        return column.tolist()
    return column.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload]  # stubs lack na_value=None
