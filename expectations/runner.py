"""Run Great Expectations over pandas frames and hand back the hub's own result type.

Callers (the suites, Dagster asset checks, the CLI) never see a GX object: GX is the validation engine, not
the interface, so its result format can change between releases without touching them. Known GX traits this
module works around:
- it phones home unless GX_ANALYTICS_ENABLED=False is set before a context exists;
- `import great_expectations` takes seconds, so it is imported on first use, not with this module;
- one ephemeral context (no files, no network) is created per process and reused; validations share it
  under a lock, since GX's execution engine keeps the active batch as state;
- only its pandas path is used (its DuckDB/SQL path is broken);
- getting a batch fingerprints the whole frame (a hash of every value), so each frame is turned into a
  batch once and every expectation on it runs in one suite; frames should hold only the columns checked;
- its pandas range test is vectorized only for float64/int64 and datetime64[ns] columns and calls Python per
  value otherwise (20x slower), so other numbers and times are converted first (`_vectorizable`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

EXAMPLES = 5  # unexpected values kept per expectation: enough to recognise a pattern, small for metadata

# BASIC gives counts and the first few unexpected values without GX building index lists or queries over
# every unexpected row (SUMMARY and COMPLETE do, in a Python loop); the unexpected rows themselves come
# from one vectorized filter, cut to EXAMPLES.
RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": EXAMPLES, "include_unexpected_rows": True}

_lock = threading.Lock()


def gx() -> ModuleType:
    """The great_expectations module, imported on first use with analytics switched off."""
    os.environ["GX_ANALYTICS_ENABLED"] = "False"
    import great_expectations

    return great_expectations


@cache
def _batch_definition() -> Any:
    """One ephemeral context per process, with one pandas data source whose batches are whole frames."""
    gx_ = gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx_.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_pandas(name="hub")
    return source.add_dataframe_asset(name="frame").add_batch_definition_whole_dataframe("whole frame")


def prepare() -> None:
    """Import GX and make its context now (~4 s), so the first validation of a long-lived process (`hub serve`'s
    apply_decisions runs) does not wait for it."""
    _batch_definition()


@dataclass(frozen=True)
class Check:
    """One GX expectation under the short name people read in Dagster.

    `examples_from` names the column whose values illustrate a failure when the checked values alone say
    little (a count of 0 says less than the id of the record it belongs to). `observed` is what the suite
    can say better than GX's bare observed value (e.g. '84 of 1,200 rows quarantined' rather than 0.07).
    `element_count` is how many rows a whole-table check covers when GX is handed only some of them (set-based SQL
    found every offending row over the whole table and GX validates those): the count reported instead of GX's."""

    name: str
    expectation: Any
    examples_from: str | None = None
    observed: str | None = None
    element_count: int | None = None


@dataclass
class ExpectationOutcome:
    """One expectation's result, in plain values that serialize to Dagster metadata as they are."""

    name: str
    expectation: str
    column: str | None
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_examples: list[Any] = field(default_factory=list)
    observed: Any = None

    def counts(self) -> str:
        """'3 of 1,200' (empty for expectations about a whole table, which count nothing)."""
        if self.unexpected_count is None or self.element_count is None:
            return ""
        return f"{self.unexpected_count:,} of {self.element_count:,}"

    def details(self) -> str:
        """'observed 652' / 'e.g. 'bad@', 'x'': what GX saw, and what someone fixing it looks for first."""
        parts = [] if self.observed is None else [f"observed {self.observed}"]
        if self.unexpected_examples:
            parts.append("e.g. " + ", ".join(_show(v) for v in self.unexpected_examples))
        return "; ".join(parts)

    def describe(self) -> str:
        """'3 of 1,200 unexpected, e.g. 'bad@', 'x'' or 'observed 651': the counts, then the details."""
        counts = f"{self.counts()} unexpected" if self.counts() else ""
        return ", ".join(p for p in (counts, self.details()) if p) or "no result"


@dataclass
class SuiteResult:
    """`validated`: the rows Great Expectations was handed (all of them, or on an incremental gate those that can
    have changed plus every offending row); `scope` says which, in words."""

    suite: str
    success: bool
    outcomes: list[ExpectationOutcome]
    validated: int = 0
    scope: str = "all rows"

    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]

    def without_examples(self) -> SuiteResult:
        """This result without example values: what may be kept outside the hub's reach (Dagster's storage) or
        beyond this run (expectations.gate)."""
        outcomes = [dataclasses.replace(o, unexpected_examples=[]) for o in self.outcomes]
        return dataclasses.replace(self, outcomes=outcomes)

    def summary(self) -> str:
        """One line for logs and check descriptions: how many passed, then what failed and how."""
        passed = len(self.outcomes) - len(self.failed())
        head = f"{self.suite}: {passed}/{len(self.outcomes)} passed"
        return "; ".join([head, *(f"FAILED {o.name} ({o.describe()})" for o in self.failed())])

    def as_markdown(self) -> str:
        """A table for Dagster's markdown metadata, one row per expectation."""
        rows = [
            "| expectation | column | result | unexpected | details |",
            "|---|---|---|---|---|",
        ]
        for o in self.outcomes:
            result = "passed" if o.success else "**FAILED**"
            rows.append(
                f"| {_cell(o.name)} | {_cell(o.column or '')} | {result} | {o.counts()} | {_cell(o.details())} |"
            )
        return "\n".join(rows)


def validate(frame: pd.DataFrame, checks: Sequence[Check]) -> list[ExpectationOutcome]:
    """Every check over `frame` in one GX suite run; outcomes in the order of `checks`."""
    if not checks:
        return []
    definition = _batch_definition()  # a suite can only be made once a context exists
    suite = gx().ExpectationSuite(name="hub checks")
    for i, check in enumerate(checks):
        check.expectation.meta = {**(check.expectation.meta or {}), "hub_check": i}
        suite.add_expectation(check.expectation)
    with _lock:
        batch = definition.get_batch(batch_parameters={"dataframe": _vectorizable(frame)})
        result = batch.validate(suite, result_format=RESULT_FORMAT)
    by_index = {r.expectation_config.meta["hub_check"]: r for r in result.results}
    return [_outcome(check, by_index[i]) for i, check in enumerate(checks)]


def run_suite(
    suite: str, batches: Sequence[tuple[pd.DataFrame, Sequence[Check]]], scope: str = "all rows"
) -> SuiteResult:
    """A named suite over several frames (one per shape of data it looks at)."""
    outcomes = [o for frame, checks in batches for o in validate(frame, checks)]
    validated = sum(len(frame) for frame, _ in batches)
    return SuiteResult(suite, all(o.success for o in outcomes), outcomes, validated, scope)


def to_json(result: SuiteResult) -> str:
    """`result` as JSON text, for keeping it (expectations.gate keeps the golden gate's, without examples)."""
    return json.dumps(dataclasses.asdict(result))


def from_json(text: str) -> SuiteResult:
    """The SuiteResult `to_json` wrote."""
    data = json.loads(text)
    outcomes = [ExpectationOutcome(**o) for o in data.pop("outcomes")]
    return SuiteResult(outcomes=outcomes, **data)


# The first and last whole days datetime64[ns] holds: exact in every unit a column may come in.
_NS_FIRST_DAY, _NS_LAST_DAY = pd.Timestamp("1677-09-22"), pd.Timestamp("2262-04-11")


def _vectorizable(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with nullable or narrow numbers as float64 (NaN for missing; exact up to 2**53) and times as
    datetime64[ns]. Times outside the nanosecond range (before 1677-09-22, after 2262-04-11) are clipped to those
    days: they fail any plausibility range anyway, and show in examples as 'at or before 1677-09-22'."""
    out = frame.copy(deep=False)
    for name, s in frame.items():
        if pd.api.types.is_bool_dtype(s.dtype):
            continue
        if pd.api.types.is_numeric_dtype(s.dtype) and s.dtype not in (np.int64, np.float64):
            out[name] = s.astype("float64")
        elif pd.api.types.is_datetime64_dtype(s.dtype) and s.dtype != np.dtype("datetime64[ns]"):
            out[name] = s.clip(_NS_FIRST_DAY, _NS_LAST_DAY).astype("datetime64[ns]")  # type: ignore[call-overload]  # stubs: Timestamp bounds
    return out


def _outcome(check: Check, r: Any) -> ExpectationOutcome:
    config = r.expectation_config
    res = dict(r.result or {})
    observed = check.observed if check.observed is not None else res.get("observed_value")
    if error := _error(r.exception_info):  # e.g. a missing column: a failure that says why, not a crash
        observed = f"error: {error}"
    return ExpectationOutcome(
        name=check.name,
        expectation=config.type,
        column=config.kwargs.get("column"),
        success=bool(r.success),
        element_count=res.get("element_count") if check.element_count is None else check.element_count,
        unexpected_count=res.get("unexpected_count"),
        unexpected_examples=_examples(check, res),
        observed=_plain(observed),
    )


def _error(info: Any) -> str | None:
    """GX's exception message, whether given flat or per metric that failed to compute."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    return next(
        (str(v.get("exception_message")) for v in info.values() if isinstance(v, dict) and v.get("raised_exception")),
        None,
    )


def _examples(check: Check, res: dict[str, Any]) -> list[Any]:
    rows = res.get("unexpected_rows")
    if check.examples_from and isinstance(rows, pd.DataFrame) and check.examples_from in rows.columns:
        values = rows[check.examples_from].head(EXAMPLES).tolist()
    else:
        values = list(res.get("partial_unexpected_list") or [])[:EXAMPLES]
    plain = [_plain(v) for v in values]
    try:  # a duplicate key shows once, not once per row
        return list(dict.fromkeys(plain))
    except TypeError:  # unhashable values (lists, dicts) as they come
        return plain


def _plain(v: Any) -> Any:
    """A JSON-ready value: numpy scalars to Python, times to ISO text, NaN/NA to None."""
    if v is None or v is pd.NaT or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp) and v in (_NS_FIRST_DAY, _NS_LAST_DAY):  # maybe clipped: say what is known
        return f"{'at or before' if v == _NS_FIRST_DAY else 'at or after'} {v.date().isoformat()}"
    if isinstance(v, datetime | date | pd.Timestamp):
        return v.isoformat()
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        return v.item()
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _show(v: Any) -> str:
    return "null" if v is None else repr(v) if isinstance(v, str) else str(v)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
