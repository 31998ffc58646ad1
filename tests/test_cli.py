"""The `hub` CLI end to end on a small demo: what a data engineer sees and the exit codes."""

from __future__ import annotations

import pandas as pd

from hub.cli import run_summary
from pipelines.entry import main
from pipelines.run import PipelineSummary


def test_demo_init_then_pull_prints_a_per_source_summary(tmp_path, capsys):
    demo = tmp_path / "demo"
    assert main(["demo", "init", "--dir", str(demo), "--customers", "300", "--seed", "3"]) == 0
    assert "ground truth" in capsys.readouterr().out

    assert main(["pull", "--config", str(demo / "hub.yaml")]) == 0
    out = capsys.readouterr().out
    truth = pd.read_csv(demo / "ground_truth.csv", dtype=str, keep_default_na=False)
    for source, rows in truth.groupby("source_system"):
        line = next(ln for ln in out.splitlines() if ln.startswith(source + " "))
        assert " full " in line and f"{len(rows):,}" in line
    assert "quarantined rows by problem" in out and "missing primary key" in out
    # An unparsable date or phone keeps its record: counted per source and field, with the values in the workspace.
    assert "staged records with a value read as missing, by field" in out
    warned = [ln for ln in out.splitlines() if "cannot parse" in ln and ln.split()[1] in ("phone", "date_of_birth")]
    expected = truth[truth.bad_reason.str.startswith("unparsable")]
    assert sum(int(ln.split()[-1]) for ln in warned) == len(expected)

    assert main(["pull", "--config", str(demo / "hub.yaml"), "--source", "crm"]) == 0
    assert " incremental " in capsys.readouterr().out


def test_unknown_source_and_existing_demo_are_clear_errors(tmp_path, capsys):
    demo = tmp_path / "demo"
    main(["demo", "init", "--dir", str(demo), "--customers", "50"])
    capsys.readouterr()
    assert main(["pull", "--config", str(demo / "hub.yaml"), "--source", "nope"]) == 2
    assert "no source named ['nope']" in capsys.readouterr().err
    assert main(["demo", "init", "--dir", str(demo), "--customers", "50"]) == 1
    assert "--force" in capsys.readouterr().err


def test_hub_run_summary_counts_records_with_field_warnings_per_source():
    raw = {"mode": "reconcile", "rows_read": 120, "rows_quarantined": 1, "rows_with_warnings": 7,
           "rows_future_stamped": 2, "rows_behind_cursor": 3, "rows_deleted": 4, "rows_erased_subject": 5,
           "staged_total": 119, "quarantined_total": 1, "warned_total": 9}  # fmt: skip
    text = run_summary(PipelineSummary("r1", True, ["crm"], {"raw_crm": raw}, []))
    head, _, line = text.splitlines()[2:5]
    assert "with warnings" in head and "warnings total" in head
    assert "future-stamped" in head and "behind cursor" in head and "deleted" in head and "erased subject" in head
    assert line.split() == ["crm", "reconcile", "120", "1", "7", "2", "3", "4", "5", "119", "1", "9"]
