"""Dagster resources: the hub configuration, the workspace, the serving store and the source systems.

A run loads hub.yaml once, as it starts (with the workspace's job lock), and its assets and checks get it with the
workspace (`workspace.open()`) and hand it to the other resources: every step of a run follows the same
configuration, even when hub.yaml is edited while it runs (loading it took ~20 ms a step). The workspace is opened
once per run, under the job lock the run holds from its first step to its last (opening the DuckDB file reads its
catalogue: ~30 ms a step; see WorkspaceResource for when a step closes it); the serving store and the sources are
opened only while an asset runs, so the sensor can look at the sources beside a running job."""

from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager

import dagster as dg
import psutil
import sqlalchemy as sa
from pydantic import PrivateAttr

from connectors import open_connector
from hub import store
from hub.catalogue import STAGED
from hub.config import HubConfig, load_config
from hub.workspace import Workspace, exclusive, scalar


class HubResource(dg.ConfigurableResource):
    """Where hub.yaml lives, and how this run pulls and whether it writes anything."""

    config_path: str = "hub.yaml"
    # ignore the saved cursors and re-read every source row, and rebuild and publish every golden record (not only
    # those that changed): after a model retrain, or to repair
    full_pull: bool = False
    # Report what would be published and written back, and write nothing: no publish, no run-log row, no
    # minted id (the serving store is opened read-only), nothing into any source. Only the workspace changes.
    dry_run: bool = False

    def config(self) -> HubConfig:
        return load_config(self.config_path)


SHARED_UP_TO = 100_000  # staged records up to which a run's steps always keep one workspace connection
KEEP_UNDER = 1.25 * 2**30  # over them, the process's resident memory (bytes) under which a step keeps it


class WorkspaceResource(dg.ConfigurableResource):
    """The DuckDB workspace file hub.yaml names (staging, quarantine, matching and golden tables).

    A run holds the workspace's job lock (hub.workspace.exclusive) from its first step to its
    last, so two jobs never interleave their assets; a second run waits for the first. Its steps share one
    connection, opened by the first and closed with the lock; a step that fails closes it, so the next step opens
    the file afresh rather than inherit a connection a failure may have left in a broken state. So does a step
    over more than SHARED_UP_TO staged records that leaves the process holding KEEP_UNDER or more: DuckDB keeps
    the memory a step's aggregations took until its connection closes (at 1M records one connection for the whole
    first run raised its peak from 3.5 to 4.0 GiB). An incremental run or a steward's apply at that size stays
    under it and keeps its connection: opening the file and closing it (a checkpoint) cost ~60 ms a step there,
    ~1 s of a run with nothing to do."""

    hub: dg.ResourceDependency[HubResource]
    _held: ExitStack | None = PrivateAttr(default=None)
    _ws: Workspace | None = PrivateAttr(default=None)
    _cfg: HubConfig | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        cfg = self._cfg = self.hub.config()
        self._held = ExitStack()
        holder = f"dagster run {context.run.run_id if context.run else '(no run)'}"
        wait = cfg.pipeline.workspace_wait_seconds
        progress = context.log.info if context.log is not None else None
        self._held.enter_context(exclusive(cfg.workspace, holder, wait, progress))

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._close()
        self._cfg = None
        if self._held is not None:
            self._held.close()

    @contextmanager
    def open(self) -> Iterator[tuple[HubConfig, Workspace]]:
        """hub.yaml as the run loaded it (invoked directly, without a run: loaded now), and the workspace it names (the
        run's connection)."""
        cfg = self._cfg or self.hub.config()
        if self._ws is None:
            self._ws = Workspace.for_config(cfg)
        done = False
        try:
            yield cfg, self._ws
            done = True
        finally:
            if not done or self._held is None or self._heavy():  # failed; no run (invoked directly): no teardown
                self._close()

    def _heavy(self) -> bool:
        if self._ws is None or psutil.Process().memory_info().rss < KEEP_UNDER:  # the memory first: no query
            return False
        return scalar(self._ws.con, f"SELECT count(*) FROM {STAGED}") > SHARED_UP_TO

    def _close(self) -> None:
        if self._ws is not None:
            self._ws.close()
            self._ws = None


class ServingStoreResource(dg.ConfigurableResource):
    """The serving store hub.yaml names, migrated to the newest schema when opened; in a dry run opened
    read-only and never migrated (hub.store.open_read_only), so nothing can be written into it."""

    hub: dg.ResourceDependency[HubResource]

    def open(self, cfg: HubConfig) -> AbstractContextManager[sa.Engine]:
        return store.opened_for(cfg, read_only=self.hub.dry_run)


class SourcesResource(dg.ConfigurableResource):
    """The source systems hub.yaml declares, through their connectors."""

    def change_markers(self, cfg: HubConfig) -> dict[str, str]:
        """Each source's change marker; a source that cannot be read says so in its marker."""
        markers = {}
        for name in cfg.sources:
            try:
                markers[name] = open_connector(name, cfg).change_marker()
            except Exception as exc:  # an unreachable source must not stop the sensor for the others
                markers[name] = f"unreadable: {type(exc).__name__}: {exc}"
        return markers


def pipeline_resources(hub: HubResource) -> dict[str, dg.ConfigurableResource]:
    return {
        "hub": hub,
        "workspace": WorkspaceResource(hub=hub),
        "serving_store": ServingStoreResource(hub=hub),
        "sources": SourcesResource(),
    }
