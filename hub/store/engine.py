"""Opening the serving store: engines (SQLite pragmas and write locks, read-only engines), migrations, and
whether it can be reached at all.

Default backend is a local SQLite file in WAL mode (readers never block the writer); PostgreSQL in production.
The schema is created and changed only by the Alembic migrations in hub/migrations (`upgrade`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import StaticPool

from hub import reach
from hub.encryption import AtRestKey, WrongKey, check_key, key_for, key_sqlite, sqlcipher
from hub.errors import NotReady

if TYPE_CHECKING:
    from hub.config import HubConfig

MIGRATIONS = Path(__file__).parent.parent / "migrations"
_WRITE = "hub_write"  # execution option: on SQLite, BEGIN IMMEDIATE instead of BEGIN


def create_store_engine(url: str, read_only: bool = False, key: AtRestKey | None = None) -> sa.Engine:
    """An engine without running migrations. SQLite: parent dir created, WAL + busy timeout +
    foreign keys on every connection, and SQLAlchemy (not the sqlite3 module) emits BEGIN, so reads
    are repeatable and DDL is transactional. `read_only`: every connection refuses writes (SQLite
    opens the existing file with mode=ro; PostgreSQL sessions default to read-only transactions).
    `key`: a SQLite file is a SQLCipher one, keyed on every connection (hub.encryption); other
    backends leave encryption at rest to the server."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        args = {"options": "-c default_transaction_read_only=on"} if read_only else {}
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args=args)
    database = parsed.database or ""
    in_memory = database in ("", ":memory:")
    module = {"module": sqlcipher()} if key is not None and not in_memory else {}
    if in_memory:  # one shared connection, or each has its own db
        engine = sa.create_engine(parsed, poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif read_only:
        uri = Path(database).resolve().as_uri()
        engine = sa.create_engine(
            parsed.set(database=uri, query={**parsed.query, "mode": "ro", "uri": "true"}), **module
        )
    else:
        if not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, **module)

    if not in_memory:

        @sa.event.listens_for(engine, "connect", insert=True)
        def _key(dbapi_conn: Any, _record: Any) -> None:
            if key is not None:
                key_sqlite(dbapi_conn, key)
            check_key(dbapi_conn, database, key)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _begin)
        cur = dbapi_conn.cursor()
        for pragma in (
            "busy_timeout = 30000",  # wait for another writer instead of failing at once; first, so WAL waits too
            *(() if read_only else ("journal_mode = WAL",)),  # readers see the last commit while a publish is open
            "synchronous = NORMAL",  # durable at checkpoints; safe with WAL
            "foreign_keys = ON",
            "journal_size_limit = 67108864",  # shrink the WAL back to 64 MiB after a big publish
            "cache_size = -65536",  # 64 MiB page cache: index upkeep of million-row bulk writes
        ):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        # A writer takes the write lock up front: a deferred transaction that reads and then writes
        # fails with "database is locked" instead of waiting when another writer got there first.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get(_WRITE) else "BEGIN")

    return engine


def open_store(url: str, key: AtRestKey | None = None) -> sa.Engine:
    """The serving store at `url` (a SQLCipher file with `key`), migrated to the newest schema."""
    engine = create_store_engine(url, key=key)
    reach.connect(engine, "serving_store")
    upgrade(engine)
    return engine


def open_read_only(url: str, key: AtRestKey | None = None) -> sa.Engine:
    """The serving store at `url` for a dry run, which writes nothing into it: read-only connections and
    no migration. A store without the hub's schema yet (a dry run before the first run) is answered by an
    empty in-memory store at the newest schema, which is what a first run starts from. A store at an older
    schema is refused, since migrating it would be a write."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        return open_store("sqlite://")
    engine = create_store_engine(url, read_only=True, key=key)
    reach.connect(engine, "serving_store")
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = _head()
    if current == head:
        return engine
    engine.dispose()
    if current is None:
        return open_store("sqlite://")
    raise NotReady(
        f"the serving store is at schema revision {current} and this hub needs {head}; a dry run does not "
        "migrate it: run once without --dry-run (or any command that opens the store, e.g. `hub review list`)"
    )


@contextmanager
def opened(url: str, read_only: bool = False, key: AtRestKey | None = None) -> Iterator[sa.Engine]:
    """`open_store` (or `open_read_only`) for the length of a block (a command, an asset): the engine is
    disposed after it."""
    engine = open_read_only(url, key) if read_only else open_store(url, key)
    try:
        yield engine
    finally:
        engine.dispose()


def open_for(cfg: HubConfig) -> sa.Engine:
    """The serving store hub.yaml names, with the key its `encryption:` block asks for: how the CLI, the API,
    Dagster and the benchmarks open it."""
    return open_store(cfg.serving_store, key_for(cfg))


def opened_for(cfg: HubConfig, read_only: bool = False) -> AbstractContextManager[sa.Engine]:
    """`opened` on the serving store hub.yaml names, with its key."""
    return opened(cfg.serving_store, read_only, key_for(cfg))


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A transaction for writes (pin, mint_ids, ...): on SQLite it holds the write lock from BEGIN,
    so it waits for (busy timeout) rather than fails on a concurrent writer."""
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE: True})
        with conn.begin():
            yield conn


def alembic_config() -> Config:
    """Alembic configuration built in code: the migrations ship inside the package."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@cache
def _head() -> str | None:
    """The newest revision of the migrations this package ships (reading the scripts takes ~15 ms: once)."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply the migrations in one transaction; a no-op when the store is at `revision` already (every step of a
    run opens the store: one read of its revision then). Concurrent callers (pipeline and API starting together)
    take turns."""
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7286312841)")  # any constant: the hub's lock
        if revision == "head" and MigrationContext.configure(conn).get_current_revision() == _head():
            return
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def store_problems(url: str, key: AtRestKey | None = None) -> list[str]:
    """Why the serving store at `url` cannot be reached (none: it can), without creating anything: a SQLite store
    that does not exist yet is made by the first run."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        return []
    engine = create_store_engine(url, read_only=True, key=key)
    try:
        reach.connect(engine, "serving_store")
    except (reach.Unreachable, WrongKey) as exc:
        return [str(exc)]
    finally:
        engine.dispose()
    return []
