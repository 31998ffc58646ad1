"""The golden gate's memory in the workspace (hub.catalogue.GOLDEN_GATE): its verdict on each build it gated, and the
store run that then published that build.

It serves two ends:
- an incremental gate (expectations.suites.check_golden) validates only the rows that can have changed since its
  basis, so that basis must be a build the gate PASSED. A build is incremental only over the build published as the
  store's last run (golden_record.incremental), but that build may have reached the store without passing the gate
  (`hub golden` publishes without it; so does published_golden materialized alone after a failed gate):
  `passed_basis` holds only when this table says the gate passed the build published as the run the current build
  was built on;
- the pipeline validates a build once: the golden_records asset runs the gate and keeps its verdict here (`keep`),
  and the blocking asset check reads it for the same build (`kept`) instead of running the gate again.

A build is named by its golden_build row: the run it was built on and `consent_read_at`, the store's clock when it
started. Kept rows: the current build's and its basis's. Verdicts are kept without example values, so no row here
names a person.
"""

from __future__ import annotations

from typing import Any

from expectations.runner import SuiteResult, from_json, to_json
from hub.catalogue import GOLDEN_BUILD, GOLDEN_GATE, GOLDEN_REBUILT, GOLDEN_REDIRECTS, GOLDEN_XREF, columns_sql
from hub.workspace import Workspace

# the build a row is about (NULL built_on_run: a build on an empty store)
_THIS_BUILD = "built_on_run IS NOT DISTINCT FROM ? AND consent_read_at = ?"


def _build(ws: Workspace) -> dict[str, Any] | None:
    """The golden_build row of the build in the workspace (None: no build)."""
    if not ws.has_table(GOLDEN_BUILD):
        return None
    cur = ws.con.execute(f"SELECT * FROM {GOLDEN_BUILD}")
    rows = cur.fetchall()
    return dict(zip([d[0] for d in cur.description], rows[0], strict=True)) if len(rows) == 1 else None


def passed_basis(ws: Workspace) -> bool:
    """Whether the build in the workspace is an incremental one (golden_build.full is false) over a build the gate
    passed and that was then published as the run it was built on: only then may the gate validate only the rows
    that can have changed (golden_rebuilt and golden_redirects, and the xref that build published)."""
    build = _build(ws)
    if build is None or build.get("full", True) or build["built_on_run"] is None:
        return False
    if not all(ws.has_table(t) for t in (GOLDEN_GATE, GOLDEN_REBUILT, GOLDEN_REDIRECTS, GOLDEN_XREF)):
        return False
    rows = ws.con.execute(
        f"SELECT count(*) FROM {GOLDEN_GATE} WHERE passed AND published_run = ?", [build["built_on_run"]]
    ).fetchall()
    return rows[0][0] > 0


def keep(ws: Workspace, result: SuiteResult) -> None:
    """Keep the gate's `result` (without examples) for the build in the workspace, with its basis's row; any older
    row goes."""
    build = _build(ws)
    if build is None:
        return
    this = [build["built_on_run"], build.get("consent_read_at")]
    with ws.transaction() as con:
        con.execute(f"CREATE TABLE IF NOT EXISTS {GOLDEN_GATE} ({columns_sql(GOLDEN_GATE)})")
        con.execute(
            f"DELETE FROM {GOLDEN_GATE} WHERE published_run IS DISTINCT FROM ? OR ({_THIS_BUILD})",
            [build["built_on_run"], *this],
        )
        con.execute(
            f"INSERT INTO {GOLDEN_GATE} VALUES (?, ?, ?, NULL, ?)",
            [*this, result.success, to_json(result.without_examples())],
        )


def kept(ws: Workspace) -> SuiteResult | None:
    """The gate's result kept for the build in the workspace (without examples); None when it did not gate it."""
    build = _build(ws)
    if build is None or not ws.has_table(GOLDEN_GATE):
        return None
    rows = ws.con.execute(
        f"SELECT result FROM {GOLDEN_GATE} WHERE {_THIS_BUILD}", [build["built_on_run"], build.get("consent_read_at")]
    ).fetchall()
    return from_json(rows[0][0]) if rows else None


def mark_published(ws: Workspace, run_id: str) -> None:
    """After the store committed `run_id` with the build in the workspace: the run its verdict is the basis's for
    (the next gate starts from it only if that verdict passed: `passed_basis`)."""
    build = _build(ws)
    if build is None or not ws.has_table(GOLDEN_GATE):
        return
    ws.con.execute(
        f"UPDATE {GOLDEN_GATE} SET published_run = ? WHERE {_THIS_BUILD}",
        [run_id, build["built_on_run"], build.get("consent_read_at")],
    )
