"""SQL sources through SQLAlchemy: SQLite, PostgreSQL, MariaDB/MySQL (any dialect with a driver can be pulled;
write-back runs on these three).

A source is a table (`customers`, or schema-qualified `sales.customers`; on MariaDB/MySQL the schema is the
database) or a query. A query source is read as a subquery (SELECT ... FROM (<query>) AS hub_source), so pulls
can still filter by the cursor and the sensor can still count rows and read the newest updated-at; it is never
written to.

Reads stream with server-side cursors in chunks. Writes run in one transaction per batch that stages the batch's
keys in a temporary table and locks the rows they find with one semi-join (SELECT ... FOR UPDATE; BEGIN IMMEDIATE
on SQLite), then stages the new values and UPDATEs only the mapped columns with one statement joined on the primary
key (connectors/sql_stage.py). The only DDL the hub runs on a source is creating those temporary tables (private to
its connection, gone with it) and its own golden-id side table when the config asks for one; it never alters an
existing table.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from connectors import sql_stage
from connectors.base import GOLDEN_ID, AmbiguousUpdate, Connector, SourceError, WriteSession, among, column_problems
from connectors.sql_stage import KEY
from connectors.transforms import row_version
from hub import reach
from hub.config import HubConfig, SourceConfig, split_table

KEY_BATCH = 1000  # keys per IN (...) list when pulling rows by key
STAGED_KEYS, STAGED_ROWS = "hub_wb_keys", "hub_wb_rows"  # a write session's temporary tables (sql_stage.py)
QUERY_ALIAS = "hub_source"  # the name a query source's rows go by in the hub's own SQL


def _sortable(fmt: str | None) -> bool:
    """Can rows be filtered by the cursor in SQL? True for native timestamps, epochs and
    big-endian text formats such as '%Y-%m-%d %H:%M:%S' that sort like the times they hold."""
    if fmt in (None, "iso", "epoch", "epoch_ms"):
        return True
    order = re.findall(r"%([YmdHMSf])", fmt)
    return bool(order) and order == sorted(order, key="YmdHMSf".index) and fmt.startswith("%Y")


class SqlConnector(Connector):
    def __init__(self, name: str, src: SourceConfig, cfg: HubConfig, engine: Engine | None = None):
        super().__init__(name, src, cfg)
        if engine is None:
            assert src.url is not None  # SourceConfig: a sql source has a url
            engine = source_engine(name, src.url)
        self.engine = engine
        reach.connect(self.engine, f"sources.{name}.url")
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        # The rows the hub reads: the table, or the query as a subquery (no types: its values say what they are).
        self.table: sa.Table | sa.Subquery = self._query() if src.query is not None else self._table()
        where = f"table '{src.table}'" if src.table else "the result of its query"
        problems = column_problems(name, src, self.table.c.keys(), where)
        if problems:
            raise SourceError(*problems)
        self._key_col = self.table.c[src.primary_key]

    def _table(self) -> sa.Table:
        assert self.src.table is not None  # SourceConfig: a sql source has a table or a query
        schema, table = split_table(self.src.table)
        key = f"sources.{self.name}.table"
        try:
            return sa.Table(table, sa.MetaData(), schema=schema, autoload_with=self.engine)
        except sa.exc.NoSuchTableError:
            url = self.engine.url.render_as_string(hide_password=True)
            raise SourceError(f"{key}: table '{self.src.table}' not found at {url}") from None
        except sa.exc.DBAPIError as exc:  # e.g. SQLite: no such schema ("unknown database")
            url = self.engine.url.render_as_string(hide_password=True)
            raise SourceError(
                f"{key}: table '{self.src.table}' cannot be read at {url}: {reach.one_line(exc)}"
            ) from None

    def _query(self) -> sa.Subquery:
        """The query as a subquery with the columns its result has (asked of the database with LIMIT 0).
        Colons are escaped so that no text in the query is taken for a bind parameter."""
        assert self.src.query is not None
        query = sa.text(self.src.query.replace(":", r"\:"))
        try:
            with self.engine.connect() as conn:
                probe = sa.select(sa.text("*")).select_from(query.columns().subquery(QUERY_ALIAS)).limit(0)
                names = list(conn.execute(probe).keys())
        except sa.exc.DBAPIError as exc:
            raise SourceError(f"sources.{self.name}.query: the database refused it: {reach.one_line(exc)}") from None
        return query.columns(*[sa.column(n) for n in names]).subquery(QUERY_ALIAS)

    def golden_id_problems(self) -> list[str]:
        """Why write-back could not record golden ids in the side table hub.yaml names (its column, if that is the
        target, is checked with the mapped columns): a same-named table that is not the hub's, or a missing schema."""
        target = self.src.golden_id
        if not (target and target.table):
            return []
        schema, _ = split_table(target.table)
        key = f"sources.{self.name}.golden_id.table"
        with self.engine.connect() as conn:
            if schema is not None and schema not in sa.inspect(conn).get_schema_names():
                return [
                    f"{key}: schema '{schema}' of '{target.table}' does not exist (the hub creates tables, not schemas)"
                ]
            try:
                _side_table(self, target.table, conn)
            except SourceError as exc:
                return exc.problems
        return []

    @cached_property
    def _cursor_type(self) -> sa.types.TypeEngine:
        """The updated-at column's type: a table's declared one; for a query, DateTime when the values it returns
        are date-times (the first non-null one is asked for), else untyped (text or numbers)."""
        assert self.src.updated_at is not None  # asked only of a source with an updated-at column
        col = self.table.c[self.src.updated_at]
        if isinstance(self.table, sa.Table):
            return col.type
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(col).where(col.is_not(None)).limit(1)).scalar()
        return sa.DateTime(timezone=value.tzinfo is not None) if isinstance(value, datetime) else col.type

    def column_types(self) -> dict[str, str]:
        kinds = {}
        for col in self.table.c:
            t = col.type
            if isinstance(t, sa.DateTime):
                kinds[col.name] = "datetime"
            elif isinstance(t, sa.Date):
                kinds[col.name] = "date"
            elif isinstance(t, sa.Integer):
                kinds[col.name] = "integer"
            else:
                kinds[col.name] = "text"
        return kinds

    def _cursor_value(self, since: pd.Timestamp) -> object:
        """The cursor in the updated-at column's own representation, for a WHERE clause."""
        fmt, kind = self.src.updated_at_format, self._cursor_type
        if isinstance(kind, sa.DateTime):
            value = since.to_pydatetime()
            return value.replace(tzinfo=UTC) if kind.timezone else value
        if fmt == "epoch":
            return int(since.timestamp())
        if fmt == "epoch_ms":
            return int(since.timestamp() * 1000)
        # Text: the SQL filter only has to keep a superset (the stream filters exactly on parsed
        # times), and a formatted cursor may not compare byte-for-byte with stored text ('.000000'
        # vs '.000+0000'), so start one second early.
        early = since - pd.Timedelta(seconds=1)
        return early.strftime("%Y-%m-%dT%H:%M:%S" if fmt in (None, "iso") else fmt)

    def read_chunks(self, since: pd.Timestamp | None) -> Iterator[pd.DataFrame]:
        stmt = sa.select(*[self.table.c[c] for c in self.src.columns()])
        if since is not None and self.src.updated_at and _sortable(self.src.updated_at_format):
            col = self.table.c[self.src.updated_at]
            value = self._cursor_value(since)
            if self.src.updated_at_format in (None, "iso") and not isinstance(self._cursor_type, sa.DateTime):
                # ISO text may use ' ' or 'T' between date and time; compare on the date-time prefix.
                stmt = stmt.where(sa.func.replace(col, " ", "T") >= value)
            else:
                stmt = stmt.where(col >= value)
        with self.engine.connect() as conn:
            conn = conn.execution_options(stream_results=True, yield_per=self.cfg.chunk_size)
            yield from pd.read_sql(stmt, conn, chunksize=self.cfg.chunk_size, dtype_backend="numpy_nullable")

    def read_keys(self) -> Iterator[pd.Series]:
        stmt = sa.select(self._key_col)
        with self.engine.connect() as conn:
            type_ = self._key_col.type.dialect_impl(conn.dialect)
            if isinstance(type_, sa.Integer | sa.String) and type_.result_processor(conn.dialect, None) is None:
                # Whole numbers or text that SQLAlchemy would hand on as the driver gives them: read from the driver,
                # the same values 4-5x faster than pandas' chunked read (every run reads every key, to see deletes).
                # Other types go the pull's way: pandas turns decimals into floats ('1.50' is staged as '1.5').
                cursor = conn.connection.cursor()
                try:
                    cursor.execute(str(stmt.compile(dialect=conn.dialect)))
                    while rows := cursor.fetchmany(self.cfg.chunk_size):
                        yield pd.Series(pd.array([row[0] for row in rows]), name=self.src.primary_key)
                finally:
                    cursor.close()
                return
            conn = conn.execution_options(stream_results=True, yield_per=self.cfg.chunk_size)
            for chunk in pd.read_sql(stmt, conn, chunksize=self.cfg.chunk_size, dtype_backend="numpy_nullable"):
                yield chunk[self.src.primary_key]

    def read_rows(self, keys: list[str]) -> Iterator[pd.DataFrame]:
        cols = [self.table.c[c] for c in self.src.columns()]
        with self.engine.connect() as conn:
            for i in range(0, len(keys), KEY_BATCH):
                stmt = sa.select(*cols).where(self._key_col.in_(self._key_params(keys[i : i + KEY_BATCH])))
                yield pd.read_sql(stmt, conn, dtype_backend="numpy_nullable")

    def change_marker(self) -> str:
        cursor = sa.func.max(self.table.c[self.src.updated_at]) if self.src.updated_at else sa.null()
        with self.engine.connect() as conn:
            rows, newest = conn.execute(sa.select(sa.func.count(), cursor).select_from(self.table)).one()
        return f"rows={rows};max_updated_at={newest}"

    def _key_params(self, keys: list[str]) -> list[object]:
        if isinstance(self._key_col.type, sa.Integer):
            return [int(k) for k in keys]
        return list(keys)

    @contextmanager
    def write_session(self, dry_run: bool) -> Iterator[WriteSession]:
        if not isinstance(self.table, sa.Table):
            raise SourceError(f"sources.{self.name}: a query source is read-only; the hub never writes through it")
        with self.engine.connect() as conn:
            if self.is_sqlite:
                # Take the write lock before reading, so the optimistic check and the UPDATE are atomic.
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    session = _SqlSession(self, conn, dry_run)
                    yield session
                    session.close()
                except BaseException:
                    conn.exec_driver_sql("ROLLBACK")
                    raise
                conn.exec_driver_sql("ROLLBACK" if dry_run else "COMMIT")
            else:
                trans = conn.begin()
                try:
                    session = _SqlSession(self, conn, dry_run)
                    yield session
                    session.close()
                except BaseException:
                    trans.rollback()
                    raise
                trans.rollback() if dry_run else trans.commit()


def source_engine(name: str, url: str) -> Engine:
    """An engine for a source. A SQLite source must already exist: connecting would create an empty file in its
    place, and the hub never creates a source."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = parsed.database.removeprefix("file:").split("?")[0]
        if not Path(path).is_file():
            raise SourceError(f"sources.{name}.url: no SQLite database at '{path}' (the hub never creates a source)")
    return sa.create_engine(parsed)


class _SqlSession(WriteSession):
    def __init__(self, connector: SqlConnector, conn: Connection, dry_run: bool):
        self.c, self.conn, self.dry_run = connector, conn, dry_run
        self.staged: set[str] = set()  # temporary tables this session created (connectors/sql_stage.py)
        # The golden-id cells of the rows fetched (locked) in this session (source_key, cell; the last one of a key
        # counts): only write_golden_ids writes them.
        self.held_ids: list[pd.DataFrame] = []

    def close(self) -> None:
        """Drop the session's temporary tables before its transaction ends (on MariaDB they outlive it)."""
        for name in sorted(self.staged):
            sql_stage.drop(self.conn, name)

    def fetch(self, keys: list[str]) -> pd.DataFrame:
        """The rows of `keys`, locked (FOR UPDATE; on SQLite the session holds the write lock): the keys are staged
        and the rows read with one semi-join, `key IN (SELECT hub_key FROM hub_wb_keys)`, which returns each row
        once, as an IN list would."""
        src, table = self.c.src, self.c.table
        cols = src.columns()
        if src.golden_id and src.golden_id.column:
            cols = [*cols, src.golden_id.column]
        if keys:
            assert isinstance(table, sa.Table)  # write_session refuses a query source
            staged = self._stage(STAGED_KEYS, pd.DataFrame({KEY: self.c._key_params(keys)}), table, src.primary_key)
            stmt = sa.select(*[table.c[c] for c in cols]).where(self.c._key_col.in_(sa.select(staged.c[KEY])))
            if not self.c.is_sqlite:
                stmt = stmt.with_for_update()
            raw = pd.read_sql(stmt, self.conn, dtype_backend="numpy_nullable")
        else:
            raw = pd.DataFrame(columns=cols)
        raw["source_version"] = row_version(raw, src) if len(raw) else pd.Series(dtype="string")
        raw["source_key"] = raw[src.primary_key].astype("string")
        if src.golden_id and src.golden_id.column:
            once = ~raw["source_key"].duplicated(keep=False)
            cells = raw.loc[once, ["source_key", src.golden_id.column]]
            self.held_ids.append(cells.set_axis(["source_key", "cell"], axis=1))
        return raw

    def versions(self, keys: list[str]) -> pd.DataFrame:
        """Where the source has an updated-at column, the version is that column: only it and the key are read (not
        locked); otherwise the version hashes every mapped column, so fetch reads them all."""
        src = self.c.src
        if not src.updated_at or not keys:
            return super().versions(keys)
        table = self.c.table
        assert isinstance(table, sa.Table)  # write_session refuses a query source
        staged = self._stage(STAGED_KEYS, pd.DataFrame({KEY: self.c._key_params(keys)}), table, src.primary_key)
        stmt = sa.select(self.c._key_col, table.c[src.updated_at]).where(self.c._key_col.in_(sa.select(staged.c[KEY])))
        raw = pd.read_sql(stmt, self.conn, dtype_backend="numpy_nullable")
        return pd.DataFrame(
            {"source_key": raw[src.primary_key].astype("string"), "source_version": row_version(raw, src)}
        )

    def update(self, rows: pd.DataFrame) -> None:
        """Stage the rows (NULL: leave that cell) and apply them with one UPDATE joined on the key, setting each
        column to the staged value where there is one and to itself elsewhere. Refused (AmbiguousUpdate) unless
        each staged key matches exactly one row: counted before the UPDATE, and its row count checked after."""
        if self.dry_run or rows.empty:
            return
        table, key = self.c.table, self.c._key_col
        assert isinstance(table, sa.Table)  # write_session refuses a query source
        values = rows.drop(columns="source_key")
        todo = values.notna().any(axis=1).to_numpy()
        cols = [c for c in values.columns if values[c].notna().any()]
        if not cols:
            return
        frame = values.loc[todo, cols].copy()
        frame[KEY] = np.asarray(self.c._key_params(rows.loc[todo, "source_key"].tolist()), dtype=object)
        staged = self._stage(STAGED_ROWS, frame, table, key.name, cols)
        joined = key == staged.c[KEY]
        pairs = self.conn.execute(sa.select(sa.func.count()).select_from(staged.join(table, joined))).scalar_one()
        where = f"{table.name}.{key.name}"
        _exactly_one_each(pairs, len(frame), where)
        stmt = sa.update(table).values({c: sa.func.coalesce(staged.c[c], table.c[c]) for c in cols}).where(joined)
        _exactly_one_each(self.conn.execute(stmt).rowcount, len(frame), where)

    def _held(self) -> pd.Series:
        """The golden-id cell of each key fetched in this session, by key."""
        if not self.held_ids:
            return pd.Series(dtype="string", index=pd.Index([], dtype="string"))
        held = pd.concat(self.held_ids, ignore_index=True).drop_duplicates("source_key", keep="last")
        return held.set_index(held["source_key"].astype("string"))["cell"]

    def _stage(
        self, name: str, frame: pd.DataFrame, like: sa.Table, key: str, columns: list[str] | None = None
    ) -> sa.Table:
        """`frame` in this session's temporary table `name`, typed like `like`'s `key` and `columns`."""
        self.staged.add(name)
        return sql_stage.stage(self.conn, name, like, key, columns or [], frame)

    def write_golden_ids(self, ids: pd.DataFrame) -> pd.DataFrame:
        target = self.c.src.golden_id
        assert target is not None  # called only for a source that takes the golden id
        if target.column:
            wanted, cells = pd.Index(ids["source_key"].astype("string")), self._held()
            unseen = ~among(wanted, cells.index)
            if unseen.any():
                self.fetch(wanted[unseen].tolist())
                cells = self._held()
            stored = pd.Series(cells.reindex(wanted).astype("string").to_numpy())
            changed = stored.fillna("") != ids[GOLDEN_ID].astype("string").to_numpy()
            todo = ids[changed.to_numpy()]
            self.update(pd.DataFrame({"source_key": todo["source_key"], target.column: todo[GOLDEN_ID]}))
            if not self.dry_run:
                self.held_ids.append(pd.DataFrame({"source_key": todo["source_key"], "cell": todo[GOLDEN_ID]}))
            return _gid_audit(todo, stored[changed.to_numpy()], target.column)
        assert target.table is not None  # GoldenIdTarget: a column or a side table
        side = _side_table(self.c, target.table, self.conn)
        if not self.dry_run:
            side.create(self.conn, checkfirst=True)
        existing = {}
        if len(ids) and sa.inspect(self.conn).has_table(side.name, schema=side.schema):
            keys = pd.DataFrame({KEY: ids["source_key"].to_numpy(dtype=object)})
            staged = self._stage(STAGED_KEYS, keys, side, "source_key")
            held = sa.select(side.c.source_key, side.c.golden_id)
            existing = dict(self.conn.execute(held.where(side.c.source_key.in_(sa.select(staged.c[KEY])))).all())
        old = ids["source_key"].map(existing)
        todo = ids[old.astype("string").fillna("") != ids[GOLDEN_ID].astype("string")]
        if not self.dry_run and len(todo):
            now = pd.Timestamp.now(tz="UTC").tz_localize(None).to_pydatetime()
            new_keys = todo[~todo["source_key"].isin(existing.keys())]
            old_keys = todo[todo["source_key"].isin(existing.keys())]
            if len(new_keys):
                try:
                    self.conn.execute(
                        sa.insert(side),
                        [
                            {"source_key": k, "golden_id": g, "updated_at": now}
                            for k, g in zip(new_keys["source_key"], new_keys[GOLDEN_ID], strict=True)
                        ],
                    )
                except sa.exc.IntegrityError as exc:  # a key its collation takes for one already there
                    raise AmbiguousUpdate(f"{target.table}: a new key equals a stored one: {exc.orig}") from None
            if len(old_keys):
                _exactly_one_each(
                    self.conn.execute(
                        sa.update(side)
                        .where(side.c.source_key == sa.bindparam("_k"))
                        .values(golden_id=sa.bindparam("_g"), updated_at=sa.bindparam("_t")),
                        [
                            {"_k": k, "_g": g, "_t": now}
                            for k, g in zip(old_keys["source_key"], old_keys[GOLDEN_ID], strict=True)
                        ],
                    ).rowcount,
                    len(old_keys),
                    f"{target.table}.source_key",
                )
        return _gid_audit(todo, old[todo.index], target.table + ".golden_id")


def _side_table(c: SqlConnector, name: str, conn: Connection) -> sa.Table:
    """The hub's own table mapping source keys to golden ids; refuses a same-named foreign table.
    Inspected on the session's own connection: on SQLite another connection would wait for the write
    lock this session holds once its updates spill to disk ("database is locked")."""
    schema, table = split_table(name)
    insp = sa.inspect(conn)
    if insp.has_table(table, schema=schema):
        cols = {col["name"] for col in insp.get_columns(table, schema=schema)}
        if not {"source_key", "golden_id", "updated_at"} <= cols:
            raise SourceError(
                f"sources.{c.name}.golden_id.table: table '{name}' exists and is not a hub golden-id table "
                f"(columns {sorted(cols)}); pick another name, the hub never alters existing tables"
            )
    return sa.Table(
        table,
        sa.MetaData(),
        sa.Column("source_key", sa.String(255), primary_key=True),
        sa.Column("golden_id", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime, nullable=False),
        schema=schema,
    )


def _exactly_one_each(touched: int, keys: int, key: str) -> None:
    """Each key written must match one row. The rows were fetched (and locked) by these keys in this transaction,
    so none matches zero, and any total above one per key means a key matched several rows: keys the database's
    collation treats as equal (case, trailing spaces on MariaDB)."""
    if touched != keys:
        raise AmbiguousUpdate(
            f"{keys:,} UPDATEs by {key} touched {touched:,} rows: some key matches several rows "
            "(keys the source's collation treats as equal, such as case or trailing spaces)"
        )


def _gid_audit(todo: pd.DataFrame, old: pd.Series, column: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source_key": todo["source_key"].values,
            "column": column,
            "fields": GOLDEN_ID,
            "old_value": pd.Series(old.values, dtype="string"),
            "new_value": todo[GOLDEN_ID].astype("string").values,
        }
    )
