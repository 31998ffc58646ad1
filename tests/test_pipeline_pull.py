"""The Dagster assets are generated from hub.yaml; the pull job materializes only the raw ones, in process."""

from __future__ import annotations

import dagster as dg
import yaml

from pipelines.build import build_definitions
from tests import source_fixture as fx


def test_one_raw_asset_per_source_materializes_with_counts(tmp_path):
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    fx.create_source(url)
    cfg = fx.hub_config(url, tmp_path)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json", exclude_unset=True)))

    defs = build_definitions(str(path))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    per_source = {k for k in keys if k.endswith("_crm")}
    assert per_source == {"raw_crm", "writeback_crm"}  # generated from the one source block
    assert keys - per_source == {
        "standardized_records", "match_model", "scored_pairs", "clusters", "review_queue", "golden_records",
        "published_golden", "retention_purge",
    }  # fmt: skip

    result = defs.resolve_job_def("pull_sources").execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert result.success
    meta = result.asset_materializations_for_node("raw_crm")[0].metadata
    assert meta["rows_read"].value == len(fx.rows())
    assert meta["rows_quarantined"].value == 0
    assert meta["rows_with_warnings"].value == meta["warned_total"].value == len({k for k, _ in fx.WARNED})
    assert "consent_email" in meta["field_warnings"].value and "date_of_birth" in meta["field_warnings"].value
    assert meta["mode"].value == "full"


def test_reconcile_is_set_at_launch_in_dagster_and_deletes_are_reported(tmp_path):
    """The run tag `hub/reconcile: true` (the launchpad's tags): the same switch as `hub run --reconcile`."""
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = fx.create_source(url)
    path = tmp_path / "hub.yaml"
    path.write_text(yaml.safe_dump(fx.hub_config(url, tmp_path).model_dump(mode="json", exclude_unset=True)))
    job = build_definitions(str(path)).resolve_job_def("pull_sources")

    def pull(tags: dict | None = None) -> dict:
        result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), tags=tags)
        assert result.success
        return {k: v.value for k, v in result.asset_materializations_for_node("raw_crm")[0].metadata.items()}

    pull()
    with engine.begin() as conn:
        conn.execute(fx.customers.delete().where(fx.customers.c.id == 101))
    meta = pull()
    assert (meta["mode"], meta["rows_deleted"], meta["rows_behind_cursor"]) == ("incremental", 1, 0)
    assert pull({"hub/reconcile": "true"})["mode"] == "reconcile"
    engine.dispose()
