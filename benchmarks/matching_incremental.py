"""Incremental matching against a full rebuild on the same workspace: standardize + score + cluster with no changes,
after 1% of the staged records changed (edits, deletes and inserts), the same steps rebuilt in full, then clustering
after one steward decision. Prints seconds (wall and this process's CPU) per step and whether the incremental tables
equal the full ones.

    python benchmarks/matching_incremental.py                      # demo of 460,000 people (~1M records)
    python benchmarks/matching_incremental.py --customers 100000
    python benchmarks/matching_incremental.py --dir /tmp/demo      # an existing demo (pulled and matched if needed)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from connectors import pull_source
from connectors.demo import init_demo
from hub.catalogue import CLUSTERS, PAIRS, STAGED, STANDARDIZED
from hub.config import load_config
from hub.workspace import Workspace
from matching import models
from matching.run import cluster_records, current_model, score_pairs, standardize_records

T = TypeVar("T")


def timed(label: str, step: Callable[[], T]) -> T:
    cpu, wall = time.process_time(), time.perf_counter()
    out = step()
    print(f"{label:44}{time.perf_counter() - wall:>9.1f}{time.process_time() - cpu:>9.1f}  {out}", flush=True)
    return out


def change_one_percent(ws: Workspace) -> None:
    """Of every 100 staged records: one edited (a typo in the last name; every fifth a town in capitals, which
    standardizes the same), and one in 300 deleted and one in 300 copied under a new key (a duplicate person)."""
    con = ws.con
    con.execute(f"UPDATE {STAGED} SET last_name = last_name || 'e' WHERE hash(source_key) % 100 = 0")
    con.execute(f"UPDATE {STAGED} SET city = upper(city) WHERE hash(source_key) % 500 = 1")
    con.execute(f"DELETE FROM {STAGED} WHERE hash(source_key) % 300 = 2")
    con.execute(
        f"INSERT INTO {STAGED} SELECT * REPLACE (source_key || '-copy{time.time_ns()}' AS source_key) FROM {STAGED} "
        "WHERE hash(source_key) % 300 = 3"
    )


TABLES = (STANDARDIZED, PAIRS, CLUSTERS)


def snapshot(ws: Workspace, name: str) -> None:
    for table in TABLES:
        ws.con.execute(f"CREATE OR REPLACE TABLE _bench_{name}_{table} AS SELECT * FROM {table}")


def differing_rows(ws: Workspace, table: str) -> int:
    a, b = f"_bench_incremental_{table}", table
    only = "SELECT count(*) FROM (FROM {} EXCEPT ALL FROM {})"
    return ws.con.execute(f"SELECT ({only.format(a, b)}) + ({only.format(b, a)})").fetchall()[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, help="existing demo directory")
    parser.add_argument("--customers", type=int, default=460_000, help="people to generate (460,000 = ~1M records)")
    args = parser.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="hub-match-inc-"))
    if args.dir is None:
        timed("generate demo", lambda: init_demo(directory, customers=args.customers, seed=5))
    cfg = load_config(directory / "hub.yaml")
    ws = Workspace.for_config(cfg)
    print(f"{'step':44}{'wall s':>9}{'cpu s':>9}  result", flush=True)
    if not ws.has_table(STANDARDIZED):
        for name in cfg.sources:
            timed(f"pull {name}", lambda name=name: pull_source(cfg, name, ws).records)
    timed("standardize (as it stands)", lambda: standardize_records(ws))
    saved = timed("model", lambda: current_model(ws, cfg, progress=print)[0].version)
    model = models.load(ws.con, saved)
    assert model is not None
    timed("score (as it stands)", lambda: score_pairs(ws, cfg, model))
    timed("cluster (as it stands)", lambda: cluster_records(ws, cfg))
    timed("standardize, nothing changed", lambda: standardize_records(ws))
    timed("score, nothing changed", lambda: score_pairs(ws, cfg, model))
    timed("cluster, nothing changed", lambda: cluster_records(ws, cfg))
    change_one_percent(ws)
    timed("standardize after 1% changed", lambda: standardize_records(ws))
    timed("score after 1% changed", lambda: score_pairs(ws, cfg, model))
    timed("cluster after 1% changed", lambda: cluster_records(ws, cfg))
    snapshot(ws, "incremental")
    timed("standardize, full rebuild", lambda: standardize_records(ws, full=True))
    timed("score, full rebuild", lambda: score_pairs(ws, cfg, model, full=True))
    timed("cluster, full rebuild", lambda: cluster_records(ws, cfg, full=True))
    pair = ws.con.execute(f"SELECT unique_id_l, unique_id_r FROM {PAIRS} ORDER BY match_probability LIMIT 1").df()
    decided = pair.rename(columns={"unique_id_l": "id_l", "unique_id_r": "id_r"})
    timed("cluster after one steward 'match'", lambda: cluster_records(ws, cfg, must_link=decided))
    timed("cluster, full rebuild (with it)", lambda: cluster_records(ws, cfg, must_link=decided, full=True))
    for table in TABLES:
        print(f"{table}: {differing_rows(ws, table)} rows differ between the incremental and the full rebuild")
        ws.con.execute(f"DROP TABLE _bench_incremental_{table}")
    ws.close()


if __name__ == "__main__":
    main()
