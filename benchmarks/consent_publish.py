"""A run's consent work at scale: the source consent values of N source records x 4 channels, as the build reads
what the hub last saw (hub.store.consent.source_choices) and diffs the run's values against it (changes_sql), and as
the publish stores the news as consent events (publish_source_events, with the consent state in the same
transaction). The first run (every choice new), then runs with `--changed` of the choices changed each: the event
log grows run after run, the state does not. Prints per run the events stored, wall and CPU seconds of the build's
read + diff and of the publish, and the store's size. CPU is this process's (SQLite runs in it).

    python benchmarks/consent_publish.py --records 100000 --runs 4
    python benchmarks/consent_publish.py --records 100000 --url postgresql+psycopg://postgres@127.0.0.1/empty_db
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from hub import store
from hub.config import ConsentConfig
from hub.encryption import scratch_duckdb

SYSTEMS = np.array(["billing", "web", "app", "crm"], dtype=object)
VALUES = np.array(["granted", "denied", "unknown"], dtype=object)
CHANNELS = ("email", "sms", "phone", "post")


def seen_frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """What a run sees: per source record and channel its consent value and time (a quarter of records per system,
    two records per golden record)."""
    keys = np.char.mod("%08d", np.arange(n)).astype(object)
    frame = pd.DataFrame(
        {
            "source_system": np.tile(SYSTEMS[np.arange(n) % 4], len(CHANNELS)),
            "source_key": np.tile(keys, len(CHANNELS)),
            "golden_id": np.tile(np.char.mod("G%08d", np.arange(n) // 2).astype(object), len(CHANNELS)),
            "channel": np.repeat(np.array(CHANNELS, dtype=object), n),
            "value": VALUES[rng.integers(0, 3, n * len(CHANNELS))],
        }
    )
    base = np.datetime64("2024-01-01T00:00:00")
    frame["recorded_at"] = base + rng.integers(0, 365 * 86400, len(frame)).astype("timedelta64[s]")
    return frame.assign(timed=False)


def change(seen: pd.DataFrame, share: float, rng: np.random.Generator, at: datetime) -> pd.DataFrame:
    """`share` of the choices changed to another value, made at `at`."""
    picked = rng.random(len(seen)) < share
    out = seen.copy()
    shift = rng.integers(1, 3, int(picked.sum()))
    codes = pd.Series(out.loc[picked, "value"]).map({"granted": 0, "denied": 1, "unknown": 2}).to_numpy()
    out.loc[picked, "value"] = VALUES[(codes + shift) % 3]
    out.loc[picked, "recorded_at"] = np.datetime64(at)
    return out


def one_run(engine: sa.Engine, seen: pd.DataFrame, rules: store.consent.Rules, run: int) -> dict[str, float]:
    """The build's read and diff, then the publish's write, timed."""
    t, c = time.perf_counter(), time.process_time()
    with engine.connect() as conn:
        last = store.consent.source_choices(conn, rules)
    db = scratch_duckdb()
    try:
        db.register("seen", seen)
        db.register("last", last.rename(columns={"source": "source_system"}))
        news = db.execute(store.consent.changes_sql("SELECT * FROM seen", "last")).df()
    finally:
        db.close()
    build = (time.perf_counter() - t, time.process_time() - c)
    t, c = time.perf_counter(), time.process_time()
    with store.write_transaction(engine) as conn:
        stored = store.consent.publish_source_events(conn, f"run{run}", datetime.now(), news, rules)
    publish = (time.perf_counter() - t, time.process_time() - c)
    return {"events": stored, "build_wall": build[0], "build_cpu": build[1], "publish_wall": publish[0],
            "publish_cpu": publish[1]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=4, help="the first run, then runs with --changed changed")
    parser.add_argument("--changed", type=float, default=0.01)
    parser.add_argument("--url", help="an empty serving store (default: a fresh SQLite file)")
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "serving.db"
        engine = store.open_store(args.url or f"sqlite:///{path}")
        rules = store.consent.Rules.of(ConsentConfig())
        seen = seen_frame(args.records, rng)
        print(f"{args.records:,} source records x {len(CHANNELS)} channels, {engine.dialect.name}")
        for run in range(1, args.runs + 1):
            if run > 1:
                seen = change(seen, args.changed, rng, datetime(2025, 1, 1) + timedelta(days=run))
            r = one_run(engine, seen, rules, run)
            size = f", store {path.stat().st_size / 2**20:.0f} MiB" if path.exists() else ""
            print(
                f"run {run}: {int(r['events']):,} events; build read + diff {r['build_wall']:.2f} s "
                f"(CPU {r['build_cpu']:.2f} s), publish {r['publish_wall']:.2f} s (CPU {r['publish_cpu']:.2f} s){size}"
            )
        engine.dispose()


if __name__ == "__main__":
    main()
