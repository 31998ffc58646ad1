"""Snapshots of what other systems and people build on: the REST API's OpenAPI schema and the Dagster asset graph.

A route, a schema field, an asset, a dependency, a check, a job, a schedule or a sensor that changes fails here. When
the change is meant, update the files in tests/__snapshots__/ and commit them with it:
`.venv/bin/python -m pytest tests/test_snapshots.py --snapshot-update`."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pytest
from fastapi.testclient import TestClient
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.json import JSONSnapshotExtension

import tests.source_fixture as fx
from connectors.demo import init_demo
from pipelines.entry import create_app


@pytest.fixture
def snapshot_json(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """One JSON file per test; the extension writes every mapping with its keys sorted."""
    return snapshot.use_extension(JSONSnapshotExtension)


def test_openapi_schema(tmp_path, snapshot_json):
    cfg = fx.hub_config(f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)
    cfg = cfg.model_copy(update={"serving_store": f"sqlite:///{tmp_path / 'serving.db'}"})
    with TestClient(create_app(cfg)) as client:
        assert client.app.openapi() == snapshot_json


@pytest.fixture
def definitions(tmp_path, monkeypatch) -> Iterator[dg.Definitions]:
    """The code location Dagster loads (pipelines.definitions) over the demo's hub.yaml: four sources."""
    init_demo(tmp_path / "demo", customers=60, seed=5)
    monkeypatch.setenv("HUB_CONFIG", str(tmp_path / "demo" / "hub.yaml"))
    sys.modules.pop("pipelines.definitions", None)
    try:
        yield importlib.import_module("pipelines.definitions").defs
    finally:
        sys.modules.pop("pipelines.definitions", None)  # built from this test's config: no later import reuses it


def asset_graph(defs: dg.Definitions) -> dict[str, Any]:
    """Assets with their group and upstream assets, asset checks per asset (blocking or not), jobs with the assets
    they select, schedules and sensors with what they start; every list sorted."""
    graph = defs.resolve_asset_graph()
    name = dg.AssetKey.to_user_string
    checks: dict[str, list[dict[str, Any]]] = {}
    for key in graph.asset_check_keys:
        checks.setdefault(name(key.asset_key), []).append({"name": key.name, "blocking": graph.get(key).blocking})
    return {
        "assets": {
            name(key): {
                "group": graph.get(key).group_name,
                "deps": sorted(name(dep) for dep in graph.get(key).parent_keys),
            }
            for key in graph.get_all_asset_keys()
        },
        "asset_checks": {asset: sorted(found, key=lambda c: c["name"]) for asset, found in checks.items()},
        "jobs": {
            job.name: sorted(name(key) for key in job.asset_layer.selected_asset_keys)
            for job in defs.resolve_all_job_defs()
            if not job.name.startswith("__")  # Dagster's implicit job over all assets
        },
        "schedules": {
            s.name: {"cron": s.cron_schedule, "job": s.job_name, "timezone": s.execution_timezone}
            for s in defs.schedules or []
        },
        "sensors": {
            s.name: {
                "jobs": sorted(t.job_name for t in s.targets),
                "minimum_interval_seconds": s.minimum_interval_seconds,
            }
            for s in defs.sensors or []
        },
    }


def test_dagster_asset_graph(definitions, snapshot_json):
    assert asset_graph(definitions) == snapshot_json
