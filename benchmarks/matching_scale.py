"""Matching at scale: the hub's standardize + predict + cluster against plain Splink's predict +
cluster on the same ~1M source records, both with models trained beforehand. Prints per-stage
seconds and peak memory (RSS of this process, sampled every 0.1 s).

    python benchmarks/matching_scale.py                     # demo of 460,000 people (~1.0M records)
    python benchmarks/matching_scale.py --dir /tmp/demo1m   # an existing demo directory
"""

from __future__ import annotations

import plain_splink
from measure import PeakMemory, demo_arguments, print_stages, pulled_demo

from hub.catalogue import STAGED
from matching.run import match, train


def main() -> None:
    mem, stages = PeakMemory(), {}
    cfg, ws = pulled_demo(demo_arguments(__doc__), mem, stages, "scale")
    records = ws.con.execute(f"SELECT count(*) FROM {STAGED}").fetchall()[0][0]

    with mem.stage("hub: train model", stages):
        train(ws, cfg)
    with mem.stage("hub: standardize + predict + cluster", stages):
        result = match(ws, cfg)
    for name, seconds in result.seconds.items():
        stages[f"  hub: {name}"] = (seconds, float("nan"))

    threshold = cfg.matching.auto_match_threshold
    lk = plain_splink.linker(ws)
    with mem.stage("baseline: train model", stages):
        model = plain_splink.train(lk)
    lk = plain_splink.linker(ws, model)
    with mem.stage("baseline: predict + cluster", stages):
        _, _, base_pairs = plain_splink.predict_and_cluster(lk, threshold)

    print(f"\n{records:,} source records; hub scored {result.pairs_scored:,} pairs >= review threshold "
          f"({result.auto_pairs:,} auto-merge), baseline kept {base_pairs:,} pairs >= {threshold}\n")  # fmt: skip
    print_stages(stages)
    hub_s = stages["hub: standardize + predict + cluster"][0]
    base_s = stages["baseline: predict + cluster"][0]
    peak = max(p for _, p in stages.values() if p == p)  # nan for sub-stages
    print(f"\nhub / baseline time: {hub_s / base_s:.2f}x   peak RSS over all stages: {peak:.2f} GiB")
    ws.close()


if __name__ == "__main__":
    main()
