"""Pull a configured source into the workspace: the one code path the CLI and Dagster share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from connectors.base import Connector
from connectors.files import FileConnector
from connectors.sql import SqlConnector
from hub import faults
from hub.config import HubConfig
from hub.workspace import Workspace


def open_connector(name: str, cfg: HubConfig) -> Connector:
    """The connector for `sources.<name>`; raises SourceError if the source does not match its block."""
    src = cfg.sources[name]
    return SqlConnector(name, src, cfg) if src.kind == "sql" else FileConnector(name, src, cfg)


@dataclass
class PullResult:
    source: str
    mode: str  # full | incremental
    rows_read: int
    records: int  # good rows written to staging in this pull
    quarantined: int  # rows quarantined in this pull
    duplicate_keys: int
    staged_total: int  # records staged for the source after the pull
    quarantined_total: int
    seconds: float
    warned: int = 0  # records staged in this pull with a value read as missing (field_warnings)
    warned_total: int = 0  # staged records of the source with a field warning after the pull

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0


def pull_source(
    cfg: HubConfig,
    name: str,
    ws: Workspace,
    full: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PullResult:
    """Full or incremental pull of one source, as a single workspace transaction.

    Incremental pulls (the default once a cursor exists) read rows updated since the saved cursor;
    a source without an updated-at column is always pulled in full.
    """
    started = time.perf_counter()
    connector = open_connector(name, cfg)
    state = None if full else ws.get_state(name)
    mode = "incremental" if state else "full"
    stream = connector.stream(state, full=mode == "full")
    records = quarantined = warned = 0
    with ws.transaction():
        if mode == "full":
            ws.clear_source(name)
        for batch in stream:
            ws.upsert(name, batch.records, batch.quarantined, batch.warnings, replace=mode == "incremental")
            records += len(batch.records)
            quarantined += len(batch.quarantined)
            warned += batch.warnings.index.nunique()
            if progress:
                progress(f"{name}: {stream.rows_read:,} rows read, {quarantined:,} quarantined")
        dupes = ws.quarantine_duplicate_keys(name)
        if stream.state is not None:
            ws.set_state(name, stream.state)
        faults.point("pull:before-commit")
    staged_total, quarantined_total = ws.counts(name)
    return PullResult(
        name,
        mode,
        stream.rows_read,
        records - dupes,
        quarantined + dupes,
        dupes,
        staged_total,
        quarantined_total,
        time.perf_counter() - started,
        warned,
        ws.warned(name),
    )
