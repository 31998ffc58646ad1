"""`apply_decisions` (what `hub serve` runs after each steward action) on an existing demo that has had a pipeline
run: a steward's "match" on the strongest queued pair, then the job, REPEATS times; per run and step wall and CPU
seconds and peak memory (benchmarks/pipeline_scale.py's table), then the median of the runs' totals. The first run
after a code change (or with no published basis) builds in full: its figures are printed but left out of the median.

    python benchmarks/apply_decisions.py --dir /tmp/demo              # 3 decisions
    python benchmarks/apply_decisions.py --dir /tmp/demo --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

from pipeline_scale import Sampler, decide_first_queued_pair, run

from pipelines.build import APPLY_JOB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, required=True, help="a demo directory after `hub run`")
    parser.add_argument("--repeats", type=int, default=3, help="decisions, each applied by its own job run")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # progress as it goes, through a pipe too
    config, sampler = str(args.dir / "hub.yaml"), Sampler()
    timed = []
    for i in range(args.repeats):
        decide_first_queued_pair(config)
        done = run(config, sampler, f"apply_decisions {i + 1}", APPLY_JOB)
        if not done.summary.success:
            raise SystemExit(f"apply_decisions failed: {done.summary.errors}")
        if not done.summary.metadata.get("golden_records", {}).get("full_build"):
            timed.append((done.wall, done.cpu))
    if timed:
        wall, cpu = statistics.median(w for w, _ in timed), statistics.median(c for _, c in timed)
        print(f"\nmedian of {len(timed)} incremental apply_decisions runs: {wall:.1f} s wall, {cpu:.1f} CPU s")


if __name__ == "__main__":
    main()
