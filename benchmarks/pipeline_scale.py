"""The whole Dagster pipeline at scale: ~1M source records through `hub run`'s job (pull -> match ->
golden -> quality gate -> publish -> write-back), then an incremental run after 1% of the source
rows changed, a run with no changes, and the apply_decisions job after one steward decision (what
`hub serve` runs after each action). Prints per-asset seconds and peak memory (RSS sampled every
0.1 s, attributed to the step that was running).

    python benchmarks/pipeline_scale.py                     # demo of 460,000 people (~1.0M records)
    python benchmarks/pipeline_scale.py --customers 20000   # smaller
    python benchmarks/pipeline_scale.py --dir /tmp/demo     # an existing demo (its sources get written back to)
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import threading
import time
from pathlib import Path

import dagster as dg
import psutil

from connectors.demo import init_demo
from hub import store
from hub.config import load_config
from pipelines.build import APPLY_JOB
from pipelines.run import run_pipeline
from pipelines.sensors import PIPELINE_JOB

# Per demo source: a text column to touch and how to bump its updated-at column, in SQLite.
CHANGES = {
    "billing": ("billing_city", "modified_on = '2099-01-01 00:00:00'"),
    "web": ("city", "updated_at = '2099-01-01T00:00:00'"),
    "app": ("app_version", "last_modified_ms = 4070908800000"),
    "crm": ("MailingCity", "LastModifiedDate = '2099-01-01T00:00:00.000+0000'"),
}


class Sampler:
    """RSS of this process with timestamps, so each step's peak can be read off afterwards."""

    def __init__(self) -> None:
        self.proc, self.samples = psutil.Process(), []
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while True:
            self.samples.append((time.time(), self.proc.memory_info().rss))
            time.sleep(0.1)

    def peak(self, start: float, end: float) -> float:
        window = [rss for t, rss in self.samples if start <= t <= end]
        return max(window, default=0) / 2**30


def run(config: str, sampler: Sampler, label: str, job_name: str = PIPELINE_JOB) -> None:
    instance = dg.DagsterInstance.ephemeral()
    started = time.time()
    summary = run_pipeline(config, log_level="WARNING", instance=instance, job_name=job_name)
    total = time.time() - started
    steps: dict[str, list[float]] = {}
    for entry in instance.all_logs(summary.run_id):  # event log entries carry the timestamps
        e = entry.dagster_event
        if e and e.step_key and e.event_type_value in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
            steps.setdefault(e.step_key, []).append(entry.timestamp)
    print(f"\n== {label}: {'ok' if summary.success else 'FAILED ' + '; '.join(summary.errors)} in {total:.1f} s")
    print(f"{'step':36}{'seconds':>10}{'peak GiB':>10}")
    for step, times in steps.items():
        start, end = min(times), max(times)
        print(f"{step:36}{end - start:>10.1f}{sampler.peak(start, end):>10.2f}")
    print(f"{'total':36}{total:>10.1f}{sampler.peak(started, time.time()):>10.2f}")
    golden = summary.metadata.get("golden_records", {})
    print(f"golden records {golden.get('golden_records')}, published {summary.metadata.get('published_golden')}")
    for s in (s for s in summary.sources if f"raw_{s}" in summary.metadata):
        print(f"  {s}: pull {summary.metadata.get(f'raw_{s}', {}).get('mode')} "
              f"{summary.value(f'raw_{s}', 'rows_read')} rows; write-back "
              f"{summary.value(f'writeback_{s}', 'rows_updated')} rows, "
              f"{summary.value(f'writeback_{s}', 'values_changed')} values, "
              f"{summary.value(f'writeback_{s}', 'conflicts')} conflicts")  # fmt: skip


def change_one_percent(directory: Path) -> None:
    cfg = load_config(directory / "hub.yaml")
    for name, (column, bump) in CHANGES.items():
        src = cfg.sources[name]
        con = sqlite3.connect(directory / f"{name}.db")
        n = con.execute(
            f"""UPDATE {src.table} SET {column} = {column} || ' X', {bump}
                WHERE rowid IN (SELECT rowid FROM {src.table} WHERE abs(random()) % 100 = 0)"""
        ).rowcount
        con.commit()
        con.close()
        print(f"changed {n:,} rows of {name}")


def decide_first_queued_pair(config: str) -> None:
    """A steward's "match" on the strongest queued pair, as the API stores it."""
    with store.opened_for(load_config(config)) as engine, store.write_transaction(engine) as conn:
        _, rows = store.review_page(conn, 0.0, 1.0, None, limit=1)
        store.decide(conn, rows[0].id_l, rows[0].id_r, "match", "benchmark")
    print(f"decided: {rows[0].id_l} ~ {rows[0].id_r} is a match")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="existing demo directory")
    parser.add_argument("--customers", type=int, default=460_000, help="people to generate (460,000 = ~1M records)")
    args = parser.parse_args()
    sampler = Sampler()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="hub-pipeline-"))
    if args.dir is None:
        t = time.perf_counter()
        init_demo(directory, customers=args.customers, seed=5)
        print(f"generated demo of {args.customers:,} people in {time.perf_counter() - t:.1f} s at {directory}")
    config = str(directory / "hub.yaml")
    run(config, sampler, "full run (first: trains the model, mints every id, writes back everything)")
    change_one_percent(directory)
    run(config, sampler, "incremental run after 1% of source rows changed")
    run(config, sampler, "run with no changes")
    decide_first_queued_pair(config)
    run(config, sampler, "apply_decisions after one steward decision", APPLY_JOB)


if __name__ == "__main__":
    main()
