"""Matching accuracy on the FEBRL data sets, through the user path: CSV file sources and a hub.yaml
(benchmarks/febrl_sources.py), the whole pipeline as `hub run` runs it (pipelines.run.run_pipeline),
and the xref the serving store publishes (what `hub export xref` writes), scored against FEBRL's
true links. `soc_sec_id` is dropped: a customer hub has no national id.

Prints per data set: whether the run succeeded (and the failure text if not); records, quarantined
records and why; pair / cluster / exact-cluster precision, recall and F1 (definitions in
benchmarks/linkage_metrics.py; a quarantined record counts as a cluster of its own, so the true
pairs it is in count as missed); golden records vs true people; the blocking ceiling and the
comparison count (benchmarks/blocking_ceiling.py); missed true pairs by cause with examples; seconds.

A failed run is reported as the figure it is (before issue 12 the hub failed at training on data
without an e-mail column).

    python benchmarks/febrl_accuracy.py                          # FEBRL1 and FEBRL2, one source each
    python benchmarks/febrl_accuracy.py --dataset febrl3 febrl4 --systems 3 --street joined
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import blocking_ceiling
import dagster as dg
import linkage_metrics as lm
import missed_pairs
import pandas as pd
from febrl_sources import DATASETS, FebrlSources, write_sources

from hub import store
from hub.catalogue import PAIRS, QUARANTINE, STANDARDIZED, record_id_sql, record_ids
from hub.config import load_config
from hub.workspace import Workspace
from matching import models
from pipelines.run import run_pipeline


@dataclass
class Outcome:
    label: str
    seconds: float
    success: bool
    errors: list[str] = field(default_factory=list)


def run(sources: FebrlSources, label: str) -> Outcome:
    """The whole pipeline once, as `hub run` does; any exception is the outcome, never the benchmark's end."""
    t = time.perf_counter()
    try:
        summary = run_pipeline(str(sources.config_path), log_level="CRITICAL", instance=_instance())
        return Outcome(label, time.perf_counter() - t, summary.success, summary.errors)
    except Exception as exc:  # the benchmark reports a crash as the figure it is
        return Outcome(label, time.perf_counter() - t, False, [f"{type(exc).__name__}: {exc}"])


def _instance() -> dg.DagsterInstance:
    return dg.DagsterInstance.ephemeral()


def score(sources: FebrlSources, outcome: Outcome) -> str:
    """Everything the run left behind, scored against the truth, as text."""
    cfg = load_config(sources.config_path)
    truth = sources.truth.assign(record_id=record_ids(sources.truth.source_system, sources.truth.source_key))
    out = [f"--- {outcome.label}: {'succeeded' if outcome.success else 'FAILED'} in {outcome.seconds:.1f} s"]
    for error in outcome.errors:
        out.append("    error: " + error.replace("\n", "\n           "))

    ws = Workspace.for_config(cfg)
    try:
        quarantine = ws.con.execute(f"SELECT {record_id_sql()} AS record_id, reason FROM {QUARANTINE}").df()
        out.append(f"records {len(truth):,}; quarantined {len(quarantine):,}")
        if len(quarantine):
            # Reasons end with the value that failed: group by the rest, show one value each.
            kind = quarantine.reason.str.replace(r"'[^']*'$", "", regex=True)
            reasons = quarantine.groupby(kind).reason.agg(["size", "first"]).sort_values("size", ascending=False)
            out += [f"  {n:>6,}  e.g. {example}" for n, example in reasons.head(5).itertuples(index=False)]
        xref = _xref(cfg.serving_store)
        true_pairs = lm.true_pairs(truth[["record_id", "person_id"]])
        people = truth.person_id.nunique()
        if xref.empty:
            out.append(f"no golden records published; true people {people:,}")
            labels = None
        else:
            labels = truth.merge(xref, on="record_id", how="left")
            labels["cluster_id"] = labels.golden_id.fillna("quarantined:" + labels.record_id)
            pairs = _auto_pairs(ws, cfg.matching.auto_match_threshold)
            clusters, exact = lm.cluster_scores(labels[["record_id", "cluster_id", "person_id"]])
            out += [lm.HEADER, lm.line("hub", None if pairs is None else lm.pair_scores(pairs, truth), clusters, exact)]
            out.append(
                f"golden records {xref.golden_id.nunique():,} vs true people {people:,} "
                f"({truth[~truth.record_id.isin(quarantine.record_id)].person_id.nunique():,} with a record not "
                f"quarantined); true pairs {len(true_pairs):,}"
            )
        if ws.has_table(STANDARDIZED):
            out += _blocking(ws, true_pairs, labels, cfg.matching.auto_match_threshold)
    finally:
        ws.close()
    return "\n".join(out)


def _xref(url: str) -> pd.DataFrame:
    try:
        with store.opened(url, read_only=True) as engine, engine.connect() as conn:
            xref = store.current_xref(conn)
    except Exception:  # nothing published yet: no store, or no tables
        return pd.DataFrame(columns=["record_id", "golden_id"])
    return pd.DataFrame({"record_id": record_ids(xref.source_system, xref.source_key), "golden_id": xref.golden_id})


def _auto_pairs(ws: Workspace, threshold: float) -> pd.DataFrame | None:
    if not ws.has_table(PAIRS):
        return None
    return ws.con.execute(
        f"SELECT unique_id_l AS id_l, unique_id_r AS id_r FROM {PAIRS} WHERE match_probability >= ?", [threshold]
    ).df()


def _blocking(ws: Workspace, true_pairs: pd.DataFrame, labels: pd.DataFrame | None, threshold: float) -> list[str]:
    saved = models.load(ws.con)
    if saved is None:
        return ["blocking: no model was trained, so nothing was compared"]
    model = saved.model
    rules, source = blocking_ceiling.rule_sqls(model)
    ws.con.register("_true_pairs", true_pairs)
    try:
        figures = blocking_ceiling.evaluate(ws.con, STANDARDIZED, "_true_pairs", rules, source)
        out = [blocking_ceiling.report(figures)]
        if labels is not None:
            ws.con.register("_labels", labels[["record_id", "cluster_id"]][~labels.cluster_id.str.startswith("quar")])
            scored = PAIRS if ws.has_table(PAIRS) else None
            missed = missed_pairs.classify(ws.con, STANDARDIZED, "_true_pairs", "_labels", rules, threshold, scored)
            out.append(missed_pairs.report(missed, missed_pairs.examples(ws.con, STANDARDIZED, missed, model)))
    finally:
        ws.con.unregister("_true_pairs")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", nargs="+", choices=DATASETS, default=["febrl1", "febrl2"])
    parser.add_argument(
        "--systems", type=int, choices=(1, 2, 3), default=1, help="split rows round-robin into N sources"
    )
    parser.add_argument(
        "--street",
        choices=("address_1", "joined"),
        default="address_1",
        help="address_line1 from address_1 alone (default), or street_number + address_1 joined in the CSV",
    )
    parser.add_argument("--dir", type=Path, help="where to write the sources and hub state (default: a temp dir)")
    args = parser.parse_args()

    base = args.dir or Path(tempfile.mkdtemp(prefix="hub-febrl-"))
    for dataset in args.dataset:
        print(f"\n=== {dataset} (no soc_sec_id), {args.systems} source(s), address_line1 from {args.street}; in {base}")
        sources = write_sources(dataset, base / dataset, args.systems, args.street)
        for note in sources.notes:
            print(f"  note: {note}")
        print(score(sources, run(sources, "user path (hub run)")))


if __name__ == "__main__":
    main()
