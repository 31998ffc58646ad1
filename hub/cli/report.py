"""What the commands print: aligned tables, progress lines and the end-of-run report."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from hub.runs import RunSummary


def progress(line: str) -> None:
    """One line of progress, on stderr (stdout is the report)."""
    print(f"  .. {line}", file=sys.stderr, flush=True)


def table(headers: list[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[f"{v:,}" if isinstance(v, int) else str(v) for v in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    fmt = lambda r: "  ".join(v.rjust(w) if i else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths, strict=True)))  # noqa: E731
    return "\n".join([fmt(headers), fmt(["-" * w for w in widths]), *(fmt(r) for r in cells)])


def run_summary(r: RunSummary) -> str:
    """The end-of-run report of `hub run` and `make demo`."""
    lines = [f"pipeline run {r.run_id}: {status(r)}", ""]
    if r.dry_run:
        lines += [
            "DRY RUN: nothing was written anywhere but the workspace: no publish, no run-log row, no ids minted, "
            "nothing written back. Below is what a real run would do.",
            "",
        ]
    pulls = [
        [s, r.value(f"raw_{s}", "mode", "-"), r.value(f"raw_{s}", "rows_read", 0),
         r.value(f"raw_{s}", "rows_quarantined", 0), r.value(f"raw_{s}", "rows_with_warnings", 0),
         r.value(f"raw_{s}", "rows_future_stamped", 0), r.value(f"raw_{s}", "rows_behind_cursor", 0),
         r.value(f"raw_{s}", "rows_deleted", 0), r.value(f"raw_{s}", "rows_erased_subject", 0),
         r.value(f"raw_{s}", "staged_total", 0),
         r.value(f"raw_{s}", "quarantined_total", 0), r.value(f"raw_{s}", "warned_total", 0)]
        for s in r.sources
    ]  # fmt: skip
    heads = ["source", "pull", "read", "quarantined", "with warnings", "future-stamped", "behind cursor", "deleted",
             "erased subject", "staged total", "quarantined total", "warnings total"]  # fmt: skip
    lines += [table(heads, pulls), ""]
    lines += [golden_table(r), ""]
    writes = [
        [s, r.value(f"writeback_{s}", "rows_planned", "-"), r.value(f"writeback_{s}", "rows_updated", "-"),
         r.value(f"writeback_{s}", "values_changed", "-"), r.value(f"writeback_{s}", "conflicts", "-"),
         r.value(f"writeback_{s}", "ambiguous", "-"), r.value(f"writeback_{s}", "address_kept", "-"),
         r.value(f"writeback_{s}", "conflicted", "-"), r.value(f"writeback_{s}", "recovered", "-")]
        for s in r.sources
    ]  # fmt: skip
    dry = any(r.value(f"writeback_{s}", "dry_run") for s in r.sources)
    lines.append(f"write-back{' (DRY RUN: nothing written)' if dry else ''}:")
    heads = ["source", "rows planned", "rows updated", "values written", "conflicts skipped", "ambiguous key",
             "own address kept", "two people?", "recovered"]  # fmt: skip
    lines += [table(heads, writes), ""]
    for s in r.sources:
        if r.value(f"writeback_{s}", "ambiguous"):
            lines += [f"{s}: {r.value(f'writeback_{s}', 'ambiguous'):,} rows not written, their key matches several "
                      "source rows (batch rolled back or duplicate key)", ""]  # fmt: skip
    if dry:  # counts only: Dagster keeps metadata, and metadata never holds a person's values
        for s in r.sources:
            by_column = r.value(f"writeback_{s}", "values_by_column")
            lines += [f"{s}: values that would be written, by column (`hub writeback --dry-run` shows them)",
                      str(by_column), ""]  # fmt: skip
    lines += outcome(r, "publish and write-back")
    return "\n".join(lines)


def status(r: RunSummary) -> str:
    return "BLOCKED by a quality gate" if r.blocked else ("succeeded" if r.success else "FAILED")


def golden_table(r: RunSummary) -> str:
    """Golden records and their publish; for a dry run, what would be minted and published."""
    golden = r.metadata.get("golden_records", {})
    published = r.metadata.get("published_golden", {})
    run = "dry run: would publish" if published.get("dry_run") else published.get("run_id", "not published")
    return table(
        ["golden records", "ids minted", "merged away", "auto-merge pairs", "records merged", "review queue",
         "published run", "new versions", "changed", "lineage only", "retired"],
        [[golden.get("golden_records", "-"), golden.get("minted", "-"), golden.get("merged_away", "-"),
          r.value("clusters", "auto_merge_pairs", "-"), r.value("clusters", "records_merged", "-"),
          r.value("review_queue", "queue_size", "-"), run, published.get("new", "-"), published.get("changed", "-"),
          published.get("lineage_updated", "-"), published.get("retired", "-")]],
    )  # fmt: skip


def outcome(r: RunSummary, gated: str) -> list[str]:
    """Expectation results, then what a blocking one stopped, skipped steps and errors."""
    checks = [[c.asset, "pass" if c.passed else "FAIL", "yes" if c.blocking else "no", c.summary] for c in r.checks]
    lines = ["expectations:", table(["asset", "result", "blocking", "summary"], checks)]
    if r.blocked:
        lines += ["", f"{gated} did not run: a blocking expectation on golden records failed (above)."]
    if r.skipped_steps:
        lines.append(f"skipped: {', '.join(r.skipped_steps)}")
    for e in r.errors:
        lines += ["", f"error in {e}"]
    return lines
