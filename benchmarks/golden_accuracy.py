"""Golden-record accuracy and write-back harm on the demo, against each person's true values (issue 11).

Builds a demo (its truth_values.csv holds every person's true current values), snapshots every source
table, runs the whole pipeline (`hub run`'s Dagster job) --runs times on unchanged sources, snapshotting
the sources and reading the serving store after each run, and prints:
- golden accuracy after run 1 per field: exact and ignoring case and whitespace, against the baselines
  "newest member value" and "most frequent exact value" and the oracle (some member holds the truth),
  all from the member records as pulled before any write-back;
- write-back cells of run 1 per source and column: improved / degraded / sideways / filled right /
  filled wrong, format-only rewrites, and format violations against each column's own convention
  (beside the violation rate among the untouched values, which checks the predicate);
- runs 2 and later: cells changed, new golden versions (lineage-only ones too) and change-feed events;
- a summary against the issue's targets.
Definitions: benchmarks/truth_keys.py (right / format-only), cell_changes.py (classes),
source_conventions.py (formats), golden_scoring.py (baselines). Nothing here is timed.

    python benchmarks/golden_accuracy.py                          # 5,000 people, seed 42, 3 runs
    python benchmarks/golden_accuracy.py --customers 20000 --json out.json
    python benchmarks/golden_accuracy.py --flavour international  # people from Ireland, Germany, France, Australia
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd
from cell_changes import CLASSES, SourceChanges, diff_source
from golden_scoring import FieldScore, score
from source_conventions import CONVENTIONS
from source_tables import SourceSnapshot, canonical, snapshot

from connectors.demo import init_demo
from connectors.demo.flavours import FLAVOURS
from hub import store
from hub.config import HubConfig, load_config
from pipelines.run import run_pipeline

DEGRADED_TARGET = 0.001  # degraded cells as a share of changed cells
ORACLE_TARGET = 0.99  # golden exact accuracy as a share of the oracle's
_RUN_FIGURES = ("run_id", "new_versions", "lineage_only_versions", "retired")
_STARTED = time.perf_counter()


def say(line: str) -> None:
    print(f"[{time.perf_counter() - _STARTED:7.1f} s] {line}", flush=True)


# ------------------------------------------------------------------------------------------ runs


def read_run(cfg: HubConfig) -> dict[str, Any]:
    """The serving store after a run: golden records, xref, and what the newest run published."""
    with store.opened_for(cfg) as engine, engine.connect() as conn:
        run = store.latest_run(conn)
        run_id = run["run_id"] if run else None
        golden = store.current_golden(conn)
        xref = store.current_xref(conn)
        history = store.all_versions(conn)
        redirects = store.current_redirects(conn)
        retired = (redirects["run_id"] == run_id).sum()
        runs = store.runs(conn)
    new = history[history["run_id"] == run_id]
    return {
        "run_id": run_id,
        "status": run["status"] if run else None,
        "runs_logged": len(runs),
        "golden": golden,
        "xref": xref,
        "new_versions": len(new),
        "lineage_only_versions": _lineage_only(history, new),
        "retired": int(retired),
    }


def _lineage_only(history: pd.DataFrame, new: pd.DataFrame) -> int:
    """New versions whose values equal the previous version's: only lineage changed."""
    prev = history.assign(version=history["version"] + 1)
    both = new.merge(prev, on=["golden_id", "version"], suffixes=("", "_prev"))
    if both.empty:
        return 0
    same = pd.Series(True, index=both.index)
    for c in store.VALUE_COLUMNS:
        a, b = both[c].astype("string"), both[f"{c}_prev"].astype("string")
        same &= (a == b).fillna(False) | (a.isna() & b.isna())
    return int(same.sum())


# ---------------------------------------------------------------------------------------- printing


def pct(n: int | float, d: int | float) -> str:
    return f"{100 * n / d:6.1f}%" if d else "      -"


def print_golden(scores: list[FieldScore], golden_records: int) -> None:
    print(f"\n== golden accuracy after run 1 ({golden_records:,} golden records; % of those whose person has a value)")
    head = ("field", "counted", "exact", "loose", "blank", "newest", "frequent", "oracle", "gold/orc", "spurious")
    print(f"{head[0]:18}{head[1]:>8}" + "".join(f"{h:>9}" for h in head[2:]))
    for s in scores:
        ratio = f"{s.exact / s.oracle:8.3f}" if s.oracle else "       -"
        cells = [
            pct(s.exact, s.counted),
            pct(s.loose, s.counted),
            pct(s.blank, s.counted),
            pct(s.newest, s.counted),
            pct(s.most_frequent, s.counted),
            pct(s.oracle, s.counted),
        ]
        print(f"{s.field:18}{s.counted:>8,}" + "".join(f"{c:>9}" for c in cells) + f"{ratio:>9}{s.spurious:>9,}")
    print("exact: golden == truth; loose: ignoring case and whitespace; newest / frequent: baselines from the")
    print("member records as pulled; oracle: some member holds the truth exactly; spurious: golden value, no truth")


_SHORT = {
    "filled_right": "fill R",
    "filled_wrong": "fill W",
    "improved": "improved",
    "degraded": "degraded",
    "sideways": "sideways",
    "right_to_right": "R->R",
    "blanked": "blanked",
}


def print_cells(changes: list[SourceChanges], title: str, only_changed: bool = False) -> None:
    print(f"\n== {title}")
    classes = "".join(f"{_SHORT[c]:>9}" for c in CLASSES)
    print(f"{'source.column [part]':36}{'changed':>8}{classes}{'fmt-only':>9}")
    for sc in changes:
        for row in sc.columns:
            if only_changed and not row.changed:
                continue
            name = f"{sc.source}.{row.column}" + (f" [{row.part}]" if row.part else "")
            name = ("  " if row.part else "") + name
            counts = "".join(f"{row.classes[c]:>9,}" if row.has_truth else f"{'-':>9}" for c in CLASSES)
            print(f"{name[:36]:36}{row.changed:>8,}{counts}{row.format_only:>9,}")
    for sc in changes:
        extra = f", {sc.rows_added_or_removed} rows added/removed" if sc.rows_added_or_removed else ""
        print(
            f"{sc.source}: golden ids written {sc.golden_ids_written:,}; cells changed outside the written "
            f"columns {sc.other_changed:,}{extra}"
        )


def print_formats(changes: list[SourceChanges]) -> None:
    print("\n== format violations of run 1: written (changed, non-blank) values breaking the column's convention,")
    print("   beside the rate among the untouched values (the generator's noise: a check of each predicate)")
    print(f"{'source.column':30}{'convention':46}{'written':>8}{'violate':>8}{'rate':>8}{'untouched':>10}{'rate':>8}")
    for sc in changes:
        for row in sc.columns:
            if row.part:
                continue
            conv = CONVENTIONS.get((sc.source, row.column))
            if conv is None:
                continue
            print(
                f"{sc.source + '.' + row.column:30}{conv.rule[:45]:46}{row.written:>8,}{row.violations or 0:>8,}"
                f"{pct(row.violations or 0, row.written):>8}{row.untouched:>10,}"
                f"{pct(row.untouched_violations or 0, row.untouched):>8}"
            )


def print_examples(changes: list[SourceChanges], per_column: int = 2) -> None:
    print("\n== examples of run 1 (before -> after; truth)")
    seen: dict[tuple[str, str, str], int] = {}
    for sc in changes:
        for e in sc.examples:
            k = (e["source"], e["column"], e["class"])
            if seen.get(k, 0) >= per_column:
                continue
            seen[k] = seen.get(k, 0) + 1
            truth = f"; truth {e['truth']}" if e.get("truth") else ""
            print(f"{e['class']:16} {e['source']}.{e['column']:20} {e['before'] or '(blank)'} -> {e['after']}{truth}")


# ---------------------------------------------------------------------------------------- summary


def totals(changes: list[SourceChanges]) -> dict[str, int]:
    """Whole-column rows with a truth (parts are a breakdown of their column)."""
    out = dict.fromkeys([*CLASSES, "changed", "format_only", "violations", "no_truth_changed", "golden_ids"], 0)
    for sc in changes:
        out["golden_ids"] += sc.golden_ids_written
        for row in sc.columns:
            if row.part:
                continue
            out["violations"] += row.violations or 0
            out["format_only"] += row.format_only
            if not row.has_truth:
                out["no_truth_changed"] += row.changed
                continue
            out["changed"] += row.changed
            for c in CLASSES:
                out[c] += row.classes[c]
    return out


def filled_per_field(changes: list[SourceChanges]) -> dict[str, tuple[int, int]]:
    out: dict[str, tuple[int, int]] = {}
    for sc in changes:
        for row in sc.columns:
            if not row.has_truth or (row.part is None and len(row.fields) > 1):
                continue
            f = row.fields[0]
            right, wrong = out.get(f, (0, 0))
            out[f] = (right + row.classes["filled_right"], wrong + row.classes["filled_wrong"])
    return out


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_summary(
    args: argparse.Namespace,
    first: dict[str, int],
    scores: list[FieldScore],
    later: list[tuple[int, dict[str, Any], dict[str, int]]],
    filled: dict[str, tuple[int, int]],
    records: int,
    golden: int,
) -> dict[str, Any]:
    print(
        f"\n== SUMMARY: issue 11 targets ({args.customers:,} people, seed {args.seed}, {records:,} source records, "
        f"{golden:,} golden records)"
    )
    changed = first["changed"]
    degraded_share = first["degraded"] / changed if changed else 0.0
    print(
        f"run 1 write-back: {changed:,} cells changed in columns with a truth (+{first['no_truth_changed']:,} "
        f"without one, +{first['golden_ids']:,} golden ids)"
    )
    print(
        f"  improved {first['improved']:,}, filled right {first['filled_right']:,}, filled wrong "
        f"{first['filled_wrong']:,}, sideways {first['sideways']:,}, right->right {first['right_to_right']:,}, "
        f"blanked {first['blanked']:,}"
    )
    print(
        f"  degraded cells          {first['degraded']:>7,} = {100 * degraded_share:.2f}% of changed   "
        f"target <= {100 * DEGRADED_TARGET:.1f}%  {verdict(degraded_share <= DEGRADED_TARGET)}"
    )
    print(
        f"  case/format-only        {first['format_only']:>7,}                        target 0       "
        f"{verdict(first['format_only'] == 0)}"
    )
    print(
        f"  format violations       {first['violations']:>7,}                        target 0       "
        f"{verdict(first['violations'] == 0)}"
    )
    print("golden exact accuracy (target >= 99% of oracle and >= the best baseline):")
    print(f"  {'field':18}{'exact':>8}{'oracle':>8}{'ratio':>8}{'best base':>10}  verdict")
    field_verdicts = {}
    for s in scores:
        if not s.counted:
            continue
        exact, oracle, base = s.rate(s.exact), s.rate(s.oracle), max(s.rate(s.newest), s.rate(s.most_frequent))
        ratio = exact / oracle if oracle else float("nan")
        ok = (not oracle or ratio >= ORACLE_TARGET) and exact >= base
        field_verdicts[s.field] = ok
        print(f"  {s.field:18}{100 * exact:>7.1f}%{100 * oracle:>7.1f}%{ratio:>8.3f}{100 * base:>9.1f}%  {verdict(ok)}")
    print("later runs on unchanged sources (target: 0 new versions, 0 cells written):")
    for k, run, t in later:
        cells = t["changed"] + t["no_truth_changed"]
        events = run["new_versions"] + run["retired"]
        print(
            f"  run {k}: {run['new_versions']:,} new versions ({run['lineage_only_versions']:,} lineage-only), "
            f"{events:,} change events, {cells:,} cells written (+{t['golden_ids']:,} golden ids), "
            f"{t['format_only']:,} format-only, {t['degraded']:,} degraded  "
            f"{verdict(run['new_versions'] == 0 and cells == 0)}"
        )
    print("blanks filled by run 1 (right / wrong): " + ", ".join(f"{f} {r:,}/{w:,}" for f, (r, w) in filled.items()))
    return {
        "degraded_share": degraded_share,
        "field_ok": field_verdicts,
        "run1": first,
        "later": [{"run": k, **{x: r[x] for x in _RUN_FIGURES}, **t} for k, r, t in later],
        "filled": filled,
    }


# ------------------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--flavour", choices=tuple(FLAVOURS), default="default", help="demo flavour to generate")
    parser.add_argument("--runs", type=int, default=3, help="pipeline runs on unchanged sources (at least 1)")
    parser.add_argument("--dir", type=Path, help="where to build the demo (replaced if present; default a temp dir)")
    parser.add_argument("--json", type=Path, help="also write every figure to this JSON file")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    directory = args.dir or Path(tempfile.mkdtemp(prefix="hub-golden-accuracy-"))
    demo = init_demo(directory, customers=args.customers, seed=args.seed, force=True, flavour=args.flavour)
    config = str(demo.config_path)
    cfg = load_config(config)
    ground_truth = pd.read_csv(demo.ground_truth_path, dtype=str, keep_default_na=False).astype({"person_id": int})
    truth = pd.read_csv(demo.truth_values_path, dtype=str, keep_default_na=False).replace("", pd.NA)
    truth = truth.astype({"person_id": int}).set_index("person_id")
    say(f"demo in {directory}: {args.customers:,} people, {len(ground_truth):,} source records")

    snaps: list[dict[str, SourceSnapshot]] = [snapshot(cfg)]
    runs: list[dict[str, Any]] = []
    for k in range(1, args.runs + 1):
        started = time.perf_counter()
        summary = run_pipeline(config, log_level="WARNING", instance=dg.DagsterInstance.ephemeral())
        if not summary.success or summary.blocked:
            say(f"run {k} failed or was blocked: {'; '.join(summary.errors) or 'a blocking check failed'}")
            sys.exit(1)
        snaps.append(snapshot(cfg))
        runs.append(read_run(cfg))
        say(
            f"run {k}: {time.perf_counter() - started:.1f} s, {len(runs[-1]['golden']):,} golden records, "
            f"{runs[-1]['new_versions']:,} new versions"
        )

    members = pd.concat(
        [canonical(cfg, s, snaps[0][s].rows).reset_index(drop=True) for s in cfg.sources], ignore_index=True
    )
    scores = score(runs[0]["golden"], runs[0]["xref"], members, ground_truth, truth.reset_index())
    say("golden records scored")

    keyed = ground_truth[ground_truth["source_key"] != ""]  # rows without a key cannot be written
    person = {s: rows.set_index("source_key")["person_id"] for s, rows in keyed.groupby("source_system", sort=False)}
    changes = []
    for k in range(1, args.runs + 1):
        changes.append([diff_source(cfg, s, snaps[k - 1][s], snaps[k][s], person[s], truth) for s in cfg.sources])
        say(f"run {k}: source cells judged")

    print_golden(scores, len(runs[0]["golden"]))
    print_cells(changes[0], "write-back cells of run 1 (before the run -> after it)")
    print_formats(changes[0])
    later = []
    for k in range(2, args.runs + 1):
        run = runs[k - 1]
        print_cells(changes[k - 1], f"run {k} on unchanged sources: changed cells", only_changed=True)
        versions, events = run["new_versions"], run["new_versions"] + run["retired"]
        print(
            f"run {k}: {versions:,} new golden versions ({run['lineage_only_versions']:,} lineage-only), "
            f"{run['retired']:,} retirements, {events:,} change-feed events"
        )
        later.append((k, run, totals(changes[k - 1])))
    print_examples(changes[0])
    result = print_summary(
        args, totals(changes[0]), scores, later, filled_per_field(changes[0]), len(ground_truth), len(runs[0]["golden"])
    )
    if args.json:
        doc = {
            "customers": args.customers,
            "seed": args.seed,
            "runs": args.runs,
            "golden": [asdict(s) for s in scores],
            "cells": [[asdict(sc) for sc in run] for run in changes],
            "summary": result,
        }
        args.json.write_text(json.dumps(doc, indent=1, default=str))
        say(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
