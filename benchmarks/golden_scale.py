"""Golden records at scale: ~1M source records -> stable ids + survivorship + lineage -> publish to
the SQLite serving store, then the same run again on unchanged data (which must write no new
versions). Prints per-stage seconds and peak memory.

    python benchmarks/golden_scale.py                     # demo of 460,000 people (~1.0M records)
    python benchmarks/golden_scale.py --dir /tmp/demo     # an existing demo directory
"""

from __future__ import annotations

from measure import PeakMemory, demo_arguments, print_stages, pulled_demo

from golden_record.run import build_and_publish
from hub import store
from matching.run import match


def main() -> None:
    mem, stages = PeakMemory(), {}
    cfg, ws = pulled_demo(demo_arguments(__doc__), mem, stages, "golden")
    engine = store.open_for(cfg)
    with mem.stage("match (train + standardize + predict + cluster)", stages):
        matched = match(ws, cfg)

    runs = []
    for i, label in enumerate(("first publish", "unchanged data"), 1):
        with mem.stage(f"golden run {i} ({label})", stages):
            runs.append(build_and_publish(ws, cfg, engine))
        for step, seconds in runs[-1].seconds.items():
            stages[f"  run {i}: {step}"] = (seconds, float("nan"))

    print(f"\n{matched.records:,} source records -> {runs[0].golden_records:,} golden records\n")
    print_stages(stages)
    for i, r in enumerate(runs, 1):
        print(f"run {i}: {r.published}")
    print(f"serving store on disk: {cfg.workspace.with_name('serving.db').stat().st_size / 2**30:.2f} GiB")
    ws.close()
    engine.dispose()


if __name__ == "__main__":
    main()
