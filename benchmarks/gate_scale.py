"""The golden gate at 1M source records: a full gate against an incremental one (100 golden ids rebuilt over a basis
the gate passed and that was published), on a synthetic workspace of RECORDS staged records in GOLDEN golden records
(no Splink, no demo: the gate reads only staging, quarantine and the golden tables). CPU and wall seconds, medians.

    python benchmarks/gate_scale.py [--records 1000000] [--golden 460000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import expectations
from hub.catalogue import (
    GOLDEN_BUILD,
    GOLDEN_GATE,
    GOLDEN_MEMBERS,
    GOLDEN_REBUILT,
    GOLDEN_REDIRECTS,
    GOLDEN_VALUES,
    GOLDEN_XREF,
    STAGED,
    columns_sql,
    key_sql,
    record_id_sql,
)
from hub.workspace import Workspace

REBUILT = 100


def workspace(records: int, golden: int, changed: bool) -> Workspace:
    """RECORDS billing records, record k a member of golden id k % GOLDEN; `changed`: an incremental build of REBUILT
    golden ids over a basis the gate passed, published as run 'R1'."""
    ws = Workspace(":memory:")
    con = ws.con
    con.execute(
        f"""INSERT INTO {STAGED} (source_system, source_key, email, phone)
            SELECT 'billing', k::VARCHAR, 'p' || k || '@example.com', '+4479009' || lpad((k % 100000)::VARCHAR, 5, '0')
            FROM range({records}) AS r(k)"""
    )
    con.execute(
        f"""CREATE TABLE {GOLDEN_MEMBERS} AS SELECT {record_id_sql("'billing'", "k::VARCHAR")} AS record_id,
                   'G' || lpad((k % {golden})::VARCHAR, 8, '0') AS golden_id FROM range({records}) AS r(k)"""
    )
    con.execute(
        f"""CREATE TABLE {GOLDEN_VALUES} AS SELECT golden_id, 'p@example.com' AS email, '+447900900000' AS phone,
                   count(*) AS record_count FROM {GOLDEN_MEMBERS} GROUP BY golden_id"""
    )
    con.execute(f"CREATE TABLE {GOLDEN_REBUILT} AS SELECT golden_id FROM {GOLDEN_VALUES} ORDER BY 1 LIMIT {REBUILT}")
    con.execute(f"CREATE TABLE {GOLDEN_REDIRECTS} ({columns_sql(GOLDEN_REDIRECTS)})")
    con.execute(
        f"""CREATE TABLE {GOLDEN_XREF} AS SELECT 'billing' AS source_system, {key_sql("record_id")} AS source_key,
                   golden_id FROM {GOLDEN_MEMBERS}"""
    )
    con.execute(f"CREATE TABLE {GOLDEN_BUILD} ({columns_sql(GOLDEN_BUILD)})")
    con.execute(f"INSERT INTO {GOLDEN_BUILD} VALUES ('R1', '{{}}', false, now(), ?, {REBUILT})", [not changed])
    con.execute(f"CREATE TABLE {GOLDEN_GATE} ({columns_sql(GOLDEN_GATE)})")
    con.execute(f"INSERT INTO {GOLDEN_GATE} VALUES ('R0', now(), true, 'R1', '{{}}')")  # the basis passed
    return ws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--golden", type=int, default=460_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    for changed in (False, True):
        ws = workspace(args.records, args.golden, changed)
        expectations.check_golden(ws)  # GX imported, its context made
        cpu, wall = [], []
        for _ in range(args.repeats):
            c, w = time.process_time(), time.perf_counter()
            result = expectations.check_golden(ws)
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
        ws.close()
        label, seconds = "incremental" if changed else "full", statistics.median(wall)
        print(f"{label:12} {statistics.median(cpu):6.2f} CPU s {seconds:6.2f} s  {result.summary()}")
        print(f"{'':12} {result.validated:,} rows validated ({result.scope})")


if __name__ == "__main__":
    main()
