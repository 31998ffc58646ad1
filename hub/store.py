"""The serving store: golden records (current + history), xref, id redirects, overrides, run log,
write-back audit, API keys, steward match decisions and the review queue.

What people and systems read while the pipeline runs. The pipeline publishes one run in ONE
transaction, so a reader sees the previous run or the new one, never half of one. Default backend
is a local SQLite file in WAL mode (readers never block the writer); PostgreSQL in production.
The schema is created and changed only by the Alembic migrations in hub/migrations (`upgrade`).

Timestamps are stored and returned as naive UTC. `extra` (the typed extra attributes of hub.yaml)
and `lineage` ({field: {source_system, source_key, rule, value_at}}) are JSON text.

Versions: a golden record gets a new version only when its attribute values or extra change. Lineage
and record_count describe the latest run and are updated in place (current row and open history row);
version, updated_at and run_id stay those of the run that published the values.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import StaticPool

from hub import faults, reach
from hub.model import ATTRIBUTE_FIELDS, FieldType

MIGRATIONS = Path(__file__).with_name("migrations")
LINK_TYPES = ("auto", "steward", "singleton")
BATCH_ROWS = 50_000  # rows per executemany / COPY batch: flat memory, few round trips
FETCH_ROWS = 200_000  # rows per fetch of a bulk read
_WRITE = "hub_write"  # execution option: on SQLite, BEGIN IMMEDIATE instead of BEGIN

ATTRIBUTES = [f.name for f in ATTRIBUTE_FIELDS]
VALUE_COLUMNS = [*ATTRIBUTES, "extra"]  # what makes a new version (row_hash)
STORED_COLUMNS = [*VALUE_COLUMNS, "lineage"]  # what a version stores
HASH_COLUMNS = {"row_hash", "lineage_hash"}  # internal: never returned by reads


class _Readable(sa.types.TypeDecorator):
    """A date or timestamp attribute whose unreadable stored value (year 99999 on SQLite, pinned before pins
    were checked) reads as NULL instead of failing every read of its record, its history and the feed."""

    def result_processor(self, dialect: sa.Dialect, coltype: Any) -> Any:
        inner = super().result_processor(dialect, coltype)
        if inner is None:
            return None

        def read(value: Any) -> Any:
            try:
                return inner(value)
            except (ValueError, OverflowError):
                return None

        return read


class ReadableDate(_Readable):
    impl = sa.Date
    cache_ok = True


class ReadableDateTime(_Readable):
    impl = sa.DateTime
    cache_ok = True


_SA_TYPES: dict[FieldType, type[sa.types.TypeEngine]] = {
    FieldType.STRING: sa.Text,
    FieldType.INTEGER: sa.BigInteger,
    FieldType.DOUBLE: sa.Double,
    FieldType.BOOLEAN: sa.Boolean,
    FieldType.DATE: ReadableDate,
    FieldType.TIMESTAMP: ReadableDateTime,
}


def _values() -> list[sa.Column]:
    """Fresh value columns: attributes, extra, lineage (a Column belongs to one table)."""
    cols = [sa.Column(f.name, _SA_TYPES[f.type]()) for f in ATTRIBUTE_FIELDS]
    return [*cols, sa.Column("extra", sa.Text()), sa.Column("lineage", sa.Text())]


GOLDEN_ID = sa.String(32)
RUN_ID = sa.String(64)
# Arrow types of bulk reads (dates and timestamps: see _arrow_type).
_ARROW_TYPES: dict[type, pa.DataType] = {
    sa.String: pa.string(),
    sa.Text: pa.string(),
    sa.Integer: pa.int64(),
    sa.BigInteger: pa.int64(),
    sa.Double: pa.float64(),
    sa.Float: pa.float64(),
}

# Mirrors hub/migrations; the tests fail if the two drift apart.
metadata = sa.MetaData()
golden_records = sa.Table(
    "golden_records",
    metadata,
    sa.Column("golden_id", GOLDEN_ID, primary_key=True),
    sa.Column("version", sa.Integer(), nullable=False),
    *_values(),
    sa.Column("record_count", sa.Integer(), nullable=False),
    sa.Column("row_hash", sa.String(32), nullable=False),  # md5 of the attribute values and extra
    sa.Column("lineage_hash", sa.String(32), nullable=True),  # md5 of lineage (migration 0006 filled old rows)
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
)
golden_history = sa.Table(
    "golden_history",
    metadata,
    sa.Column("golden_id", GOLDEN_ID, primary_key=True),
    sa.Column("version", sa.Integer(), primary_key=True),
    *_values(),
    sa.Column("valid_from", sa.DateTime(), nullable=False),
    sa.Column("valid_to", sa.DateTime(), nullable=True),
    sa.Column("run_id", RUN_ID, nullable=False),
    # JSON list of the fields a later version changed; NULL for first versions (see changed_fields) and 0006's
    sa.Column("changed_fields", sa.Text(), nullable=True),
    sa.Index("ix_golden_history_golden_id_valid_from", "golden_id", "valid_from"),
)
xref = sa.Table(
    "xref",
    metadata,
    sa.Column("source_system", sa.String(64), primary_key=True),
    sa.Column("source_key", sa.String(255), primary_key=True),
    sa.Column("golden_id", GOLDEN_ID, nullable=False, index=True),
    sa.Column("match_probability", sa.Double(), nullable=True),
    sa.Column("link_type", sa.String(16), nullable=False),
    sa.Column("linked_at", sa.DateTime(), nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
)
id_redirects = sa.Table(
    "id_redirects",
    metadata,
    sa.Column("retired_id", GOLDEN_ID, primary_key=True),
    sa.Column("surviving_id", GOLDEN_ID, nullable=True, index=True),  # live id now (repointed: one hop); NULL: deleted
    sa.Column("retired_into", GOLDEN_ID, nullable=True),  # live id when retired, for as-of reads; NULL: deleted
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("retired_at", sa.DateTime(), nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
)
overrides_table = sa.Table(
    "overrides",
    metadata,
    sa.Column("golden_id", GOLDEN_ID, primary_key=True),
    sa.Column("field", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), nullable=True),
    sa.Column("pinned_by", sa.String(255), nullable=False),
    sa.Column("pinned_at", sa.DateTime(), nullable=False),
)
run_log = sa.Table(
    "run_log",
    metadata,
    sa.Column("run_id", RUN_ID, primary_key=True),
    sa.Column("started_at", sa.DateTime(), nullable=False),
    sa.Column("finished_at", sa.DateTime(), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("counts", sa.Text(), nullable=True),
    sa.Column("message", sa.Text(), nullable=True),
)
id_sequence = sa.Table(
    "id_sequence",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("next_value", sa.BigInteger(), nullable=False),
)
writeback_audit_table = sa.Table(  # append-only: one row per source column a write-back changed
    "writeback_audit",
    metadata,
    sa.Column("run_id", RUN_ID, nullable=False),  # the published golden run whose values were written
    sa.Column("source_system", sa.String(64), nullable=False),
    sa.Column("source_key", sa.String(255), nullable=False),
    sa.Column("column", sa.String(255), nullable=False),  # the source column ('<table>.golden_id': a side table)
    sa.Column("fields", sa.Text(), nullable=True),  # canonical fields it holds, comma-separated
    sa.Column("old_value", sa.Text(), nullable=True),  # as the source stored it
    sa.Column("new_value", sa.Text(), nullable=True),
    sa.Column("written_at", sa.DateTime(), nullable=False),
    sa.Index("ix_writeback_audit_source_system_source_key", "source_system", "source_key"),
    sa.Index("ix_writeback_audit_run_id", "run_id"),
)
writeback_journal = sa.Table(  # migration 0007: a write-back batch, recorded before the source commits it
    "writeback_journal",
    metadata,
    sa.Column("batch_id", sa.String(32), primary_key=True),
    sa.Column("run_id", RUN_ID, nullable=False),
    sa.Column("source_system", sa.String(64), nullable=False, index=True),
    sa.Column("source_key", sa.String(255), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),  # pending: source not known to have committed | audited
    sa.Column("planned", sa.Text(), nullable=False),  # JSON: the row's plan (connectors/writeback_plan.py)
    sa.Column("changes", sa.Text(), nullable=False),  # JSON: the audit cells it writes, {column: [fields, old, new]}
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
api_keys = sa.Table(  # REST API keys (hub.api.keys): only a salted hash of the secret is stored
    "api_keys",
    metadata,
    sa.Column("key_id", sa.String(32), primary_key=True),
    sa.Column("name", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),  # reader | steward | admin
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("revoked_at", sa.DateTime(), nullable=True),
)
RECORD_ID = sa.String(320)  # 'source_system:source_key'
match_decisions = sa.Table(  # steward decisions (migration 0004): every one kept; current = superseded_at NULL
    "match_decisions",
    metadata,
    sa.Column("decision_id", sa.String(32), primary_key=True),
    sa.Column("id_l", RECORD_ID, nullable=False),  # id_l < id_r
    sa.Column("id_r", RECORD_ID, nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),  # match | not_match
    sa.Column("decided_by", sa.String(255), nullable=False),
    sa.Column("decided_at", sa.DateTime(), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("superseded_at", sa.DateTime(), nullable=True),
    sa.Index("ix_match_decisions_id_l_id_r", "id_l", "id_r"),
)
review_queue = sa.Table(  # the review band of the last published run, less the pairs decided since
    "review_queue",
    metadata,
    sa.Column("id_l", RECORD_ID, primary_key=True),  # id_l < id_r
    sa.Column("id_r", RECORD_ID, primary_key=True),
    sa.Column("source_system_l", sa.String(64), nullable=False),
    sa.Column("source_system_r", sa.String(64), nullable=False),
    sa.Column("golden_id_l", GOLDEN_ID, nullable=True),
    sa.Column("golden_id_r", GOLDEN_ID, nullable=True),
    sa.Column("match_probability", sa.Double(), nullable=False, index=True),
    sa.Column("match_weight", sa.Double(), nullable=True),
    sa.Column("explanation", sa.Text(), nullable=True),  # JSON: comparison -> match weight
    sa.Column("record_l", sa.Text(), nullable=True),  # JSON: canonical values of the record
    sa.Column("record_r", sa.Text(), nullable=True),
    sa.Column("run_id", RUN_ID, nullable=False),
)
match_model = sa.Table(  # the model the last run scored with (migration 0005): one row, replaced when it changes
    "match_model",
    metadata,
    sa.Column("version", sa.Integer(), primary_key=True),
    sa.Column("trained_at", sa.DateTime(), nullable=False),
    sa.Column("records", sa.BigInteger(), nullable=False),
    sa.Column("model_json", sa.Text(), nullable=False),
    sa.Column("tf_totals", sa.Text(), nullable=False),  # JSON: tf column -> scored records with a value
    sa.Column("published_at", sa.DateTime(), nullable=False),
    sa.Column("run_id", RUN_ID, nullable=False),
)
match_term_frequencies = sa.Table(  # per tf column, the values two or more of the scored records share
    "match_term_frequencies",
    metadata,
    sa.Column("tf_column", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text(), primary_key=True),
    sa.Column("golden_records", sa.Integer(), nullable=False),  # records holding it (the name predates that)
)
REVIEW_COLUMNS = [c.name for c in review_queue.c if c.name != "run_id"]
DECISIONS = ("match", "not_match")
# Search and change-feed indexes (migration 0003); the API's queries use these same expressions.
_g, _h, _r = golden_records.c, golden_history.c, id_redirects.c
sa.Index("ix_golden_records_lower_last_name", sa.func.lower(_g.last_name))
sa.Index("ix_golden_records_lower_first_name", sa.func.lower(_g.first_name))
sa.Index("ix_golden_records_lower_email", sa.func.lower(_g.email))
sa.Index("ix_golden_records_upper_postal_code", sa.func.upper(_g.postal_code))
sa.Index("ix_golden_records_phone", _g.phone)
sa.Index("ix_golden_history_valid_from", _h.valid_from, _h.golden_id, _h.version)
sa.Index("ix_id_redirects_retired_at", _r.retired_at, _r.retired_id)
del _g, _h, _r


# ---------------------------------------------------------------------------------------------- engine


def create_store_engine(url: str, read_only: bool = False) -> sa.Engine:
    """An engine without running migrations. SQLite: parent dir created, WAL + busy timeout +
    foreign keys on every connection, and SQLAlchemy (not the sqlite3 module) emits BEGIN, so reads
    are repeatable and DDL is transactional. `read_only`: every connection refuses writes (SQLite
    opens the existing file with mode=ro; PostgreSQL sessions default to read-only transactions)."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() != "sqlite":
        args = {"options": "-c default_transaction_read_only=on"} if read_only else {}
        return sa.create_engine(parsed, pool_pre_ping=True, connect_args=args)
    if not parsed.database or parsed.database == ":memory:":  # one shared connection, or each has its own db
        engine = sa.create_engine(parsed, poolclass=StaticPool, connect_args={"check_same_thread": False})
    elif read_only:
        uri = Path(parsed.database).resolve().as_uri()
        engine = sa.create_engine(parsed.set(database=uri, query={**parsed.query, "mode": "ro", "uri": "true"}))
    else:
        if not parsed.database.startswith("file:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed)

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


def open_store(url: str) -> sa.Engine:
    """The serving store at `url`, migrated to the newest schema."""
    engine = create_store_engine(url)
    reach.connect(engine, "serving_store")
    upgrade(engine)
    return engine


def open_read_only(url: str) -> sa.Engine:
    """The serving store at `url` for a dry run, which writes nothing into it: read-only connections and
    no migration. A store without the hub's schema yet (a dry run before the first run) is answered by an
    empty in-memory store at the newest schema, which is what a first run starts from. A store at an older
    schema is refused, since migrating it would be a write."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and not (parsed.database and Path(parsed.database).is_file()):
        return open_store("sqlite://")
    engine = create_store_engine(url, read_only=True)
    reach.connect(engine, "serving_store")
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if current == head:
        return engine
    engine.dispose()
    if current is None:
        return open_store("sqlite://")
    raise RuntimeError(
        f"the serving store is at schema revision {current} and this hub needs {head}; a dry run does not "
        "migrate it: run once without --dry-run (or any command that opens the store, e.g. `hub review list`)"
    )


@contextmanager
def opened(url: str, read_only: bool = False) -> Iterator[sa.Engine]:
    """`open_store` (or `open_read_only`) for the length of a block (a command, an asset): the engine is
    disposed after it."""
    engine = open_read_only(url) if read_only else open_store(url)
    try:
        yield engine
    finally:
        engine.dispose()


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


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """Apply the migrations in one transaction; a no-op when the store is at `revision` already.
    Concurrent callers (pipeline and API starting together) take turns."""
    cfg = alembic_config()
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7286312841)")  # any constant: the hub's lock
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


# ------------------------------------------------------------------------------------------ runs, ids


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _utc_naive(t: datetime) -> datetime:
    return t.astimezone(UTC).replace(tzinfo=None) if t.tzinfo else t


def start_run(engine: sa.Engine, run_id: str | None = None) -> str:
    """Record a run as 'running' (committed at once, so a crash still leaves a trace).

    Runs take the workspace lock one at a time (hub.workspace.exclusive), so a row still 'running' when a new
    run starts belongs to a process that stopped before it could finish or fail it (killed during publish):
    it is marked failed, with that reason, in the same transaction."""
    run_id = run_id or f"{_now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    now = _now()
    reason = f"interrupted: still running when run {run_id} started (its process stopped before the run finished)"
    with write_transaction(engine) as conn:
        conn.execute(
            run_log.update()
            .where(run_log.c.status == "running")
            .values(status="failed", finished_at=now, message=reason)
        )
        conn.execute(run_log.insert().values(run_id=run_id, started_at=now, status="running"))
    return run_id


def fail_run(engine: sa.Engine, run_id: str, message: str) -> None:
    """Mark a run failed; its own transaction, since the failed publish rolled back."""
    with write_transaction(engine) as conn:
        conn.execute(
            run_log.update()
            .where(run_log.c.run_id == run_id)
            .values(status="failed", finished_at=_now(), message=message)
        )


def mint_ids(conn: sa.Connection, n: int) -> list[str]:
    """`n` new golden ids ('G00000001', ...), monotonic and never handed out twice once the
    transaction commits. Mint in a transaction of its own (write_transaction) if the ids are
    stored anywhere outside this store before publish: a rollback returns them to the pool."""
    if n <= 0:
        return []
    seq = id_sequence.c
    conn.execute(id_sequence.update().where(seq.name == "golden").values(next_value=seq.next_value + n))
    end = conn.scalar(sa.select(seq.next_value).where(seq.name == "golden"))
    return _golden_ids(end - n, n)


def peek_ids(conn: sa.Connection, n: int) -> list[str]:
    """The `n` ids the next mint_ids would hand out, without taking them: provisional ids for a dry
    run, which writes nothing. Never publish them."""
    if n <= 0:
        return []
    return _golden_ids(conn.scalar(sa.select(id_sequence.c.next_value).where(id_sequence.c.name == "golden")), n)


def _golden_ids(start: int, n: int) -> list[str]:
    return [f"G{i:08d}" for i in range(start, start + n)]


# -------------------------------------------------------------------------------------------- publish


@dataclass(frozen=True)
class PublishResult:
    run_id: str | None  # None: a preview (dry run), nothing was published
    new: int  # version 1 of a new golden id
    changed: int  # a new version: attribute values or extra changed
    lineage_updated: int  # same values, other lineage: updated in place, no version, no change-feed event
    unchanged: int
    retired: int
    xref_changed: int  # xref rows inserted, replaced or deleted
    match_model_published: int = 0  # the model version written this run; 0: none given or unchanged
    term_frequencies_changed: int = 0  # match_term_frequencies rows inserted, replaced or deleted

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "run_id"}


@dataclass(frozen=True)
class MatchModel:
    """The match model a run scored with, as publish takes it: the Splink model (JSON text) and the counts of
    the records it scored that its term frequencies came from, which match-on-entry needs beside it (a posted
    record sharing a common name is weaker evidence than one sharing a rare name; matching.models.for_serving)."""

    version: int
    trained_at: datetime
    records: int
    model_json: str
    tf_counts: pd.DataFrame  # tf_column, value, golden_records: the values two or more scored records share
    tf_totals: dict[str, int]  # tf column -> scored records with a value in it


@dataclass(frozen=True)
class PublishedModel:
    """The match model in the serving store (store.published_model)."""

    version: int
    trained_at: datetime
    records: int
    model_json: str
    tf_totals: dict[str, int]
    published_at: datetime
    run_id: str


def publish(
    engine: sa.Engine,
    run_id: str,
    golden: pd.DataFrame,
    xref_frame: pd.DataFrame,
    redirects: pd.DataFrame | None = None,
    counts: Mapping[str, Any] | None = None,
    review: pd.DataFrame | None = None,
    model: MatchModel | None = None,
) -> PublishResult:
    """Make one run's golden records, xref and redirects the current state, in ONE transaction.

    `golden`: every live golden record of the run — golden_id, every attribute of hub.model, lineage
    (JSON text or dict), record_count, and optionally extra (JSON text or dict). A record is a new
    version only when its attribute values or extra differ from the current row; the version's
    `changed_fields` (golden_history, for the change feed) name them (a new id: the fields with a
    value). A different lineage (another source record supplies the same value) or record_count is
    written in place, into the current row and the open history row, with no new version. JSON text
    is compared as given, so produce it deterministically; dicts are serialized with sorted keys
    (slower: pass text at scale).

    `xref_frame`: source_system, source_key, golden_id (live in `golden`), match_probability (NaN for
    singletons), link_type ('auto' | 'steward' | 'singleton') for every source record of the run.

    `redirects`: retired_id, surviving_id, optional reason (default 'merge', or 'deleted' without a
    survivor). Every id live now but absent from `golden` must have one; the survivor may itself be
    retired in this run (chains are followed) but must end at an id in `golden`. A missing
    surviving_id retires the id with no successor (all its source records are gone): it then resolves
    to None, and stays reserved. Rows for ids already retired or never published are ignored, so a
    cumulative redirect list is fine.

    `review`: the run's review queue (REVIEW_COLUMNS; id_l < id_r), replacing the queue in the same
    transaction, less the pairs a steward decided meanwhile; None leaves the queue as it is.

    `model`: the match model the run scored with and its term frequencies, for match-on-entry. The model
    row is replaced only when the version or the model changed, and only changed term-frequency rows are
    written; None leaves both as they are.

    Raises ValueError (nothing written) on inconsistent input; any failure rolls the whole run back.
    The run_log row becomes 'published' with `counts` plus the publish counts; on failure it stays as
    it was — record the failure with fail_run. The diffs against the current state run in DuckDB
    (in memory) over Arrow copies of the current keys and hashes (and of the values of the rows whose
    hash differs); `preview` runs the same diff and writes nothing.
    """
    diff = _diff(engine, golden, xref_frame, redirects, model, run_id)
    now = _now()
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":  # one publisher at a time; plain reads go on
            conn.exec_driver_sql("LOCK TABLE golden_records IN EXCLUSIVE MODE")
        if last_published(conn) != diff.head:
            raise RuntimeError(f"another run was published while {run_id!r} was being prepared; publish again")
        _check_run(conn, run_id)
        _publish_golden(conn, run_id, now, diff.golden, diff.plan)
        faults.point("publish:mid")
        _retire(conn, run_id, now, diff.retire)
        xref_changed = _publish_xref(conn, run_id, now, diff.xref_plan)
        if review is not None:
            _publish_review(conn, run_id, review)
        published = _publish_model(conn, run_id, now, model, diff.model_plan) if diff.model_plan else (0, 0)
        result = diff.result(run_id, xref_changed, *published)
        _finish_run(conn, run_id, now, counts, result)
    return result


def preview(
    engine: sa.Engine, golden: pd.DataFrame, xref_frame: pd.DataFrame, redirects: pd.DataFrame | None = None
) -> PublishResult:
    """What `publish` would do with this run (new, changed, lineage-only, unchanged, retired, xref
    changes), from the same diff, writing nothing: a dry run. `run_id` is None; the match model is not
    compared. Raises ValueError on input publish would refuse."""
    diff = _diff(engine, golden, xref_frame, redirects, None, None)
    return diff.result(None, diff.xref_plan["changed"])


@dataclass
class _Diff:
    """A run against the read snapshot of the current state: what publish writes."""

    head: sa.Row | None  # the last published run then
    golden: pd.DataFrame  # normalized golden records (_normalize_golden)
    plan: dict[str, Any]  # _plan_golden
    retire: pd.DataFrame  # _plan_retire
    xref_plan: dict[str, Any]
    model_plan: dict[str, Any] | None

    def result(self, run_id: str | None, xref_changed: int, model: int = 0, tf_changed: int = 0) -> PublishResult:
        count = lambda key: int(self.plan[key].sum())  # noqa: E731
        new, changed, lineage = count("new"), count("changed"), count("lineage")
        return PublishResult(
            run_id=run_id,
            new=new,
            changed=changed,
            lineage_updated=lineage,
            unchanged=len(self.golden) - new - changed - lineage,
            retired=len(self.retire),
            xref_changed=xref_changed,
            match_model_published=model,
            term_frequencies_changed=tf_changed,
        )


def _diff(
    engine: sa.Engine,
    golden: pd.DataFrame,
    xref_frame: pd.DataFrame,
    redirects: pd.DataFrame | None,
    model: MatchModel | None,
    run_id: str | None,
) -> _Diff:
    """Check the input and diff it against a read snapshot, so publish holds the write lock only while
    writing: on SQLite other writers (a steward's pin) wait for it. Only publish writes golden records and
    xref, so "no other run published since the snapshot" (checked under the lock) keeps the diff valid."""
    db = duckdb.connect()
    try:
        g = _normalize_golden(golden, db)
        x = _normalize_xref(xref_frame)
        r = _normalize_redirects(redirects)
        db.register("inc", g[["rn", "golden_id", "row_hash", "lineage_hash", "record_count"]])
        db.register("inc_x", x)
        _check_xref_targets(db)
        with engine.connect() as conn:
            head = last_published(conn)
            if run_id is not None:
                _check_run(conn, run_id)
            gr, xr = golden_records.c, xref.c
            current = sa.select(gr.golden_id, gr.version, gr.row_hash, gr.lineage_hash, gr.record_count)
            db.register("cur", _arrow(conn, current))
            db.register(
                "cur_x",
                _arrow(
                    conn, sa.select(xr.source_system, xr.source_key, xr.golden_id, xr.match_probability, xr.link_type)
                ),
            )
            model_plan = _plan_model(conn, db, model) if model is not None else None
            plan = _plan_golden(conn, db, g)
        retire = _plan_retire(plan["retired"], r, g["golden_id"])
        xref_plan = _plan_xref(db, x)
    finally:
        db.close()
    return _Diff(head, g, plan, retire, xref_plan, model_plan)


def last_published_run(conn: sa.Connection) -> str | None:
    """The run id of the newest published run; None before the first publish."""
    head = last_published(conn)
    return head[0] if head else None


def last_published(conn: sa.Connection) -> sa.Row | None:
    """(run_id, finished_at) of the last published run."""
    rl = run_log.c
    stmt = sa.select(rl.run_id, rl.finished_at).where(rl.status == "published")
    return conn.execute(stmt.order_by(rl.finished_at.desc(), rl.run_id.desc()).limit(1)).first()


def _check_run(conn: sa.Connection, run_id: str) -> None:
    status = conn.scalar(sa.select(run_log.c.status).where(run_log.c.run_id == run_id))
    if status not in (None, "running"):
        raise ValueError(f"run {run_id!r} is {status}; publish a new run")


def _finish_run(
    conn: sa.Connection, run_id: str, now: datetime, counts: Mapping[str, Any] | None, result: PublishResult
) -> None:
    payload = json.dumps({**(counts or {}), "publish": result.counts()}, default=str)
    values = {"status": "published", "finished_at": now, "counts": payload}
    done = conn.execute(run_log.update().where(run_log.c.run_id == run_id).values(**values))
    if done.rowcount == 0:  # the caller skipped start_run
        conn.execute(run_log.insert().values(run_id=run_id, started_at=now, **values))


def _check_xref_targets(db: duckdb.DuckDBPyConnection) -> None:
    orphans = [
        r[0] for r in db.execute("SELECT DISTINCT golden_id FROM inc_x ANTI JOIN inc USING (golden_id)").fetchall()
    ]
    if orphans:
        raise ValueError(f"xref: golden ids {_few(orphans)} are not in the golden records")


VALUE_BATCH = 20_000  # golden ids per read of current values (one IN list)


def _changed_fields_sql() -> str:
    """DuckDB: the fields whose value differs between incoming `i` and current `p`, in model order, then
    the extra attributes by name. Values compare in the text form the row hash uses; an extra attribute
    that is null counts as missing."""
    attrs = ", ".join(
        f"CASE WHEN CAST(i.{a} AS VARCHAR) IS DISTINCT FROM CAST(p.{a} AS VARCHAR) THEN '{a}' END" for a in ATTRIBUTES
    )
    value = "nullif(json_extract({}.extra, k)::VARCHAR, 'null')"
    extra = (
        "list_filter(list_sort(list_distinct(coalesce(json_keys(i.extra), []) || coalesce(json_keys(p.extra), []))), "
        f"lambda k: {value.format('i')} IS DISTINCT FROM {value.format('p')})"
    )
    return f"list_filter([{attrs}], lambda f: f IS NOT NULL) || {extra}"


def _plan_golden(conn: sa.Connection, db: duckdb.DuckDBPyConnection, g: pd.DataFrame) -> dict[str, Any]:
    """Per incoming record (in input order): new, changed (a new version, with its changed_fields), or
    in place (lineage, record_count or only the stored hash differ); and the live ids now gone.

    A record whose hash differs has its current values read (only those records) and compared field by
    field: it gets a version only if a field differs. That also covers rows hashed another way before
    (migration 0006): their hash is refreshed in place."""
    res = db.execute(
        """SELECT CASE WHEN c.golden_id IS NULL THEN 0 WHEN c.row_hash <> i.row_hash THEN 1
                       WHEN c.lineage_hash IS DISTINCT FROM i.lineage_hash OR c.record_count <> i.record_count THEN 2
                       ELSE 3 END AS status,
                  c.golden_id IS NOT NULL AND c.lineage_hash IS DISTINCT FROM i.lineage_hash AS relineaged,
                  coalesce(c.version, 0) + 1 AS version
           FROM inc i LEFT JOIN cur c USING (golden_id) ORDER BY i.rn"""
    ).fetchnumpy()
    status, relineaged = np.asarray(res["status"]), np.asarray(res["relineaged"], dtype=bool)
    rehashed = np.flatnonzero(status == 1)
    changed_fields = np.full(len(g), None, dtype=object)
    if len(rehashed):
        changed_fields[rehashed] = _diff_fields(conn, db, g.iloc[rehashed])
        status[rehashed[changed_fields[rehashed] == "[]"]] = 2
    in_place = status == 2
    retired = [row[0] for row in db.execute("SELECT golden_id FROM cur ANTI JOIN inc USING (golden_id)").fetchall()]
    return {
        "new": status == 0,
        "changed": status == 1,
        "in_place": in_place,
        "relineaged": relineaged,
        "lineage": in_place & relineaged,
        "version": np.asarray(res["version"]),
        "changed_fields": changed_fields,
        "retired": _objects(retired),
    }


def _diff_fields(conn: sa.Connection, db: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> np.ndarray:
    """For these incoming records: the fields that differ from their current row (JSON list text, in
    order), the current values read VALUE_BATCH ids at a time."""
    gr = golden_records.c
    columns = [gr.golden_id, *(gr[c] for c in VALUE_COLUMNS)]
    ids = rows["golden_id"].tolist()
    batches = [ids[i : i + VALUE_BATCH] for i in range(0, len(ids), VALUE_BATCH)]
    prev = pd.concat([_frame(conn, sa.select(*columns).where(gr.golden_id.in_(b))) for b in batches], ignore_index=True)
    db.register("diff_rows", rows[["rn", "golden_id", *VALUE_COLUMNS]])
    db.register("prev", prev)
    fields = db.execute(
        f"""SELECT to_json({_changed_fields_sql()})::VARCHAR
            FROM diff_rows i LEFT JOIN prev p USING (golden_id) ORDER BY i.rn"""
    ).fetchall()
    db.unregister("diff_rows")
    db.unregister("prev")
    return np.array([f[0] for f in fields], dtype=object)


def _plan_retire(retired: pd.Series, redirects: pd.DataFrame, live: pd.Series) -> pd.DataFrame:
    """Redirect rows for the ids this publish retires, survivors followed to a live id (None: deleted)."""
    given = redirects.drop_duplicates()
    if given.empty and retired.empty:
        return given.assign(retired_into=given["surviving_id"])
    live_ids = pd.Index(live.to_numpy(dtype=object))
    still_live = given["retired_id"][live_ids.get_indexer(given["retired_id"]) >= 0]
    if len(still_live):
        raise ValueError(f"redirects: {_few(still_live)} retired but still in the golden records")
    missing = retired[~retired.isin(given["retired_id"])]
    if len(missing):
        raise ValueError(f"{_few(missing)} no longer in the golden records and no redirect says where they went")
    out = given[given["retired_id"].isin(retired)].reset_index(drop=True)
    dup = out["retired_id"][out["retired_id"].duplicated()]
    if len(dup):
        raise ValueError(f"redirects: {_few(dup)} redirected to more than one survivor")
    step = dict(zip(out["retired_id"], out["surviving_id"], strict=True))
    survivors = []
    for start in out["surviving_id"]:  # one entry per retired id, and chains are short
        target, hops = start, 0
        while target in step and hops <= len(step):
            target, hops = step[target], hops + 1
        if target is not None and live_ids.get_indexer([target])[0] < 0:
            raise ValueError(f"redirect to {start!r} does not end at a golden record of this run")
        survivors.append(target)
    return out.assign(retired_into=out["surviving_id"], surviving_id=_objects(survivors))


def _publish_golden(conn: sa.Connection, run_id: str, now: datetime, g: pd.DataFrame, plan: dict[str, Any]) -> None:
    """New and changed records get a version; the others that differ are updated in place."""
    write = plan["new"] | plan["changed"]
    if write.any():
        versions = g.loc[write].assign(version=plan["version"][write], changed_fields=plan["changed_fields"][write])
        _write_versions(conn, run_id, now, versions)
    if plan["in_place"].any():
        _update_in_place(conn, g.loc[plan["in_place"]].assign(relineaged=plan["relineaged"][plan["in_place"]]))


def _update_in_place(conn: sa.Connection, rows: pd.DataFrame) -> None:
    """Records whose values did not change: lineage, record_count and hashes of the current row, and the
    lineage of the open history row where it changed (history and current agree). No new version, so
    version, updated_at and run_id stay those of the run that published the values."""
    cols = ["golden_id", "lineage", "row_hash", "lineage_hash", "record_count", "relineaged"]
    stage = _stage(
        conn,
        "hub_stage_in_place",
        [
            sa.Column("golden_id", GOLDEN_ID),
            sa.Column("lineage", sa.Text()),
            sa.Column("row_hash", sa.String(32)),
            sa.Column("lineage_hash", sa.String(32)),
            sa.Column("record_count", sa.Integer()),
            sa.Column("relineaged", sa.Boolean()),
        ],
        rows.sort_values("golden_id")[cols],
    )
    s, gr, h = stage.c, golden_records.c, golden_history.c
    conn.execute(
        golden_records.update()
        .where(gr.golden_id == s.golden_id)
        .values(lineage=s.lineage, row_hash=s.row_hash, lineage_hash=s.lineage_hash, record_count=s.record_count)
    )
    conn.execute(
        golden_history.update()
        .where(h.golden_id == s.golden_id, h.valid_to.is_(None), s.relineaged)
        .values(lineage=s.lineage)
    )
    stage.drop(conn)


def _write_versions(conn: sa.Connection, run_id: str, now: datetime, rows: pd.DataFrame) -> None:
    """Stage the new versions (sorted by id: B-tree inserts in key order), close the current history
    rows, replace the current rows, append history — set-based."""
    stage_cols = ["golden_id", "version", *STORED_COLUMNS, "record_count", "row_hash", "lineage_hash", "changed_fields"]
    stage = _stage(
        conn,
        "hub_stage_golden",
        [
            sa.Column("golden_id", GOLDEN_ID),
            sa.Column("version", sa.Integer()),
            *_values(),
            sa.Column("record_count", sa.Integer()),
            sa.Column("row_hash", sa.String(32)),
            sa.Column("lineage_hash", sa.String(32)),
            sa.Column("changed_fields", sa.Text()),
            sa.Column("created_at", sa.DateTime()),
        ],
        rows.sort_values("golden_id")[stage_cols],
    )
    s = stage.c
    reused = conn.scalar(
        sa.select(sa.func.count()).select_from(stage.join(id_redirects, id_redirects.c.retired_id == s.golden_id))
    )
    if reused:
        raise ValueError(f"{reused} golden id(s) were retired earlier and cannot come back; mint new ids")
    staged_ids = sa.select(s.golden_id)
    conn.execute(
        stage.update()
        .where(s.version > 1)
        .values(
            created_at=sa.select(golden_records.c.created_at)
            .where(golden_records.c.golden_id == s.golden_id)
            .scalar_subquery()
        )
    )
    _close_history(conn, staged_ids, now)
    conn.execute(golden_records.delete().where(golden_records.c.golden_id.in_(staged_ids)))
    values = [s[c] for c in ["golden_id", "version", *STORED_COLUMNS]]
    now_p, run_p = sa.literal(now, sa.DateTime()), sa.literal(run_id, RUN_ID)
    conn.execute(
        golden_records.insert().from_select(
            ["golden_id", "version", *STORED_COLUMNS, "record_count", "row_hash", "lineage_hash", "created_at",
             "updated_at", "run_id"],
            sa.select(*values, s.record_count, s.row_hash, s.lineage_hash, sa.func.coalesce(s.created_at, now_p),
                      now_p, run_p),
        )
    )  # fmt: skip
    conn.execute(
        golden_history.insert().from_select(
            ["golden_id", "version", *STORED_COLUMNS, "valid_from", "valid_to", "run_id", "changed_fields"],
            sa.select(*values, now_p, sa.null(), run_p, s.changed_fields),
        )
    )
    stage.drop(conn)


def _retire(conn: sa.Connection, run_id: str, now: datetime, retire: pd.DataFrame) -> None:
    """Retired ids: close history, drop the current row, redirect; older redirects into them are
    repointed so every redirect is one hop to a live id."""
    if retire.empty:
        return
    stage = _stage(
        conn,
        "hub_stage_redirects",
        [
            sa.Column("retired_id", GOLDEN_ID),
            sa.Column("surviving_id", GOLDEN_ID),
            sa.Column("retired_into", GOLDEN_ID),
            sa.Column("reason", sa.String(32)),
        ],
        retire[["retired_id", "surviving_id", "retired_into", "reason"]],
    )
    s = stage.c
    retired_ids = sa.select(s.retired_id)
    _close_history(conn, retired_ids, now)
    conn.execute(golden_records.delete().where(golden_records.c.golden_id.in_(retired_ids)))
    r = id_redirects.c
    conn.execute(
        id_redirects.update()
        .where(r.surviving_id.in_(retired_ids))
        .values(surviving_id=sa.select(s.surviving_id).where(s.retired_id == r.surviving_id).scalar_subquery())
    )
    conn.execute(
        id_redirects.insert().from_select(
            ["retired_id", "surviving_id", "retired_into", "reason", "retired_at", "run_id"],
            sa.select(
                s.retired_id,
                s.surviving_id,
                s.retired_into,
                s.reason,
                sa.literal(now, sa.DateTime()),
                sa.literal(run_id, RUN_ID),
            ),
        )
    )
    stage.drop(conn)


def _close_history(conn: sa.Connection, ids: sa.Select, now: datetime) -> None:
    h = golden_history.c
    conn.execute(golden_history.update().where(h.valid_to.is_(None), h.golden_id.in_(ids)).values(valid_to=now))


def _plan_xref(db: duckdb.DuckDBPyConnection, x: pd.DataFrame) -> dict[str, Any]:
    """xref rows to write (new, or golden id / probability / link type changed; in key order) and
    keys to delete first (the changed ones, and source records no longer present)."""
    keys = ["source_system", "source_key"]
    write = db.execute(
        """SELECT x.rn, c.source_key IS NOT NULL AS existed
           FROM inc_x x LEFT JOIN cur_x c USING (source_system, source_key)
           WHERE c.source_key IS NULL OR c.golden_id <> x.golden_id OR c.link_type <> x.link_type
              OR c.match_probability IS DISTINCT FROM x.match_probability
           ORDER BY x.source_system, x.source_key"""
    ).fetchnumpy()
    rn, existed = np.asarray(write["rn"]), np.asarray(write["existed"], dtype=bool)
    gone = db.execute(
        "SELECT source_system, source_key FROM cur_x ANTI JOIN inc_x USING (source_system, source_key)"
    ).df()
    return {
        "write": x.iloc[rn][[*keys, "golden_id", "match_probability", "link_type"]],
        "delete": pd.concat([x.iloc[rn[existed]][keys], gone], ignore_index=True),
        "changed": len(rn) + len(gone),
    }


def _plan_model(conn: sa.Connection, db: duckdb.DuckDBPyConnection, model: MatchModel) -> dict[str, Any]:
    """Against the read snapshot: whether the model row must be replaced (or only its totals updated),
    and the term-frequency rows to write (new or recounted) and keys to delete first (recounted, gone)."""
    m = match_model.c
    current = conn.execute(sa.select(m.version, m.model_json, m.tf_totals)).first()
    t = match_term_frequencies.c
    db.register("cur_tf", _arrow(conn, sa.select(t.tf_column, t.value, t.golden_records)))
    db.register("inc_tf", model.tf_counts[["tf_column", "value", "golden_records"]])
    write = db.execute(
        """SELECT i.tf_column, i.value, i.golden_records, c.value IS NOT NULL AS existed
           FROM inc_tf i LEFT JOIN cur_tf c USING (tf_column, value)
           WHERE c.value IS NULL OR c.golden_records <> i.golden_records ORDER BY i.tf_column, i.value"""
    ).df()
    gone = db.execute("SELECT tf_column, value FROM cur_tf ANTI JOIN inc_tf USING (tf_column, value)").df()
    totals = json.dumps(model.tf_totals, sort_keys=True)
    return {
        "replace": current is None or (current.version, current.model_json) != (model.version, model.model_json),
        "totals": None if current is not None and current.tf_totals == totals else totals,
        "write": write[["tf_column", "value", "golden_records"]],
        "delete": pd.concat([write.loc[write["existed"], ["tf_column", "value"]], gone], ignore_index=True),
        "changed": len(write) + len(gone),
    }


def _publish_model(
    conn: sa.Connection, run_id: str, now: datetime, model: MatchModel, plan: dict[str, Any]
) -> tuple[int, int]:
    """(model version written or 0, term-frequency rows changed)."""
    if plan["replace"]:
        conn.execute(match_model.delete())
        conn.execute(
            match_model.insert().values(
                version=model.version,
                trained_at=model.trained_at,
                records=model.records,
                model_json=model.model_json,
                tf_totals=json.dumps(model.tf_totals, sort_keys=True),
                published_at=now,
                run_id=run_id,
            )
        )
    elif plan["totals"] is not None:
        conn.execute(match_model.update().values(tf_totals=plan["totals"]))
    t = match_term_frequencies.c
    if len(plan["delete"]):
        stage = _stage(
            conn, "hub_stage_tf_keys", [sa.Column("tf_column", sa.String(64)), sa.Column("value", sa.Text())],
            plan["delete"],
        )  # fmt: skip
        conn.execute(match_term_frequencies.delete().where(sa.tuple_(t.tf_column, t.value).in_(sa.select(*stage.c))))
        stage.drop(conn)
    _insert_frame(conn, match_term_frequencies, plan["write"])
    return (model.version if plan["replace"] else 0), plan["changed"]


def _publish_xref(conn: sa.Connection, run_id: str, now: datetime, plan: dict[str, Any]) -> int:
    """Delete the changed and gone rows, insert the changed and new ones."""
    c = xref.c
    if len(plan["delete"]):
        stage = _stage(
            conn,
            "hub_stage_xref_keys",
            [sa.Column("source_system", sa.String(64)), sa.Column("source_key", sa.String(255))],
            plan["delete"],
        )
        conn.execute(xref.delete().where(sa.tuple_(c.source_system, c.source_key).in_(sa.select(*stage.c))))
        stage.drop(conn)
    _insert_frame(conn, xref, plan["write"].assign(linked_at=now, run_id=run_id))
    return plan["changed"]


# ------------------------------------------------------------------------------------- input frames


def _normalize_golden(golden: pd.DataFrame, db: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Storage types, JSON text, the row hash and `rn` (input position); unknown or missing columns
    are errors, because a misspelt attribute would otherwise publish as empty values."""
    required = {"golden_id", *ATTRIBUTES, "lineage", "record_count"}
    _check_columns("golden", golden, required, required | {"extra"})
    out = pd.DataFrame({"rn": np.arange(len(golden)), "golden_id": _text("golden", golden, "golden_id")})
    dup = out["golden_id"].duplicated()
    if dup.any():
        raise ValueError(f"golden: {_few(out['golden_id'][dup])} appear more than once")
    for f in ATTRIBUTE_FIELDS:
        out[f.name] = _column(golden[f.name], f.type)
    out["extra"] = _json_text(golden["extra"]) if "extra" in golden else _objects([None] * len(golden))
    out["lineage"] = _json_text(golden["lineage"])
    out["record_count"] = pd.to_numeric(golden["record_count"]).astype("int64").to_numpy()
    out["row_hash"] = _row_hashes(db, out, VALUE_COLUMNS)
    out["lineage_hash"] = _lineage_hashes(db, out)
    return out


def _normalize_xref(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["source_system", "source_key", "golden_id", "match_probability", "link_type"]
    _check_columns("xref", frame, set(cols), set(cols))
    out = pd.DataFrame({c: _text("xref", frame, c) for c in cols if c != "match_probability"})
    out["match_probability"] = pd.to_numeric(frame["match_probability"]).astype("float64").to_numpy()
    out["rn"] = np.arange(len(out))
    dup = out.duplicated(["source_system", "source_key"])
    if dup.any():
        raise ValueError(f"xref: {_few(out.loc[dup, 'source_key'])} appear more than once")
    bad = ~out["link_type"].isin(LINK_TYPES)
    if bad.any():
        raise ValueError(f"xref: link_type {_few(out.loc[bad, 'link_type'])} is not one of {LINK_TYPES}")
    return out


def _normalize_redirects(frame: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["retired_id", "surviving_id", "reason"]
    if frame is None or (frame.empty and not {"retired_id", "surviving_id"} <= set(frame.columns)):
        return pd.DataFrame({c: _objects([]) for c in cols})
    _check_columns("redirects", frame, {"retired_id", "surviving_id"}, set(cols))
    out = pd.DataFrame({"retired_id": _objects(_text("redirects", frame, "retired_id"))})
    survivor = frame["surviving_id"].reset_index(drop=True)
    out["surviving_id"] = _objects([None if pd.isna(v) else str(v) for v in survivor])
    default = np.where(out["surviving_id"].isna(), "deleted", "merge")
    given = frame["reason"].reset_index(drop=True) if "reason" in frame else pd.Series([None] * len(out))
    out["reason"] = _objects([d if pd.isna(v) else str(v) for v, d in zip(given, default, strict=True)])
    return out


def _check_columns(what: str, frame: pd.DataFrame, required: set[str], allowed: set[str]) -> None:
    missing, unknown = required - set(frame.columns), set(frame.columns) - allowed
    if missing or unknown:
        raise ValueError(f"{what}: missing columns {sorted(missing)}, unknown columns {sorted(unknown)}")


def _objects(values: Any) -> pd.Series:
    """Python objects, not pandas' Arrow strings, for small id lists used with isin()/dicts."""
    return pd.Series(np.asarray(values, dtype=object), dtype=object)


def _text(what: str, frame: pd.DataFrame, column: str) -> pd.Series:
    """A key column as text (numbers a caller left as numbers become text); never missing."""
    s = frame[column].reset_index(drop=True)
    if s.isna().any():
        raise ValueError(f"{what}: {column} is missing on some rows")
    return s if _is_text(s) else s.astype(str)


def _is_text(s: pd.Series) -> bool:
    return isinstance(s.dtype, pd.StringDtype) or pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")


def _column(s: pd.Series, ftype: FieldType) -> pd.Series:
    """One attribute column in the form the hash and the writer expect: datetime64 (UTC, naive)
    for dates and timestamps, text as given (Arrow strings stay compact), other values as objects."""
    s = s.reset_index(drop=True)
    if ftype in (FieldType.DATE, FieldType.TIMESTAMP):
        t = s if isinstance(s.dtype, pd.DatetimeTZDtype) else pd.to_datetime(s, utc=True, format="ISO8601")
        if isinstance(t.dtype, pd.DatetimeTZDtype):
            t = t.dt.tz_convert(UTC).dt.tz_localize(None)
        t = t.astype("datetime64[us]")
        return t.dt.floor("D") if ftype == FieldType.DATE else t
    if ftype == FieldType.STRING and not _is_text(s):
        return _objects([None if pd.isna(v) else str(v) for v in s])
    return s


def _json_text(s: pd.Series) -> pd.Series:
    """JSON text as given; dicts and lists serialized with sorted keys."""
    s = s.reset_index(drop=True)
    if _is_text(s):
        return s

    def text(v: Any) -> str | None:
        if isinstance(v, str) or v is None:
            return v
        if isinstance(v, dict | list):
            return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)
        return None if pd.isna(v) else str(v)

    return _objects([text(v) for v in s.to_numpy(dtype=object)])


def _row_hashes(db: duckdb.DuckDBPyConnection, frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """md5 over the columns, computed by DuckDB (vectorized, and its text forms of dates and
    timestamps are stable, unlike pandas' internal hashing)."""
    db.register("hash_rows", frame[columns])
    parts = ", ".join(f'coalesce(CAST("{c}" AS VARCHAR), chr(0))' for c in columns)
    hashes = db.execute(f"SELECT md5(concat_ws(chr(31), {parts})) AS h FROM hash_rows").df()["h"]
    db.unregister("hash_rows")
    return hashes


def _lineage_hashes(db: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.Series:
    """md5 of the lineage text ('' when missing), as migration 0006 computed it for older rows."""
    db.register("hash_rows", frame[["lineage"]])
    hashes = db.execute("SELECT md5(coalesce(CAST(lineage AS VARCHAR), '')) AS h FROM hash_rows").df()["h"]
    db.unregister("hash_rows")
    return hashes


def _few(values: Any, n: int = 5) -> str:
    distinct = list(dict.fromkeys(values))
    more = len(distinct) - n
    return ", ".join(repr(v) for v in distinct[:n]) + (f" and {more} more" if more > 0 else "")


# ------------------------------------------------------------------------------------ bulk helpers


def _stage(conn: sa.Connection, name: str, columns: list[sa.Column], frame: pd.DataFrame) -> sa.Table:
    """A temporary table (this connection only) filled with `frame`, for set-based statements."""
    table = sa.Table(name, sa.MetaData(), *columns, prefixes=["TEMPORARY"])
    table.drop(conn, checkfirst=True)
    table.create(conn)
    _insert_frame(conn, table, frame)
    return table


def _insert_frame(conn: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Bulk insert straight through the driver: COPY on PostgreSQL (psycopg), executemany in batches
    elsewhere. Values are converted per column and batch, vectorized, to what SQLAlchemy itself would
    bind: its per-row parameter processing costs more than SQLite's own insert at a million rows."""
    if frame.empty:
        return
    names = list(frame.columns)
    q = conn.dialect.identifier_preparer
    target = f"{q.format_table(table)} ({', '.join(q.quote(n) for n in names)})"
    batches = (
        list(zip(*[_driver_values(part[n], table.c[n].type, conn.dialect.name) for n in names], strict=True))
        for part in (frame.iloc[i : i + BATCH_ROWS] for i in range(0, len(frame), BATCH_ROWS))
    )
    if conn.dialect.driver == "psycopg":
        with conn.connection.cursor() as cur, cur.copy(f"COPY {target} FROM STDIN") as copy:
            for rows in batches:
                for row in rows:
                    copy.write_row(row)
        return
    marks = ", ".join(_placeholder(conn.dialect.paramstyle, i) for i in range(len(names)))
    for rows in batches:
        conn.exec_driver_sql(f"INSERT INTO {target} VALUES ({marks})", rows)


def _placeholder(paramstyle: str, i: int) -> str:
    return {"qmark": "?", "format": "%s", "pyformat": "%s", "numeric": f":{i + 1}", "numeric_dollar": f"${i + 1}"}[
        paramstyle
    ]


def _driver_values(s: pd.Series, type_: sa.types.TypeEngine, dialect: str) -> np.ndarray:
    """One column as the driver takes it. SQLite keeps dates and timestamps as text in SQLAlchemy's
    format ('2024-01-01 09:00:00.000000', which Arrow's cast writes too), so reads and comparisons
    in SQL agree with rows SQLAlchemy wrote itself."""
    type_ = _base(type_)
    if isinstance(type_, sa.Date | sa.DateTime):
        unit = "datetime64[D]" if isinstance(type_, sa.Date) else "datetime64[us]"
        times = pd.to_datetime(s).to_numpy(dtype="datetime64[us]").astype(unit)
        if dialect == "sqlite":
            return pa.array(times).cast(pa.string()).to_numpy(zero_copy_only=False)
        return times.astype(object)
    return s.to_numpy(dtype=object, na_value=None)


def _fetch(conn: sa.Connection, stmt: sa.Select) -> Iterator[list[tuple]]:
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


def _arrow(conn: sa.Connection, stmt: sa.Select) -> pa.Table:
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


def _arrow_type(type_: sa.types.TypeEngine, dialect: str) -> pa.DataType:
    """Fixed per column, so every fetched chunk has the same schema (an all-NULL chunk included)."""
    type_ = _base(type_)
    if isinstance(type_, sa.Date | sa.DateTime):
        if dialect == "sqlite":
            return pa.string()  # SQLAlchemy's text form; parsed by _frame
        return pa.date32() if isinstance(type_, sa.Date) else pa.timestamp("us")
    return _ARROW_TYPES[type(type_)]


def _base(type_: sa.types.TypeEngine) -> sa.types.TypeEngine:
    """The stored type under a TypeDecorator (_Readable)."""
    return type_.impl_instance if isinstance(type_, sa.types.TypeDecorator) else type_


def _frame(conn: sa.Connection, stmt: sa.Select) -> pd.DataFrame:
    """A bulk read as a DataFrame: text as pandas strings, dates and timestamps as datetime64 (UTC)."""
    table = _arrow(conn, stmt)
    out = table.to_pandas()
    for c in stmt.selected_columns:
        if isinstance(_base(c.type), sa.Date | sa.DateTime):
            values = out[c.name]
            # an attribute stored unreadable (see _Readable) reads as missing, like a per-row read
            errors = "coerce" if isinstance(c.type, _Readable) else "raise"
            parsed = (
                pd.to_datetime(values, format="ISO8601", errors=errors)
                if conn.dialect.name == "sqlite"
                else pd.to_datetime(values, errors=errors)
            )
            out[c.name] = parsed.astype("datetime64[us]")
    return out


# -------------------------------------------------------------------------------------------- reads


def resolve(conn: sa.Connection, golden_id: str) -> str | None:
    """The live golden id for `golden_id`: itself, its survivor if retired, None if unknown or
    deleted (retired with no survivor)."""
    gid = golden_id
    for _ in range(100):  # redirects are kept one hop; the loop only guards against a hand-edited store
        if conn.scalar(sa.select(golden_records.c.golden_id).where(golden_records.c.golden_id == gid)):
            return gid
        gid = conn.scalar(sa.select(id_redirects.c.surviving_id).where(id_redirects.c.retired_id == gid))
        if gid is None:
            return None
    raise RuntimeError(f"id_redirects loop at {golden_id!r}")


def golden_by_id(conn: sa.Connection, golden_id: str, as_of: datetime | None = None) -> dict[str, Any] | None:
    """The golden record now, or as it was at `as_of` (valid_from <= as_of < valid_to). A retired id
    gives its survivor's record with `redirected_from` set to the asked id (None otherwise)."""
    if as_of is None:
        live = resolve(conn, golden_id)
        if live is None:
            return None
        row = conn.execute(sa.select(golden_records).where(golden_records.c.golden_id == live)).mappings().first()
        return _record(row, golden_id) if row else None
    t, gid, h, r = _utc_naive(as_of), golden_id, golden_history.c, id_redirects.c
    for _ in range(100):
        row = (
            conn.execute(
                sa.select(golden_history).where(
                    h.golden_id == gid, h.valid_from <= t, sa.or_(h.valid_to.is_(None), h.valid_to > t)
                )
            )
            .mappings()
            .first()
        )
        if row:
            return _record(row, golden_id)
        red = conn.execute(sa.select(r.retired_into, r.retired_at).where(r.retired_id == gid)).first()
        if red is None or red.retired_into is None or red.retired_at > t:
            return None
        gid = red.retired_into  # where it went at the time, not where that went later
    raise RuntimeError(f"id_redirects loop at {golden_id!r}")


def golden_by_source_key(conn: sa.Connection, source_system: str, source_key: str) -> dict[str, Any] | None:
    """The current golden record a source record belongs to."""
    c = xref.c
    gid = conn.scalar(sa.select(c.golden_id).where(c.source_system == source_system, c.source_key == source_key))
    return golden_by_id(conn, gid) if gid else None


def history(conn: sa.Connection, golden_id: str) -> list[dict[str, Any]]:
    """Every version of this id (not of its survivor), oldest first."""
    h = golden_history.c
    rows = conn.execute(sa.select(golden_history).where(h.golden_id == golden_id).order_by(h.version)).mappings()
    return [_record(row, golden_id) for row in rows]


def _record(row: Mapping[str, Any], asked: str) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in HASH_COLUMNS}
    for key in ("extra", "lineage"):
        out[key] = json.loads(out[key]) if out[key] else {}
    if "changed_fields" in out:  # history rows
        out["changed_fields"] = changed_fields(out)
    out["redirected_from"] = asked if out["golden_id"] != asked else None
    return out


def changed_fields(version: Mapping[str, Any]) -> list[str] | None:
    """The fields a golden_history row's version changed against the previous one. A first version
    changed every field it has a value for (attributes in model order, then extra attributes by name);
    a later one's were stored by its publish (None: published before migration 0006)."""
    if version["version"] > 1:
        stored = version["changed_fields"]
        return json.loads(stored) if stored is not None else None
    extra = version["extra"] if isinstance(version["extra"], dict) else json.loads(version["extra"] or "{}")
    return [a for a in ATTRIBUTES if version[a] is not None] + sorted(k for k, v in extra.items() if v is not None)


def current_golden(conn: sa.Connection, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """All live golden records (extra and lineage as JSON text); only `columns` if given: at a
    million records, reading golden_id and created_at is seconds faster than every column."""
    names = columns if columns is not None else [c.name for c in golden_records.c if c.name not in HASH_COLUMNS]
    return _frame(conn, sa.select(*[golden_records.c[n] for n in names]))


def current_xref(conn: sa.Connection) -> pd.DataFrame:
    return _frame(conn, sa.select(xref))


def current_redirects(conn: sa.Connection) -> pd.DataFrame:
    return _frame(conn, sa.select(id_redirects))


def published_model(conn: sa.Connection) -> PublishedModel | None:
    """The match model of the last publish that had one; None before."""
    row = conn.execute(sa.select(match_model)).first()
    if row is None:
        return None
    totals = json.loads(row.tf_totals)
    return PublishedModel(
        row.version, row.trained_at, row.records, row.model_json, totals, row.published_at, row.run_id
    )


def shared_values(conn: sa.Connection, values: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], int]:
    """(tf column, value) -> scored records holding it, for the given values that two or more share
    (primary-key lookups); a value left out is held by at most one record."""
    t = match_term_frequencies.c
    conds = [sa.and_(t.tf_column == col, t.value.in_(list(vals))) for col, vals in values.items() if len(vals)]
    if not conds:
        return {}
    rows = conn.execute(sa.select(t.tf_column, t.value, t.golden_records).where(sa.or_(*conds)))
    return {(r.tf_column, r.value): r.golden_records for r in rows}


# ---------------------------------------------------------------------------------------- overrides


def overrides(conn: sa.Connection, golden_id: str | None = None) -> pd.DataFrame:
    """Pinned values per live golden id (only `golden_id`'s when given): golden_id (live), pinned_on (the
    id the steward pinned, which differs after a merge), field, value, pinned_by, pinned_at. Pins of
    merged ids follow their survivor; when two collide on a field the latest pin wins."""
    o, r = overrides_table.c, id_redirects.c
    live = sa.func.coalesce(r.surviving_id, o.golden_id)
    stmt = sa.select(
        live.label("golden_id"), o.golden_id.label("pinned_on"), o.field, o.value, o.pinned_by, o.pinned_at
    ).select_from(overrides_table.outerjoin(id_redirects, r.retired_id == o.golden_id))
    if golden_id is None:
        frame = _frame(conn, stmt)
    else:  # a handful of rows, with a parameter: not a bulk read
        rows = conn.execute(stmt.where(live == golden_id)).all()
        frame = pd.DataFrame(rows, columns=[c.name for c in stmt.selected_columns])
    frame = frame.sort_values(["pinned_at", "pinned_on"], kind="stable")
    return frame.drop_duplicates(["golden_id", "field"], keep="last").reset_index(drop=True)


def pin(conn: sa.Connection, golden_id: str, field: str, value: Any, who: str) -> str:
    """Pin `field` of a golden record (a retired id pins its survivor) to `value` (stored as text;
    dates in ISO form); it wins survivorship until unpinned. Returns the live id pinned."""
    live = resolve(conn, golden_id)
    if live is None:
        raise KeyError(f"no golden record {golden_id!r}")
    if not field.isidentifier():
        raise ValueError(f"{field!r} is not a field name")
    _delete_pins(conn, live, field)
    text = value.isoformat() if isinstance(value, date | datetime) else (None if value is None else str(value))
    conn.execute(
        overrides_table.insert().values(golden_id=live, field=field, value=text, pinned_by=who, pinned_at=_now())
    )
    return live


def unpin(conn: sa.Connection, golden_id: str, field: str) -> bool:
    """Remove the pin of `field` (also one inherited from a merged id); False if there was none."""
    live = resolve(conn, golden_id)
    return bool(live) and _delete_pins(conn, live, field) > 0


def _delete_pins(conn: sa.Connection, live: str, field: str) -> int:
    o = overrides_table.c
    merged = sa.select(id_redirects.c.retired_id).where(id_redirects.c.surviving_id == live)
    done = conn.execute(
        overrides_table.delete().where(o.field == field, sa.or_(o.golden_id == live, o.golden_id.in_(merged)))
    )
    return done.rowcount


# --------------------------------------------------------------------------------- steward decisions


class ConflictingDecision(ValueError):
    """The decision would make the current ones contradict each other: "match" decisions chaining
    together two records a steward marked "not a match" (clustering could honour neither)."""


def record_id(source_system: str, source_key: str) -> str:
    return f"{source_system}:{source_key}"


def _split_record_id(rid: str) -> tuple[str, str]:
    system, sep, key = rid.partition(":")
    if not sep or not system or not key:
        raise ValueError(f"{rid!r} is not a record id ('source_system:source_key')")
    return system, key


def check_records(conn: sa.Connection, *ids: str) -> None:
    """ValueError naming the first record id that is not in the xref (published source records)."""
    c = xref.c
    for rid in ids:
        system, key = _split_record_id(rid)
        if conn.scalar(sa.select(c.golden_id).where(c.source_system == system, c.source_key == key)) is None:
            raise ValueError(f"no source record {rid!r} in the serving store (ids are 'source_system:source_key')")


def decide(
    conn: sa.Connection, id_l: str, id_r: str, decision: str, who: str, note: str | None = None
) -> dict[str, Any]:
    """Record a steward's decision about two source records ('match' | 'not_match'). It replaces the
    pair's current decision (which is kept, with superseded_at set) and takes the pair out of the
    review queue. Both ids must be in the xref; a decision contradicting the current ones (match
    decisions joining a not-a-match pair) raises ConflictingDecision. Call inside write_transaction."""
    return decide_many(conn, [(id_l, id_r, decision)], who, note)[0]


def decide_many(
    conn: sa.Connection, pairs: Sequence[tuple[str, str, str]], who: str, note: str | None = None
) -> list[dict[str, Any]]:
    """Several decisions (id_l, id_r, decision) as one: checked together against the current ones,
    so a split that replaces a 'match' by 'not a match' is not refused halfway. See decide."""
    batch: dict[tuple[str, str], str] = {}
    for a, b, decision in pairs:
        if decision not in DECISIONS:
            raise ValueError(f"decision {decision!r} is not one of {DECISIONS}")
        if a == b:
            raise ValueError(f"a decision needs two different records, got {a!r} twice")
        batch[tuple(sorted((a, b)))] = decision  # type: ignore[index]
    check_records(conn, *dict.fromkeys(i for pair in batch for i in pair))
    d = match_decisions.c
    current = conn.execute(sa.select(d.id_l, d.id_r, d.decision).where(d.superseded_at.is_(None))).all()
    kept = [(a, b, k) for a, b, k in current if (a, b) not in batch]
    _check_consistent([*kept, *((a, b, k) for (a, b), k in batch.items())])
    now, q, rows = _now(), review_queue.c, []
    for (id_l, id_r), decision in batch.items():
        pair = sa.and_(d.id_l == id_l, d.id_r == id_r, d.superseded_at.is_(None))
        conn.execute(match_decisions.update().where(pair).values(superseded_at=now))
        row = {
            "decision_id": uuid.uuid4().hex,
            "id_l": id_l,
            "id_r": id_r,
            "decision": decision,
            "decided_by": who,
            "decided_at": now,
            "note": note,
            "superseded_at": None,
        }
        conn.execute(match_decisions.insert().values(**row))
        conn.execute(review_queue.delete().where(q.id_l == id_l, q.id_r == id_r))
        rows.append(row)
    return rows


def members(conn: sa.Connection, golden_id: str) -> list[str]:
    """The record ids ('source_system:source_key') of a live golden record, sorted."""
    c = xref.c
    rows = conn.execute(sa.select(c.source_system, c.source_key).where(c.golden_id == golden_id)).all()
    return sorted(record_id(s, k) for s, k in rows)


def _check_consistent(rows: Sequence[tuple[str, str, str]]) -> None:
    parent: dict[str, str] = {}

    def root(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b, kind in rows:
        if kind == "match":
            parent[root(a)] = root(b)
    for a, b, kind in rows:
        if kind == "not_match" and root(a) == root(b):
            raise ConflictingDecision(
                f"{a!r} and {b!r} are marked 'not a match' but 'match' decisions join them: "
                "change one of those decisions first"
            )


def decisions(conn: sa.Connection) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The current decisions as (must_link, cannot_link) frames of id_l, id_r, for clustering."""
    d = match_decisions.c
    rows = conn.execute(sa.select(d.id_l, d.id_r, d.decision).where(d.superseded_at.is_(None))).all()
    frame = pd.DataFrame(rows, columns=["id_l", "id_r", "decision"]).astype("string")

    def pairs(kind: str) -> pd.DataFrame:
        return frame.loc[frame["decision"] == kind, ["id_l", "id_r"]].reset_index(drop=True)

    return pairs("match"), pairs("not_match")


def decisions_since(conn: sa.Connection, records: Sequence[str], since: datetime | None) -> list[dict[str, Any]]:
    """Current decisions touching `records` made after `since` (None: all): those no published run has
    applied yet."""
    d = match_decisions.c
    stmt = sa.select(match_decisions).where(sa.or_(d.id_l.in_(records), d.id_r.in_(records)), d.superseded_at.is_(None))
    if since is not None:
        stmt = stmt.where(d.decided_at > since)
    return [dict(r) for r in conn.execute(stmt.order_by(d.decided_at, d.decision_id)).mappings()]


def decision_history(conn: sa.Connection, id_l: str, id_r: str) -> list[dict[str, Any]]:
    """Every decision about the pair, oldest first (the current one has superseded_at None)."""
    id_l, id_r = sorted((id_l, id_r))
    d = match_decisions.c
    stmt = sa.select(match_decisions).where(d.id_l == id_l, d.id_r == id_r).order_by(d.decided_at, d.decision_id)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def review_page(
    conn: sa.Connection,
    min_probability: float = 0.0,
    max_probability: float = 1.0,
    source: str | None = None,
    descending: bool = True,
    limit: int = 20,
    offset: int = 0,
) -> tuple[int, list[sa.Row]]:
    """(total, rows) of the review queue in a probability band, optionally only pairs with a record of
    `source`. Ties in probability are ordered by the pair's ids, so pages are stable."""
    q = review_queue.c
    where = [q.match_probability >= min_probability, q.match_probability <= max_probability]
    if source is not None:
        where.append(sa.or_(q.source_system_l == source, q.source_system_r == source))
    prob = q.match_probability.desc() if descending else q.match_probability.asc()
    total = conn.scalar(sa.select(sa.func.count()).select_from(review_queue).where(*where))
    stmt = sa.select(review_queue).where(*where).order_by(prob, q.id_l, q.id_r).limit(limit).offset(offset)
    return total, conn.execute(stmt).all()


def _publish_review(conn: sa.Connection, run_id: str, review: pd.DataFrame) -> None:
    _check_columns("review", review, set(REVIEW_COLUMNS), set(REVIEW_COLUMNS))
    conn.execute(review_queue.delete())
    _insert_frame(conn, review_queue, review[REVIEW_COLUMNS].assign(run_id=run_id))
    q, d = review_queue.c, match_decisions.c
    decided = sa.select(d.decision_id).where(d.id_l == q.id_l, d.id_r == q.id_r, d.superseded_at.is_(None))
    conn.execute(review_queue.delete().where(decided.exists()))


# ------------------------------------------------------------------------------------------ write-back


def latest_run(conn: sa.Connection) -> dict[str, Any] | None:
    """The newest run in run_log whatever its status (run_id, status, started_at, finished_at, message)."""
    rl = run_log.c
    row = (
        conn.execute(
            sa.select(rl.run_id, rl.status, rl.started_at, rl.finished_at, rl.message)
            .order_by(rl.started_at.desc(), rl.run_id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


WRITEBACK_AUDIT_COLUMNS = ["source_key", "column", "fields", "old_value", "new_value"]


def record_writeback(engine: sa.Engine, run_id: str, source: str, audit: pd.DataFrame) -> int:
    """Append a write-back's old -> new audit (source_key, column, fields, old_value, new_value, as
    PushReport.changes gives it) for `source` under `run_id`, in one transaction; returns the rows written."""
    if audit.empty:
        return 0
    frame = _audit_frame(run_id, source, audit)
    with write_transaction(engine) as conn:
        _insert_frame(conn, writeback_audit_table, frame)
    return len(frame)


def _audit_frame(run_id: str, source: str, audit: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in WRITEBACK_AUDIT_COLUMNS if c not in audit.columns]
    if missing:
        raise ValueError(f"write-back audit: missing columns {missing}")
    frame = audit[WRITEBACK_AUDIT_COLUMNS].astype("string").reset_index(drop=True)
    if frame["source_key"].isna().any() or frame["column"].isna().any():
        raise ValueError("write-back audit: source_key and column are required on every row")
    frame.insert(0, "source_system", source)
    frame.insert(0, "run_id", run_id)
    frame["written_at"] = pd.Timestamp(_now())
    return frame


JOURNAL_COLUMNS = ["batch_id", "run_id", "source_system", "source_key", "state", "planned", "changes"]


def journal_open(engine: sa.Engine, entries: pd.DataFrame) -> None:
    """Record a write-back batch as 'pending' before its source transaction commits (entries: batch_id,
    run_id, source_system, source_key, planned, changes): committed here, so a kill at any later point
    leaves the record of what the source may now hold (connectors/journal.py)."""
    if entries.empty:
        return
    frame = entries[[c for c in JOURNAL_COLUMNS if c != "state"]].astype("string").reset_index(drop=True)
    frame["state"] = "pending"
    frame["created_at"] = pd.Timestamp(_now())
    with write_transaction(engine) as conn:
        _insert_frame(conn, writeback_journal, frame)


def journal_audited(engine: sa.Engine, batch_id: str, run_id: str, source: str, audit: pd.DataFrame) -> int:
    """The source committed the batch: its audit rows and the journal's 'audited' state, in one transaction,
    so the audit is written exactly once whether this runs after the push or in a later reconciliation."""
    frame = _audit_frame(run_id, source, audit) if len(audit) else None
    with write_transaction(engine) as conn:
        if frame is not None:
            _insert_frame(conn, writeback_audit_table, frame)
        j = writeback_journal.c
        conn.execute(writeback_journal.update().where(j.batch_id == batch_id).values(state="audited"))
    return 0 if frame is None else len(frame)


def journal_close(engine: sa.Engine, batch_id: str) -> None:
    """The batch is done (the workspace holds what it wrote) or never reached the source: forget it."""
    with write_transaction(engine) as conn:
        conn.execute(writeback_journal.delete().where(writeback_journal.c.batch_id == batch_id))


def journal_entries(conn: sa.Connection, source: str) -> pd.DataFrame:
    """The open journal rows of `source` (JOURNAL_COLUMNS), oldest batch first."""
    j = writeback_journal.c
    stmt = sa.select(*[j[c] for c in JOURNAL_COLUMNS]).where(j.source_system == source)
    frame = pd.DataFrame(conn.execute(stmt.order_by(j.created_at, j.batch_id)).all(), columns=JOURNAL_COLUMNS)
    return frame.astype("string")


def writeback_audit(conn: sa.Connection, run_id: str | None = None, source: str | None = None) -> pd.DataFrame:
    """Write-back audit rows, optionally of one run and/or one source, oldest first."""
    w = writeback_audit_table.c
    stmt = sa.select(writeback_audit_table)
    if run_id is not None:
        stmt = stmt.where(w.run_id == run_id)
    if source is not None:
        stmt = stmt.where(w.source_system == source)
    stmt = stmt.order_by(w.written_at, w.source_system, w.source_key, w.column)
    names = [c.name for c in writeback_audit_table.c]
    frame = pd.DataFrame(conn.execute(stmt).all(), columns=names)
    for c in names:
        frame[c] = frame[c].astype("datetime64[us]") if c == "written_at" else frame[c].astype("string")
    return frame
