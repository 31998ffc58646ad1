"""Write-back throughput through the SQL connector: N rows x M text columns pushed into a fresh table on SQLite,
PostgreSQL and MariaDB in write-back's batches (connectors.writeback.BATCH_ROWS rows, one source transaction each),
exactly as write-back pushes (`Connector.push`: lock and re-read for the optimistic check, diff, audit, update).
Every row gets a new value in every column, so every row and value is written.

Prints per backend the median over the repeats of wall seconds, rows/s and values/s, with the CPU seconds of this
process and of the database server's side of the connection (the PostgreSQL backend process, the MariaDB
connection's thread; SQLite runs inside this process): on a shared machine CPU seconds are the figure to compare.

    python benchmarks/writeback_throughput.py                          # 100,000 rows x 4 columns, 3 repeats
    python benchmarks/writeback_throughput.py --rows 200000 --columns 6 --backends sqlite postgres
    python benchmarks/writeback_throughput.py --rows 1000 --profile    # where the time goes (cProfile, top 25)

PostgreSQL and MariaDB come from HUB_TEST_POSTGRES_URL / HUB_TEST_MARIADB_URL (the test suite's defaults
otherwise); each run creates a database of its own there and drops it after.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import psutil
import sqlalchemy as sa

from connectors import SqlConnector
from connectors.transforms import row_version
from connectors.writeback import BATCH_ROWS
from hub.config import HubConfig
from hub.store.bulk import insert_frame

SERVERS = {
    "postgres": os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("HUB_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
FIELDS = ["first_name", "last_name", "email", "city", "address_line1", "postal_code", "region", "address_line2"]
TABLE = "wb_bench_people"


@dataclass
class Run:
    wall: float
    client_cpu: float
    server_cpu: float | None
    updated: int
    values: int


@contextmanager
def database(backend: str, workdir: Path) -> Iterator[str]:
    """A fresh, empty database of this run's own: a SQLite file, or a database created on the server."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'source.db'}"
        return
    admin = sa.create_engine(SERVERS[backend], isolation_level="AUTOCOMMIT")
    name, quote = f"hub_bench_{uuid.uuid4().hex[:12]}", '"' if backend == "postgres" else "`"
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {quote}{name}{quote}")
    try:
        yield sa.make_url(SERVERS[backend]).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if backend == "postgres" else ""
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {quote}{name}{quote}{force}")
        admin.dispose()


def config(url: str, fields: list[str], workdir: Path) -> HubConfig:
    block = {
        "kind": "sql", "url": url, "table": TABLE, "primary_key": "id", "updated_at": "modified_at",
        "fields": {f: f for f in fields}, "accepts": fields,
    }  # fmt: skip
    return HubConfig.model_validate({"workspace": str(workdir / "ws.duckdb"), "sources": {"bench": block}})


def fill(engine: sa.Engine, rows: int, fields: list[str]) -> None:
    """The table afresh: `rows` people, every mapped column holding a value, plus one column never mapped."""
    table = sa.Table(
        TABLE,
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        *[sa.Column(f, sa.String(120)) for f in fields],
        sa.Column("notes", sa.String(60)),
        sa.Column("modified_at", sa.DateTime),
    )
    table.drop(engine, checkfirst=True)
    table.create(engine)
    ids = pd.RangeIndex(rows)
    frame = pd.DataFrame({"id": ids, **{f: [f"{f} {i}" for i in ids] for f in fields}, "notes": "kept"})
    frame["modified_at"] = pd.Timestamp("2024-01-01 09:00:00") + pd.to_timedelta(ids % 86_400, unit="s")
    with engine.begin() as conn:
        insert_frame(conn, table, frame)


def changes(connector: SqlConnector, fields: list[str]) -> pd.DataFrame:
    """Push input as write-back builds it: each row's key and version as a pull saw them, a new value per field."""
    raw = pd.concat(list(connector.read_chunks(None)), ignore_index=True)
    out = pd.DataFrame({"source_key": raw["id"].astype("string"), "expected_version": row_version(raw, connector.src)})
    for f in fields:
        out[f] = (raw[f] + " new").astype("string")
    return out


def server_thread(connector: SqlConnector) -> psutil.Process | None:
    """The OS process (PostgreSQL backend) or thread (MariaDB) serving the connection the connector's pool hands
    out next (the pool reuses its one idle connection); None for SQLite, which runs in this process."""
    backend = connector.engine.dialect.name
    if backend == "sqlite":
        return None
    with connector.engine.connect() as conn:
        if backend == "postgresql":
            return psutil.Process(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
        tid = conn.exec_driver_sql(
            "SELECT tid FROM information_schema.processlist WHERE id = CONNECTION_ID()"
        ).scalar_one()
    return psutil.Process(int(tid))  # Linux: a thread id reads like a process id in /proc


def cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    t = proc.cpu_times()
    return t.user + t.system


def push_all(connector: SqlConnector, todo: pd.DataFrame) -> tuple[int, int]:
    updated = values = 0
    for i in range(0, len(todo), BATCH_ROWS):
        report = connector.push(todo.iloc[i : i + BATCH_ROWS])
        updated, values = updated + report.count("updated"), values + len(report.changes)
    return updated, values


def run_once(backend: str, rows: int, fields: list[str], workdir: Path, profile: bool) -> Run:
    with database(backend, workdir) as url:
        engine = sa.create_engine(url)
        fill(engine, rows, fields)
        cfg = config(url, fields, workdir)
        connector = SqlConnector("bench", cfg.sources["bench"], cfg, engine=engine)
        todo = changes(connector, fields)
        server = server_thread(connector)
        me = psutil.Process()
        cpu0, server0, t0 = cpu(me), cpu(server), time.perf_counter()
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        updated, values = push_all(connector, todo)
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        wall = time.perf_counter() - t0
        run = Run(wall, cpu(me) - cpu0, None if server is None else cpu(server) - server0, updated, values)
        assert updated == rows and values == rows * len(fields), f"{backend}: {updated} rows, {values} values written"
        engine.dispose()
        return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--columns", type=int, default=4, choices=range(1, len(FIELDS) + 1))
    parser.add_argument("--repeats", type=int, default=3, help="runs per backend, interleaved across backends")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres", "mariadb"])
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the first run per backend")
    args = parser.parse_args()
    fields = FIELDS[: args.columns]
    runs: dict[str, list[Run]] = {b: [] for b in args.backends}
    with tempfile.TemporaryDirectory(prefix="hub-wb-bench-") as tmp:
        for repeat in range(args.repeats):
            for backend in args.backends:
                workdir = Path(tmp) / f"{backend}-{repeat}"
                workdir.mkdir()
                runs[backend].append(run_once(backend, args.rows, fields, workdir, args.profile and repeat == 0))
    print(f"\n{args.rows:,} rows x {len(fields)} columns, batches of {BATCH_ROWS:,}, median of {args.repeats} runs")
    print(f"{'backend':9}{'wall s':>9}{'rows/s':>10}{'values/s':>11}{'client CPU s':>14}{'server CPU s':>14}"
          f"{'rows/CPU s':>12}")  # fmt: skip
    for backend, done in runs.items():
        wall = statistics.median(r.wall for r in done)
        client = statistics.median(r.client_cpu for r in done)
        server = statistics.median(r.server_cpu or 0.0 for r in done)
        shown = "-" if done[0].server_cpu is None else f"{server:.2f}"
        print(f"{backend:9}{wall:>9.2f}{args.rows / wall:>10,.0f}{args.rows * len(fields) / wall:>11,.0f}"
              f"{client:>14.2f}{shown:>14}{args.rows / (client + server):>12,.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
