"""Assets generated from hub.yaml: one raw asset per configured source, so a new source needs no code."""

import dagster as dg

from connectors import pull_source
from hub.config import HubConfig
from hub.workspace import Workspace
from pipelines.resources import HubResource


def source_asset(name: str, kind: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{name}",
        group_name="sources",
        kinds={"duckdb", kind if kind == "sql" else "file"},
        description=f"Source '{name}' as canonical records in the workspace (incremental once a cursor exists).",
    )
    def _pull(context: dg.AssetExecutionContext, hub: HubResource) -> dg.MaterializeResult:
        cfg = hub.config()
        ws = Workspace.for_config(cfg)
        try:
            result = pull_source(cfg, name, ws, progress=context.log.info)
            preview = ws.con.execute(
                "SELECT source_key, reason FROM quarantine WHERE source_system = ? LIMIT 10", [name]
            ).df()
        finally:
            ws.close()
        return dg.MaterializeResult(
            metadata={
                "mode": result.mode,
                "rows_read": result.rows_read,
                "records_staged": result.records,
                "rows_quarantined": result.quarantined,
                "staged_total": result.staged_total,
                "quarantined_total": result.quarantined_total,
                "rows_per_second": round(result.rows_per_second),
                "quarantine_preview": dg.MetadataValue.md(preview.to_markdown(index=False)) if len(preview) else "none",
            }
        )

    return _pull


def source_assets(cfg: HubConfig) -> list[dg.AssetsDefinition]:
    return [source_asset(name, src.kind) for name, src in cfg.sources.items()]
