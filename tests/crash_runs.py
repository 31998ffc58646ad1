"""The crash tests' machinery: `hub run` in a subprocess, killed with SIGKILL at named points of pull, publish and
write-back (hub/faults.py), then run again until one finishes. The sources and the serving store must end as after one
uninterrupted run, and the audit must hold a row for every cell write-back changed.

Ids minted by a run killed before its publish committed are burnt (golden_record/run.py), so a rerun numbers its
golden records on: ids are compared by what they stand for (their smallest member record), everything else exactly.
One small demo (sources in SQLite, PostgreSQL or MariaDB); each run takes seconds, so the SQLite case
(tests/test_crash.py) and the server cases (tests/test_crash_servers.py) are two files the suite's workers share.

Each `hub run` is a process of its own, killed for real: forked from a server process that imported the pipeline's
modules once (tests/built_once.py `hub_process`), never from pytest's, which has threads running (its child could
deadlock). The demo comes with a model trained on its records (built once per session, tests/built_once.py), so no run
trains one.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from hub import faults, store
from hub.config import load_config
from hub.store import schema
from tests.built_once import demo_with_model, hub_process

CUSTOMERS = 60
KILLED = -9  # a subprocess's return code after SIGKILL


def hub_run(demo: Path, kill_at: str | None = None) -> subprocess.CompletedProcess:
    """`hub run` on `demo` in a process of its own, without $DAGSTER_HOME, killed at the fault point `kill_at`."""
    return hub_process(["run", "--config", str(demo / "hub.yaml"), "--log-level", "WARNING"], {faults.KILL_AT: kill_at})


def on_server(demo: Path, url: str) -> None:
    """Move the demo's source tables into the database at `url` (and the serving store, on PostgreSQL)."""
    cfg = load_config(demo / "hub.yaml")
    server = sa.create_engine(url)
    for src in cfg.sources.values():
        rows = pd.read_sql_table(src.table, sa.create_engine(src.url), dtype_backend="numpy_nullable")
        types = {c: sa.String(64) if c == src.primary_key else sa.Text() for c in rows if rows[c].dtype == "string"}
        rows.to_sql(src.table, server, index=False, dtype=types)
    server.dispose()
    raw = yaml.safe_load((demo / "hub.yaml").read_text())
    for block in raw["sources"].values():
        block["url"] = url
    if url.startswith("postgresql"):
        raw["serving_store"] = url
    (demo / "hub.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def state(demo: Path) -> dict:
    """Every source table (ids by what they stand for), the store's golden records and xref, and the audit."""
    cfg = load_config(demo / "hub.yaml")
    engine = store.open_store(cfg.serving_store)
    with engine.connect() as conn:
        xref = store.current_xref(conn)
        golden = store.current_golden(conn)
        audit = store.writeback_audit(conn)
        journal = conn.scalar(sa.select(sa.func.count()).select_from(schema.writeback_journal))
        runs = store.runs(conn)
    engine.dispose()
    xref["record"] = xref["source_system"] + ":" + xref["source_key"]
    label = xref.groupby("golden_id")["record"].min()
    named = lambda s: s.map(label).fillna(s).astype("string")  # noqa: E731
    sources = {}
    for name, src in cfg.sources.items():
        source = sa.create_engine(src.url)
        tables = {src.table: src.primary_key}
        if src.golden_id and src.golden_id.table:
            tables[src.golden_id.table] = "source_key"
        for table, key in tables.items():
            if not sa.inspect(source).has_table(table):  # the side table before the first write-back
                continue
            rows = pd.read_sql_table(table, source).drop(columns=["updated_at"] if table != src.table else [])
            rows = rows.astype("string").set_index(key).sort_index()
            gid = "golden_id" if table != src.table else (src.golden_id.column if src.golden_id else None)
            if gid:
                rows[gid] = named(rows[gid])
            sources[(name, table)] = rows
        source.dispose()
    golden["golden_id"] = named(golden["golden_id"])
    golden = golden.drop(columns=["run_id", "created_at", "updated_at"]).astype("string")
    ids = audit["fields"] == "golden_id"
    for c in ("old_value", "new_value"):
        audit.loc[ids, c] = named(audit.loc[ids, c])
    cells = audit[["source_system", "source_key", "column", "fields", "old_value", "new_value"]]
    return {
        "sources": sources,
        "golden": golden.sort_values("golden_id").reset_index(drop=True),
        "xref": xref.assign(golden_id=named(xref["golden_id"]))[["record", "golden_id", "link_type"]]
        .sort_values("record")
        .reset_index(drop=True),
        "audit": cells.sort_values(list(cells.columns)).reset_index(drop=True),
        "journal": journal,
        "runs": runs,
    }


def changed_cells(before: dict, after: dict) -> set[tuple[str, str, str]]:
    """(source, key, column) of every source cell that differs between two states; a side table's golden id
    is named '<table>.golden_id', as write-back audits it."""
    out = set()
    for (name, table), new in after["sources"].items():
        none = pd.DataFrame(index=new.index, columns=new.columns, dtype="string")  # a table write-back created
        old = before["sources"].get((name, table), none).reindex(new.index)
        for column in new.columns:
            differs = (old[column].fillna("\0") != new[column].fillna("\0")).to_numpy()
            label = f"{table}.golden_id" if new.index.name == "source_key" else column
            out |= {(name, str(k), label) for k in new.index[differs]}
    return out


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """The demo with its model trained and nothing else run."""
    return demo_with_model(tmp_path_factory, customers=CUSTOMERS, seed=5)


def copy_demo(pristine: Path, to: Path, url: str | None) -> Path:
    shutil.copytree(pristine, to)
    if url:
        on_server(to, url)
    return to


def crash_then_converge(pristine: Path, tmp_path: Path, url: str | None, points: list[str], other_url: str | None):
    """A demo run uninterrupted, and a copy run killed at each point in turn then run to the end: same result."""
    reference = copy_demo(pristine, tmp_path / "reference", other_url)
    crashed = copy_demo(pristine, tmp_path / "crashed", url)
    before = state(crashed)
    done = hub_run(reference)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for point in points:
        killed = hub_run(crashed, kill_at=point)
        assert killed.returncode == KILLED, f"{point} was never reached: {killed.stdout[-2000:]}{killed.stderr[-2000:]}"
    last = hub_run(crashed)
    assert last.returncode == 0, last.stdout[-3000:] + last.stderr[-3000:]

    want, got = state(reference), state(crashed)
    assert got["sources"].keys() == want["sources"].keys()
    for table, rows in want["sources"].items():
        pd.testing.assert_frame_equal(got["sources"][table], rows, obj=str(table))
    pd.testing.assert_frame_equal(got["golden"], want["golden"])
    pd.testing.assert_frame_equal(got["xref"], want["xref"])
    pd.testing.assert_frame_equal(got["audit"], want["audit"])  # no cell audited twice, none missing
    audited = set(zip(got["audit"]["source_system"], got["audit"]["source_key"], got["audit"]["column"], strict=True))
    changed = changed_cells(before, got)
    assert changed and changed == audited
    assert got["journal"] == 0
    assert "running" not in set(got["runs"]["status"])
    return got
