"""Great Expectations suites (expectations/) as Dagster asset checks.

Checks on sources and standardized records warn; the check on golden records is blocking: when it
fails, Dagster does not run publish or write-back in that run, and the failure is also written to
the serving store's run log so readers of the store see why nothing new was published (not in a dry
run, which writes nothing there)."""

import dagster as dg

import expectations
from hub import store
from pipelines.resources import HubResource, ServingStoreResource, WorkspaceResource


def _result(suite: expectations.SuiteResult, severity: dg.AssetCheckSeverity) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=suite.success,
        severity=severity,
        description=suite.summary(),
        metadata={
            "expectations": len(suite.outcomes),
            "failed": len(suite.failed()),
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
    def _check(hub: HubResource, workspace: WorkspaceResource) -> dg.AssetCheckResult:
        cfg = hub.config()
        with workspace.open(cfg) as ws:
            return _result(expectations.check_raw_source(ws, cfg, name), dg.AssetCheckSeverity.WARN)

    return _check


@dg.asset_check(asset="standardized_records", name="expectations", description="Standardized records look sane.")
def standardized_check(hub: HubResource, workspace: WorkspaceResource) -> dg.AssetCheckResult:
    cfg = hub.config()
    with workspace.open(cfg) as ws:
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
def golden_check(
    context: dg.AssetCheckExecutionContext,
    hub: HubResource,
    workspace: WorkspaceResource,
    serving_store: ServingStoreResource,
) -> dg.AssetCheckResult:
    cfg = hub.config()
    with workspace.open(cfg) as ws:
        suite = expectations.check_golden(ws)
    if not suite.success:
        context.log.error(f"publish and write-back blocked: {suite.summary()}")
        if not hub.dry_run:  # a dry run writes nothing into the serving store, not even this
            with serving_store.open(cfg) as engine:
                store.fail_run(
                    engine, store.start_run(engine), f"blocked by the golden-record quality gate: {suite.summary()}"
                )
    return _result(suite, dg.AssetCheckSeverity.ERROR)


def pipeline_checks(sources: list[str]) -> list[dg.AssetChecksDefinition]:
    return [*(raw_source_check(name) for name in sources), standardized_check, golden_check]
