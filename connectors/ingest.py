"""Pull a configured source into the workspace: the one code path the CLI and Dagster share."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from connectors.base import Connector, cursor_ceiling
from connectors.files import FileConnector
from connectors.sql import SqlConnector
from hub import faults
from hub.config import HubConfig
from hub.subjects.suppress import ERASED_REASON, Suppression
from hub.workspace import SOURCE_KEYS, Workspace


def open_connector(name: str, cfg: HubConfig) -> Connector:
    """The connector for `sources.<name>`; raises SourceError if the source does not match its block."""
    src = cfg.sources[name]
    return SqlConnector(name, src, cfg) if src.kind == "sql" else FileConnector(name, src, cfg)


@dataclass
class PullResult:
    source: str
    mode: str  # full | incremental | reconcile (incremental, comparing every row's values)
    rows_read: int
    records: int  # good rows written to staging in this pull
    quarantined: int  # rows quarantined in this pull
    shared_keys: int  # staged rows quarantined because another row has the same key (up to case/accents/spaces)
    staged_total: int  # records staged for the source after the pull
    quarantined_total: int
    seconds: float
    warned: int = 0  # records staged in this pull with a field warning (field_warnings)
    warned_total: int = 0  # staged records of the source with a field warning after the pull
    future: int = 0  # rows stamped after now + pull.cursor_tolerance_seconds: staged, the cursor not moved by them
    behind_cursor: int = 0  # rows an incremental cursor missed, found by reconciliation and staged or quarantined
    deleted: int = 0  # keys gone from the source: they left staging and quarantine
    erased: int = 0  # rows of erased people skipped ("erased subject"): neither staged nor quarantined

    @property
    def rows_per_second(self) -> float:
        return self.rows_read / self.seconds if self.seconds else 0.0


def pull_source(
    cfg: HubConfig,
    name: str,
    ws: Workspace,
    full: bool = False,
    reconcile: bool = False,
    progress: Callable[[str], None] | None = None,
) -> PullResult:
    """Full or incremental pull of one source, as a single workspace transaction.

    Incremental pulls (the default once a cursor exists) read rows updated since the saved cursor;
    a source without an updated-at column is always pulled in full. Every pull also reconciles keys:
    it reads the source's key set, drops what the source deleted, reads rows the cursor missed (an
    updated-at older than the cursor) by key, and quarantines every row of a shared key. With
    `reconcile` (or every pull.full_reconcile_every_hours) an incremental pull reads every row and
    re-stages those whose values or version differ from staging.
    """
    started = time.perf_counter()
    connector = open_connector(name, cfg)
    connector.suppression = Suppression.load(cfg)
    state = None if full else ws.get_state(name)
    if state and pd.Timestamp(state["cursor"]) > cursor_ceiling(cfg, _now()):  # saved before cursors had a ceiling
        if progress:
            progress(f"{name}: saved cursor {state['cursor']} is in the future; pulling in full")
        state = None
    mode = "full" if not state else ("reconcile" if reconcile or _reconcile_due(cfg, state) else "incremental")
    stream = connector.stream(state, full=mode != "incremental")
    cursor = pd.Timestamp(state["cursor"]) if state else None
    records = quarantined = warned = behind = read_by_key = future_by_key = erased_by_key = 0
    with ws.transaction():
        ws.load_source_keys(connector.key_chunks())
        if connector.suppression is not None:  # erased people's keys are not missed rows to read again
            connector.suppression.drop_keys(ws.con, name, SOURCE_KEYS)
        deleted = ws.drop_deleted(name)
        if mode == "full":
            ws.clear_source(name)
        for batch in stream:
            recs, warnings = batch.records, batch.warnings
            if mode == "reconcile":  # rows whose version differs from staging; those not after the cursor were missed
                recs = recs[~recs["source_key"].isin(ws.unchanged_keys(name, recs))]
                warnings = warnings[warnings.index.isin(recs.index)]
                behind += int((~(recs["source_updated_at"] > cursor)).sum())
            ws.upsert(name, recs, batch.quarantined, warnings, replace=mode != "full")
            records += len(recs)
            quarantined += len(batch.quarantined)
            warned += warnings.index.nunique()
            if progress:
                progress(f"{name}: {stream.rows_read:,} rows read, {quarantined:,} quarantined")
        if mode != "full":
            missed, unshared = ws.missing_keys(name), ws.unshared_keys(name)
            by_key = connector.stream_keys(missed + unshared)
            for batch in by_key:
                ws.upsert(name, batch.records, batch.quarantined, batch.warnings, replace=True)
                records += len(batch.records)
                quarantined += len(batch.quarantined)
                warned += batch.warnings.index.nunique()
            behind += len(missed)
            read_by_key, future_by_key, erased_by_key = by_key.rows_read, by_key.future, by_key.erased
        shared = ws.quarantine_shared_keys(name, cfg.sources[name].primary_key)
        if stream.state is not None:
            # an incremental pull has a saved state; the others reconciled just now
            reconciled = state.get("reconciled_at") if state and mode == "incremental" else stream.pulled_at
            ws.set_state(name, stream.state | ({"reconciled_at": str(reconciled)} if reconciled else {}))
        faults.point("pull:before-commit")
    future = stream.future + future_by_key
    erased = stream.erased + erased_by_key
    if progress and erased:
        progress(f"{name}: {erased:,} rows skipped, {ERASED_REASON} (the suppression list); stored nowhere")
    if progress and future:
        progress(f"{name}: {future:,} rows stamped in the future; staged, the cursor stays behind them")
    staged_total, quarantined_total = ws.counts(name)
    return PullResult(
        name,
        mode,
        stream.rows_read + read_by_key,
        records - shared,
        quarantined + shared,
        shared,
        staged_total,
        quarantined_total,
        time.perf_counter() - started,
        warned,
        ws.warned(name),
        future,
        behind,
        deleted,
        erased,
    )


def _reconcile_due(cfg: HubConfig, state: dict) -> bool:
    """Is a full comparison due? Never by time when pull.full_reconcile_every_hours is 0; a cursor saved before
    reconciliation existed is compared at once."""
    hours = cfg.pull.full_reconcile_every_hours
    if not hours:
        return False
    last = state.get("reconciled_at")
    return last is None or _now() - pd.Timestamp(last) >= pd.Timedelta(hours=hours)


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC").tz_localize(None)
