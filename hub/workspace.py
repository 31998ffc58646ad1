"""The hub workspace: a DuckDB file holding staged canonical records, quarantine, field warnings and pull state.

Each source's pull is one DuckDB transaction, so a failed pull leaves the previous staged data
and cursor in place and a rerun repairs it.

`field_warnings` holds, per staged record and field, a value the hub could not read (or a date of birth outside
the plausible range), which the record holds as missing, or an updated-at in the future, which it keeps:
source_system, source_key, field, column, value (the first 40 characters), reason, source_version (of the row it
was read from), pulled_at. It always describes the staged records: a record's warnings are replaced whenever the
record is, so a record pulled again clean loses them, a full pull rebuilds the source's, and a record that leaves
staging (deleted at the source, quarantined for a shared key) takes its warnings with it.

Every pull also reconciles keys: `load_source_keys` takes the source's key set into a temporary table, against which
deleted keys (`drop_deleted`), keys the cursor missed (`missing_keys`) and keys shared up to case, accents and
spaces (`quarantine_shared_keys`) are found in SQL.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from hub.catalogue import CONNECTOR_STATE, FIELD_WARNINGS, QUARANTINE, STAGED, STAGED_COLUMNS, columns_sql
from hub.config import HubConfig
from hub.encryption import AtRestKey, connect_duckdb, key_for
from hub.errors import HubError
from hub.model import DUCKDB_TYPES, record_fields

SOURCE_KEYS = "_source_keys"  # temporary: the key set of the source being pulled
SHARED_KEYS = "_shared_keys"  # temporary: its groups of keys a database may take for one
SHARED_KEY_REASON = "shared by rows equal up to case, accents and surrounding spaces"


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> Any:
    """The single value of a query. Fetches the whole result: DuckDB refuses other work on a
    connection while a result is half read."""
    rows = con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()
    return rows[0][0] if rows else None


REPLACE_BY_DELETE = 10_000  # rows up to which replace_rows deletes and inserts rather than upserts or updates


def replace_rows(
    con: duckdb.DuckDBPyConnection, table: str, rows: str, keys: tuple[str, ...], new_keys: bool = True
) -> None:
    """The rows of the query `rows` (columns named as `table`'s; those it leaves out are NULL) into `table`, each
    replacing the row with its `keys` if there is one. The query runs before anything is written, so it may read
    `table` itself. `new_keys`: whether `rows` may hold keys `table` does not have yet (many rows are then upserted,
    which needs `keys` to be the table's primary key); without, every row replaces one, and many are updated.

    DuckDB's INSERT OR REPLACE and UPDATE cost 0.13-0.25 s whatever the number of rows on a table of a million rows
    with text columns (they update them in place), while DELETE + INSERT costs ~5-15 us a row: the few rows of an
    incremental write-back are deleted and inserted (0.015-0.03 s for 1,000), a first run's hundreds of thousands
    upserted or updated (DELETE + INSERT takes 1-8 s for 200,000 there, the upsert 0.5 s, the update 0.2 s)."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE _replace_rows AS {rows}")
    try:
        given = {r[0] for r in con.execute("SELECT column_name FROM (DESCRIBE _replace_rows)").fetchall()}
        columns = [r[0] for r in con.execute(f"SELECT column_name FROM (DESCRIBE {table})").fetchall()]
        value = {c: f"n.{c}" if c in given else "NULL" for c in columns}  # spelled out: BY NAME upserts keep the rest
        values = ", ".join(f"{v} AS {c}" for c, v in value.items())
        same = " AND ".join(f"{table}.{k} = n.{k}" for k in keys)
        if scalar(con, "SELECT count(*) FROM _replace_rows") <= REPLACE_BY_DELETE:
            con.execute(f"DELETE FROM {table} USING _replace_rows AS n WHERE {same}")
            con.execute(f"INSERT INTO {table} SELECT {values} FROM _replace_rows AS n")
        elif new_keys:
            con.execute(f"INSERT OR REPLACE INTO {table} SELECT {values} FROM _replace_rows AS n")
        else:
            # joined on every key column: with a constant filter on one instead, DuckDB 2.0 picks a plan that takes
            # seconds per thousand rows once nine or more columns are set
            sets = ", ".join(f"{c} = {v}" for c, v in value.items() if c not in keys)
            con.execute(f"UPDATE {table} SET {sets} FROM _replace_rows AS n WHERE {same}")
    finally:
        con.execute("DROP TABLE IF EXISTS _replace_rows")


def table_fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> str:
    """A stamp of a table's rows (their count and the sum of their hashes): equal stamps, the same multiset of rows,
    but for a 64-bit collision. Lets a step trust what it kept about a table only while nothing else wrote it."""
    rows = con.execute(f"SELECT count(*), coalesce(sum(hash(t)), 0) FROM {table} AS t").fetchall()
    return str(rows[0])


def _fold(column: str) -> str:
    """A key as a case- and accent-insensitive database compares it (staged keys carry no surrounding spaces)."""
    return f"lower(strip_accents({column}))"


class WorkspaceBusy(HubError):
    """Another job held the workspace for longer than this one would wait."""


@contextmanager
def exclusive(
    path: Path | str, holder: str, wait_seconds: float, progress: Callable[[str], None] | None = None
) -> Iterator[None]:
    """One job at a time on a workspace, for the job's whole length.

    DuckDB's own file lock is not enough: it refuses rather than waits, and a Dagster run opens the
    workspace again after a failed step (pipelines.resources), so another job (a steward's apply, a CLI
    command) could slip in between two assets and publish under the run's feet. This takes an exclusive
    flock on `<workspace>.lock`, waiting up to `wait_seconds` (saying who holds it), and writes `holder`
    into the file for the next waiter."""
    if str(path) == ":memory:":
        yield
        return
    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as fh:
        deadline, said = time.monotonic() + wait_seconds, 0.0
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                fh.seek(0)
                other = fh.read().strip() or "another process"
                if time.monotonic() >= deadline:
                    raise WorkspaceBusy(
                        f"workspace {path} is busy: {other} has held it for over {wait_seconds:.0f} s; "
                        "try again when it is done"
                    ) from None
                if progress and time.monotonic() - said >= 30:
                    progress(f"waiting for the workspace: {other} holds it")
                    said = time.monotonic()
                time.sleep(0.2)
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{holder} (pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
            fh.flush()
            yield
        finally:
            fh.seek(0)
            fh.truncate()
            fcntl.flock(fh, fcntl.LOCK_UN)


class Workspace:
    def __init__(self, path: Path | str, cfg: HubConfig | None = None, key: AtRestKey | None = None):
        """The workspace file at `path`, encrypted with `key` when given (hub.encryption opens it)."""
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.con = connect_duckdb(path, key)
        if cfg is not None and cfg.workspace_memory_limit:
            self.con.execute(f"SET memory_limit = '{cfg.workspace_memory_limit}'")
        self.fields = record_fields(cfg.attributes if cfg else None)
        self._ensure_schema()

    @classmethod
    def for_config(cls, cfg: HubConfig) -> Workspace:
        """The workspace hub.yaml names, with the key its `encryption:` block asks for."""
        return cls(cfg.workspace, cfg, key_for(cfg))

    def close(self) -> None:
        self.con.close()

    def has_table(self, name: str) -> bool:
        return bool(
            scalar(self.con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name])
        )

    def _ensure_schema(self) -> None:
        cols = [f"{f.name} {DUCKDB_TYPES[f.type]}" for f in self.fields]
        cols += [f"{c} {t}" for c, t in STAGED_COLUMNS.items()]
        self.con.execute(f"CREATE TABLE IF NOT EXISTS {STAGED} ({', '.join(cols)})")
        existing = {r[0] for r in self.con.execute(f"SELECT column_name FROM (DESCRIBE {STAGED})").fetchall()}
        for f in self.fields:  # extra attributes added to hub.yaml later
            if f.name not in existing:
                self.con.execute(f"ALTER TABLE {STAGED} ADD COLUMN {f.name} {DUCKDB_TYPES[f.type]}")
        for table in (QUARANTINE, FIELD_WARNINGS, CONNECTOR_STATE):
            self.con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns_sql(table)})")

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def get_state(self, source: str) -> dict[str, Any] | None:
        state = scalar(self.con, f"SELECT state FROM {CONNECTOR_STATE} WHERE source_system = ?", [source])
        return json.loads(state) if state else None

    def set_state(self, source: str, state: dict[str, Any]) -> None:
        self.con.execute(
            f"INSERT OR REPLACE INTO {CONNECTOR_STATE} VALUES (?, ?, now()::TIMESTAMP)", [source, json.dumps(state)]
        )

    def clear_source(self, source: str) -> None:
        for table in (STAGED, QUARANTINE, FIELD_WARNINGS):
            self.con.execute(f"DELETE FROM {table} WHERE source_system = ?", [source])

    def upsert(
        self, source: str, records: pd.DataFrame, quarantined: pd.DataFrame, warnings: pd.DataFrame, replace: bool
    ) -> None:
        """Write one chunk: staged records, quarantined rows and the staged records' field warnings. With
        `replace`, rows with the same keys (in any of the three tables) go first, so a row fixed in the source
        leaves quarantine (or loses its warnings) and a row that broke leaves staging."""
        # Registered views are replaced by name on the next chunk, so no cleanup on failure.
        self.con.register("_chunk_records", records)
        self.con.register("_chunk_quarantine", quarantined)
        self.con.register("_chunk_warnings", warnings)
        if replace:
            for table in (STAGED, QUARANTINE, FIELD_WARNINGS):
                self.con.execute(
                    f"""DELETE FROM {table} WHERE source_system = ? AND source_key IN (
                          SELECT source_key FROM _chunk_records
                          UNION ALL SELECT source_key FROM _chunk_quarantine WHERE source_key IS NOT NULL)""",
                    [source],
                )
        # BY NAME: columns a source does not map are stored as NULL.
        self.con.execute(f"INSERT INTO {STAGED} BY NAME SELECT * FROM _chunk_records")
        self.con.execute(
            f"""INSERT INTO {QUARANTINE} BY NAME
                SELECT source_system, source_key, reason, raw_row, pulled_at FROM _chunk_quarantine"""
        )
        self.con.execute(
            f"""INSERT INTO {FIELD_WARNINGS} BY NAME
                SELECT source_system, source_key, field, "column", value, reason, source_version, pulled_at
                FROM _chunk_warnings"""
        )

    def load_source_keys(self, chunks: Iterable[pd.Series]) -> None:
        """The source's key set (text, as staged) for this pull's reconciliation, and the groups of keys a database
        could take for one: equal when case, accents and surrounding spaces are ignored, or simply repeated."""
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {SOURCE_KEYS} (source_key VARCHAR)")
        for keys in chunks:
            self.con.register("_chunk_keys", pd.DataFrame({"source_key": keys.astype("string")}))
            self.con.execute(f"INSERT INTO {SOURCE_KEYS} SELECT source_key FROM _chunk_keys")
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {SHARED_KEYS} AS
                SELECT fold, count(*) AS rows, list(source_key ORDER BY source_key) AS keys
                FROM (SELECT {_fold("source_key")} AS fold, source_key FROM {SOURCE_KEYS} WHERE source_key IS NOT NULL)
                GROUP BY fold HAVING count(*) > 1"""
        )

    def drop_deleted(self, source: str) -> int:
        """Keys staged or quarantined that the source no longer has leave the workspace (with their field
        warnings), as a full pull would drop them; returns how many keys."""
        self.con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _gone AS SELECT DISTINCT w.source_key FROM (
                  SELECT source_key FROM {STAGED} WHERE source_system = $source
                  UNION ALL SELECT source_key FROM {QUARANTINE} WHERE source_system = $source) w
                WHERE w.source_key IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM {SOURCE_KEYS} k WHERE k.source_key = w.source_key)""",
            {"source": source},
        )
        for table in (STAGED, QUARANTINE, FIELD_WARNINGS):
            self.con.execute(
                f"DELETE FROM {table} WHERE source_system = ? AND source_key IN (SELECT source_key FROM _gone)",
                [source],
            )
        return int(scalar(self.con, "SELECT count(*) FROM _gone"))

    def missing_keys(self, source: str) -> list[str]:
        """Keys the source has that are neither staged nor quarantined: rows an incremental pull's cursor missed."""
        rows = self.con.execute(
            f"""SELECT DISTINCT k.source_key FROM {SOURCE_KEYS} k WHERE k.source_key IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM {STAGED} s
                                  WHERE s.source_system = $source AND s.source_key = k.source_key)
                  AND NOT EXISTS (SELECT 1 FROM {QUARANTINE} q
                                  WHERE q.source_system = $source AND q.source_key = k.source_key)
                ORDER BY 1""",
            {"source": source},
        ).fetchall()
        return [r[0] for r in rows]

    def unshared_keys(self, source: str) -> list[str]:
        """Keys quarantined for being shared whose group is gone from the source (its twin deleted or renamed):
        read again, they can be staged."""
        rows = self.con.execute(
            f"""SELECT DISTINCT q.source_key FROM {QUARANTINE} q
                WHERE q.source_system = $source AND contains(q.reason, '{SHARED_KEY_REASON}')
                  AND {_fold("q.source_key")} NOT IN (SELECT fold FROM {SHARED_KEYS})
                  AND q.source_key IN (SELECT source_key FROM {SOURCE_KEYS})
                ORDER BY 1""",
            {"source": source},
        ).fetchall()
        return [r[0] for r in rows]

    def unchanged_keys(self, source: str, records: pd.DataFrame) -> set[str]:
        """Of `records` (canonical, as a pull stages them), the keys staged with the same version and the same
        values: nothing to re-stage. Values count, not only the version, since a source may change a row without
        touching its updated-at."""
        self.con.register("_chunk_compare", records)
        same = " AND ".join(
            f'c."{col}" IS NOT DISTINCT FROM s."{col}"' for col in records.columns if col != "pulled_at"
        )
        rows = self.con.execute(
            f"""SELECT c.source_key FROM _chunk_compare c JOIN {STAGED} s
                  ON s.source_system = ? AND s.source_key = c.source_key WHERE {same}""",
            [source],
        ).fetchall()
        return {r[0] for r in rows}

    def quarantine_shared_keys(self, source: str, key_column: str) -> int:
        """Every staged row whose key the source shares with another row (load_source_keys) goes to quarantine,
        field warnings and all: an UPDATE by that key on a database that compares keys without case, accents or
        trailing spaces (MariaDB's utf8mb4_general_ci), or on a table without a unique key, changes every row of
        the group, so write-back must touch none of them. Returns how many rows moved."""
        shared = f"""SELECT s.rowid AS rid FROM {STAGED} s JOIN {SHARED_KEYS} g
                     ON {_fold("s.source_key")} = g.fold WHERE s.source_system = $source"""
        n = int(scalar(self.con, f"SELECT count(*) FROM ({shared})", {"source": source}))
        if n:
            listed = "array_to_string(list_transform(g.keys[1:5], lambda k: '''' || k || ''''), ', ')"
            self.con.execute(
                f"""INSERT INTO {QUARANTINE}
                    SELECT s.source_system, s.source_key,
                           'primary key (column ''' || $column || '''): {SHARED_KEY_REASON} ' || {listed}
                           || ' (' || g.rows || ' rows, which a database comparing keys so, such as MariaDB with '
                           || 'utf8mb4_general_ci, would update all at once)',
                           to_json(s)::VARCHAR, s.pulled_at
                    FROM {STAGED} s JOIN {SHARED_KEYS} g ON {_fold("s.source_key")} = g.fold
                    WHERE s.source_system = $source""",
                {"source": source, "column": key_column},
            )
            self.con.execute(
                f"""DELETE FROM {FIELD_WARNINGS} WHERE source_system = $source
                    AND {_fold("source_key")} IN (SELECT fold FROM {SHARED_KEYS})""",
                {"source": source},
            )
            self.con.execute(f"DELETE FROM {STAGED} WHERE rowid IN (SELECT rid FROM ({shared}))", {"source": source})
        return n

    def counts(self, source: str) -> tuple[int, int]:
        staged = scalar(self.con, f"SELECT count(*) FROM {STAGED} WHERE source_system = ?", [source])
        quarantined = scalar(self.con, f"SELECT count(*) FROM {QUARANTINE} WHERE source_system = ?", [source])
        return staged, quarantined

    def quarantine_reasons(self, source: str) -> pd.DataFrame:
        """Quarantined rows per problem (field and what was wrong, without the value), commonest first."""
        # "phone (column 'tel'): cannot parse 'n/a'" -> "phone (column 'tel'): cannot parse"; others as they are.
        problem = r"coalesce(nullif(regexp_extract(r, '^(.*?\): [^'']*?) ''', 1), ''), r)"
        return self.con.execute(
            f"""SELECT problem, count(*) AS rows FROM (
                  SELECT unnest(list_transform(string_split(reason, '; '), lambda r: {problem})) AS problem
                  FROM {QUARANTINE} WHERE source_system = ?)
                GROUP BY problem ORDER BY rows DESC, problem""",
            [source],
        ).df()

    def warned(self, source: str) -> int:
        """Staged records of `source` holding at least one field warning."""
        return int(
            scalar(
                self.con, f"SELECT count(DISTINCT source_key) FROM {FIELD_WARNINGS} WHERE source_system = ?", [source]
            )
        )

    def warning_counts(self, source: str) -> pd.DataFrame:
        """Staged records per field and reason read as missing (field, column, reason, records), commonest first."""
        return self.con.execute(
            f"""SELECT field, "column", reason, count(DISTINCT source_key) AS records FROM {FIELD_WARNINGS}
                WHERE source_system = ? GROUP BY ALL ORDER BY records DESC, field, reason""",
            [source],
        ).df()

    def staged(self, source: str) -> pd.DataFrame:
        return self.con.execute(f"SELECT * FROM {STAGED} WHERE source_system = ? ORDER BY source_key", [source]).df()

    def quarantined(self, source: str) -> pd.DataFrame:
        return self.con.execute(
            f"SELECT * FROM {QUARANTINE} WHERE source_system = ? ORDER BY source_key", [source]
        ).df()
