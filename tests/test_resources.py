"""The Dagster resources' lifetimes: what a run's steps share and what a failed step hands on."""

from __future__ import annotations

import dagster as dg
import duckdb
import pytest

from connectors.demo import init_demo
from hub.config import load_config
from hub.workspace import WorkspaceBusy, exclusive
from pipelines import resources
from pipelines.resources import HubResource, WorkspaceResource


@pytest.fixture
def config(tmp_path) -> str:
    init_demo(tmp_path, customers=20, seed=3)
    return str(tmp_path / "hub.yaml")


def _temp_table(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'step_scratch'").fetchone()[0])


def test_a_runs_steps_share_one_workspace_connection_and_a_failed_step_hands_on_a_fresh_one(config):
    resource = WorkspaceResource(hub=HubResource(config_path=config))
    resource.setup_for_execution(dg.build_init_resource_context())
    try:
        with resource.open() as (_, ws):
            ws.con.execute("CREATE TEMP TABLE step_scratch AS SELECT 1 AS x")
            first = ws
        with resource.open() as (_, ws):
            assert ws is first and _temp_table(ws.con)  # the connection the first step opened, still open
        with pytest.raises(RuntimeError), resource.open():
            raise RuntimeError("a step fails")
        with pytest.raises(duckdb.ConnectionException):
            first.con.execute("SELECT 1")  # closed with the failed step
        with resource.open() as (_, ws):
            assert ws is not first and not _temp_table(ws.con)
            last = ws
        with pytest.raises(WorkspaceBusy), exclusive(load_config(config).workspace, "another job", 0):
            pass  # the run holds the workspace from its first step to its last
    finally:
        resource.teardown_after_execution(dg.build_init_resource_context())
    with pytest.raises(duckdb.ConnectionException):
        last.con.execute("SELECT 1")
    with exclusive(load_config(config).workspace, "another job", 0):
        pass  # released with the run


def test_a_check_invoked_outside_a_run_closes_the_workspace_it_opened(config):
    resource = WorkspaceResource(hub=HubResource(config_path=config))
    with resource.open() as (_, ws):
        ws.con.execute("SELECT 1")
    with pytest.raises(duckdb.ConnectionException):
        ws.con.execute("SELECT 1")


@pytest.mark.parametrize("heavy", [True, False])
def test_a_big_workspace_is_closed_after_a_step_that_leaves_much_memory_so_it_goes_back(config, monkeypatch, heavy):
    """DuckDB keeps the memory a step's aggregations took until its connection closes: over SHARED_UP_TO staged
    records a step that leaves the process holding KEEP_UNDER or more closes it, and the next step opens its own; a
    step that leaves less (an incremental run, a steward's apply) keeps it, as on a small workspace."""
    monkeypatch.setattr(resources, "SHARED_UP_TO", -1)  # every workspace counts as big
    monkeypatch.setattr(resources, "KEEP_UNDER", 0 if heavy else 2**62)
    resource = WorkspaceResource(hub=HubResource(config_path=config))
    resource.setup_for_execution(dg.build_init_resource_context())
    try:
        with resource.open() as (_, ws):
            first = ws
        if heavy:
            with pytest.raises(duckdb.ConnectionException):
                first.con.execute("SELECT 1")
        with resource.open() as (_, ws):
            assert (ws is not first) == heavy and ws.con.execute("SELECT 1").fetchone() == (1,)
    finally:
        resource.teardown_after_execution(dg.build_init_resource_context())


def test_every_step_of_a_run_follows_hub_yaml_as_the_run_loaded_it(config):
    """A run loads hub.yaml once: an edit while it runs reaches the next run, not the run's later steps."""
    resource = WorkspaceResource(hub=HubResource(config_path=config))
    resource.setup_for_execution(dg.build_init_resource_context())
    try:
        with resource.open() as (first, _):
            pass
        with open(config) as fh:
            text = fh.read()
        with open(config, "w") as fh:  # a source renamed in hub.yaml while the run runs
            fh.write(text.replace("\n  crm:", "\n  crm_renamed:", 1))
        assert "crm" not in load_config(config).sources
        with resource.open() as (later, _):
            assert later is first and "crm" in later.sources
    finally:
        resource.teardown_after_execution(dg.build_init_resource_context())
    with resource.open() as (after, _):  # the next run (or a call outside a run) loads it again
        assert "crm" not in after.sources and "crm_renamed" in after.sources
