"""Great Expectations suites (expectations/) as Dagster asset checks.

Checks on sources and standardized records warn; the check on golden records is blocking: when it
fails, Dagster does not run publish or write-back in that run. Checks only check: they read the workspace
and write nothing. The golden gate runs once per build: the golden_records asset (pipelines/assets.py) runs it,
records a blocked publish in the run log and keeps its verdict in the workspace (expectations.gate); the check
reports that verdict for the same build, and blocks on it.

Dagster keeps check results in its own storage, out of reach of `hub subject erase`: they carry the counts, never
the example values (an unreadable e-mail is still a person's e-mail). `hub` and the suites' own results show them."""

import dagster as dg

import expectations
from pipelines.resources import WorkspaceResource


def _result(suite: expectations.SuiteResult, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    suite = suite.without_examples()
    return dg.AssetCheckResult(
        passed=suite.success,
        severity=severity,
        description=suite.summary(),
        metadata={
            "expectations": len(suite.outcomes),
            "failed": len(suite.failed()),
            "rows_validated": suite.validated,
            "scope": suite.scope,
            "results": dg.MetadataValue.md(suite.as_markdown()),
        },
    )


def raw_source_check(name: str) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=f"raw_{name}",
        name="expectations",
        description=(
            "Keys present and unique, parsable and plausible dates, plausible emails, share of records with a value "
            "read as missing (field warnings), quarantine share."
        ),
    )
    def _check(workspace: WorkspaceResource) -> dg.AssetCheckResult:
        with workspace.open() as (cfg, ws):
            return _result(expectations.check_raw_source(ws, cfg, name), dg.AssetCheckSeverity.WARN)

    return _check


@dg.asset_check(asset="standardized_records", name="expectations", description="Standardized records look sane.")
def standardized_check(workspace: WorkspaceResource) -> dg.AssetCheckResult:
    with workspace.open() as (_, ws):
        return _result(expectations.check_standardized(ws), dg.AssetCheckSeverity.WARN)


@dg.asset_check(
    asset="golden_records",
    name="expectations",
    blocking=True,
    description=(
        "BLOCKING: unique golden ids; every source record in exactly one golden record or in quarantine; "
        "no golden record without a source; only valid emails and phones survive."
    ),
)
def golden_check(workspace: WorkspaceResource) -> dg.AssetCheckResult:
    """The verdict the golden_records asset kept for the build in the workspace (the workspace stays locked for the
    run, so it is this build's); the gate itself when none was kept (the check run alone)."""
    with workspace.open() as (_, ws):
        suite = expectations.gate.kept(ws) or expectations.check_golden(ws)
        return _result(suite, dg.AssetCheckSeverity.ERROR)


def pipeline_checks(sources: list[str]) -> list[dg.AssetChecksDefinition]:
    return [*(raw_source_check(name) for name in sources), standardized_check, golden_check]
