"""Bulk rows straight through the database driver: inserts (COPY on PostgreSQL, batched executemany elsewhere)
and chunked reads into Arrow and pandas, without SQLAlchemy's per-row processing."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from hub.store.schema import Readable

BATCH_ROWS = 50_000  # rows per executemany / COPY batch: flat memory, few round trips
BATCH_CELLS = 500_000  # and values: a batch of wide rows (golden records: 28 columns with lineage) stays small
FETCH_ROWS = 200_000  # rows per fetch of a bulk read
IN_BATCH = 5_000  # keys per IN list of a keyed bulk read
# Arrow types of bulk reads (dates and timestamps: see _arrow_type).
_ARROW_TYPES: dict[type, pa.DataType] = {
    sa.String: pa.string(),
    sa.Text: pa.string(),
    sa.Integer: pa.int64(),
    sa.BigInteger: pa.int64(),
    sa.Double: pa.float64(),
    sa.Float: pa.float64(),
}


def stage_frame(
    conn: sa.Connection,
    name: str,
    columns: list[sa.Column[Any]],
    frame: pd.DataFrame,
    rows: np.ndarray | None = None,
) -> sa.Table:
    """A temporary table (this connection only) filled with `frame` (the `rows` of it: insert_frame), for
    set-based statements."""
    table = sa.Table(name, sa.MetaData(), *columns, prefixes=["TEMPORARY"])
    table.drop(conn, checkfirst=True)
    table.create(conn)
    insert_frame(conn, table, frame, rows)
    return table


def insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame, rows: np.ndarray | None = None) -> None:
    """Bulk insert straight through the driver: COPY on PostgreSQL (psycopg), executemany in batches
    elsewhere. Values are converted per column and batch, vectorized, to what SQLAlchemy itself would
    bind: its per-row parameter processing costs more than SQLite's own insert at a million rows.

    `rows`: the positions of the frame's rows to insert (default: all), inserted in frame order. Each batch is taken
    from the frame as it goes, from a slice of it: selecting or sorting a frame of Arrow strings first would copy
    every string of it, and so would a take over the whole frame per batch (pyarrow concatenates a column's chunks
    to take from it), which is a first publish's golden records: a gigabyte of lineage at a million records."""
    rows = None if rows is None else np.sort(np.asarray(rows))
    count = len(frame) if rows is None else len(rows)
    if not count:
        return
    names = list(frame.columns)
    q = conn.dialect.identifier_preparer
    target = f"{q.format_table(table)} ({', '.join(q.quote(n) for n in names)})"
    step = max(1, min(BATCH_ROWS, BATCH_CELLS // max(1, len(names))))

    def batch(i: int) -> list[tuple[Any, ...]]:
        """Rows i .. i + step as the driver's tuples: the only Python objects per value alive at a time."""
        if rows is None:
            part = frame.iloc[i : i + step]
        else:  # the batch's rows from the slice they span: only that slice's chunks are concatenated
            chosen = rows[i : i + step]
            part = frame.iloc[chosen[0] : chosen[-1] + 1].iloc[chosen - chosen[0]]
        return list(zip(*[_driver_values(part[n], table.c[n].type, conn.dialect.name) for n in names], strict=True))

    if conn.dialect.driver == "psycopg":
        driver = conn.connection.driver_connection  # psycopg's own connection: its cursor has copy()
        assert driver is not None  # checked out by `conn`, so live
        with driver.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
            for i in range(0, count, step):
                for row in batch(i):
                    copy.write_row(row)
        return
    marks = ", ".join(_placeholder(conn.dialect.paramstyle, i) for i in range(len(names)))
    for i in range(0, count, step):
        conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({marks})", batch(i))


def _placeholder(paramstyle: str, i: int) -> str:
    return {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": f":{i + 1}", "numeric_dollar": f"${i + 1}"}[
        paramstyle
    ]


def _driver_values(s: pd.Series, type_: sa.types.TypeEngine[Any], dialect: str) -> np.ndarray:
    """One column as the driver takes it. SQLite keeps dates and timestamps as text in SQLAlchemy's
    format ('2024-01-01 09:00:00.000000', which Arrow's cast writes too), so reads and comparisons
    in SQL agree with rows SQLAlchemy wrote itself."""
    type_ = _base(type_)
    if isinstance(type_, sa.Date | sa.DateTime):
        unit = "datetime64[D]" if isinstance(type_, sa.Date) else "datetime64[us]"
        times = pd.to_datetime(s).to_numpy(dtype="datetime64[us]").astype(unit)
        if dialect == "sqlite":
            text: np.ndarray = pa.array(times).cast(pa.string()).to_numpy(zero_copy_only=False)
            return text
        return times.astype(object)
    # pandas-stubs type na_value as a scalar; pandas takes None (a missing value binds as NULL)
    values: np.ndarray = s.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    return values


def _fetch(conn: sa.Connection, stmt: sa.Select[Any]) -> Iterator[Sequence[Any]]:
    """Rows of a SELECT in chunks, straight from the driver: SQLAlchemy's per-row result processing
    triples the time of a million-row read. Types are applied per column after. Bound values (an IN
    list of ids) are rendered into the statement as literals."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
    if not conn.in_transaction():
        conn.begin()  # what the first execute would do: on SQLite the read snapshot starts here
    cur = conn.connection.cursor()
    try:
        cur.execute(str(compiled))
        while rows := cur.fetchmany(FETCH_ROWS):
            yield rows
    finally:
        cur.close()


def read_arrow(conn: sa.Connection, stmt: sa.Select[Any]) -> pa.Table:
    """A bulk read as an Arrow table (compact: no Python object per value once converted)."""
    names = [c.name for c in stmt.selected_columns]
    types = [_arrow_type(c.type, conn.dialect.name) for c in stmt.selected_columns]
    batches = [
        pa.record_batch([pa.array(col, type=t) for col, t in zip(zip(*rows, strict=True), types, strict=True)], names)
        for rows in _fetch(conn, stmt)
    ]
    if not batches:
        return pa.table({n: pa.array([], type=t) for n, t in zip(names, types, strict=True)})
    return pa.Table.from_batches(batches)


def _arrow_type(type_: sa.types.TypeEngine[Any], dialect: str) -> pa.DataType:
    """Fixed per column, so every fetched chunk has the same schema (an all-NULL chunk included)."""
    type_ = _base(type_)
    if isinstance(type_, sa.Date | sa.DateTime):
        if dialect == "sqlite":
            return pa.string()  # SQLAlchemy's text form; parsed by read_frame
        return pa.date32() if isinstance(type_, sa.Date) else pa.timestamp("us")
    return _ARROW_TYPES[type(type_)]


def _base(type_: sa.types.TypeEngine[Any]) -> sa.types.TypeEngine[Any]:
    """The stored type under a TypeDecorator (Readable)."""
    return type_.impl_instance if isinstance(type_, sa.types.TypeDecorator) else type_


def read_frame(conn: sa.Connection, stmt: sa.Select[Any]) -> pd.DataFrame:
    """A bulk read as a DataFrame: text as pandas strings, dates and timestamps as datetime64 (UTC)."""
    table = read_arrow(conn, stmt)
    out: pd.DataFrame = table.to_pandas()
    for c in stmt.selected_columns:
        if isinstance(_base(c.type), sa.Date | sa.DateTime):
            values = out[c.name]
            # an attribute stored unreadable (see Readable) reads as missing, like a per-row read
            errors: Literal["coerce", "raise"] = "coerce" if isinstance(c.type, Readable) else "raise"
            parsed = (
                pd.to_datetime(values, format="ISO8601", errors=errors)
                if conn.dialect.name == "sqlite"
                else pd.to_datetime(values, errors=errors)
            )
            out[c.name] = parsed.astype("datetime64[us]")
    return out


def key_batches(key: Sequence[sa.ColumnElement[Any]], values: Sequence[Any]) -> list[sa.ColumnElement[bool]]:
    """Conditions selecting the rows whose `key` (one column, or two: `values` then holds pairs) is among `values`,
    IN_BATCH values each, in a form an index on the key answers by seeks: a pair key as `first = v AND second IN
    (...)` per first value (SQLite scans the whole table for `(a, b) IN (VALUES ...)`). None for no values."""
    if len(key) == 1:
        return [key[0].in_(values[i : i + IN_BATCH]) for i in range(0, len(values), IN_BATCH)]
    first, second = key
    by_first: dict[Any, list[Any]] = {}
    for a, b in values:
        by_first.setdefault(a, []).append(b)
    return [
        sa.and_(first == a, second.in_(bs[i : i + IN_BATCH]))
        for a, bs in sorted(by_first.items())
        for i in range(0, len(bs), IN_BATCH)
    ]


def read_frame_in(
    conn: sa.Connection, stmt: sa.Select[Any], key: Sequence[sa.ColumnElement[Any]], values: Sequence[Any]
) -> pd.DataFrame:
    """read_frame of the rows of `stmt` whose `key` (one column, or two: `values` then holds pairs) is among
    `values`, read by index seeks in batches (`key_batches`): the work is in proportion to the keys asked, not to
    the table."""
    conditions = key_batches(key, values)
    if not conditions:  # an empty IN list rendered with literal values is no valid SQL everywhere
        return read_frame(conn, stmt.where(sa.false()))
    return pd.concat([read_frame(conn, stmt.where(c)) for c in conditions], ignore_index=True)
