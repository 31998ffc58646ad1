"""Write-back: push the harmonized golden values into every source, leaving the sources otherwise intact, and
never making a source's value worse.

What to write is the plan (connectors/writeback_plan.py): per accepted field, nothing where the source already
says the same after normalization; blanks filled; a source's own value replaced only under the `correct` policy
and only where it lost to the golden value on evidence; the address block as one place; every value written in
the source's own style (connectors/styles.py). `write_back` pushes that plan through the source's connector
(`Connector.push`: only accepted fields, only changed rows, optimistic check on the version seen at pull time,
never a NULL, old -> new audit), in batches, records the audit in the serving store and keeps the workspace in
step with what it wrote, so a second write-back (with or without a pull in between) plans nothing. Each batch is
journaled in the serving store before the source commits it, and a write-back first reconciles what a killed one
left open (connectors/journal.py): no change goes without its audit row, no staged row keeps a value overwritten.

Once every batch is committed, the rows they updated are read back from the source (only those that got a value,
and those that got only their golden id and whose version moved; see _read_back) the way a pull maps them, into
staged_records, in one workspace transaction: canonical values, derived consent times and the version token (for
sources without an updated-at column a hash of the mapped columns, which the write changed). A batch that fails has
those before it read back first; a kill leaves them 'audited' in the journal, for the next write-back to read back.
What was written is remembered as echoes (hub/echoes.py): the next pull reads them back, and they must not count as
evidence for the values that produced them.

Workspace tables it keeps: `writeback_state` (source_system, source_key, golden_id, values_hash,
source_version, written_at): per source record, the golden id and the hash of the golden values last
pushed successfully, and the row version they were pushed to. A record is planned again only when its
golden values or golden id changed, or the source row changed since (a new version). That is what keeps a
value that does not read back identically ("Jan" + "Van Dyke" written as "Jan Van Dyke" reads back as
"Jan Van" + "Dyke") from being rewritten on every run. `writeback_echoes`: per record and field, the value
written and the record's own value before it.

Stale records: a record whose staged row changed after the matching run that the golden records were built
from (its version differs from standardized_records', and not because this module wrote it) is not written:
its golden values predate the change and would revert it. It is reported as 'stale' until match and golden
run again.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import sqlalchemy as sa

from connectors import journal, writeback_basis, writeback_plan
from connectors.base import AUDIT_COLUMNS, Connector, PushReport, among
from connectors.ingest import open_connector
from connectors.styles import Style, raw_formats, with_formats
from connectors.transforms import to_canonical
from connectors.writeback_plan import EVIDENCE_AT, GID, HASH, ORIGINAL, Plan, PlanError, public
from hub import echoes, faults, store
from hub.catalogue import GOLDEN_BUILD, STAGED, WRITEBACK_STATE, split_record_id
from hub.config import HubConfig
from hub.errors import HubError
from hub.store import subjects as subject_rows
from hub.workspace import Workspace, replace_rows

BATCH_ROWS = 20_000  # rows per push call: one source transaction each


class WritebackError(HubError):
    """Write-back cannot run: nothing published yet, or no golden records in the workspace."""


@dataclass
class WritebackResult:
    source: str
    dry_run: bool
    planned: int  # rows pushed (the plan)
    updated: int
    unchanged: int  # planned, but the source already held the values
    conflicts: int  # changed in the source since the pull: skipped
    missing: int  # no longer in the source
    values_changed: int  # audit rows: source columns changed (golden ids included)
    changes: pd.DataFrame  # audit: source_key, column, fields, old_value, new_value
    conflict_rows: pd.DataFrame  # source_key, status (conflict | missing | stale), detail
    stale: int = 0  # changed after the golden records were built: not planned (see the module docstring)
    address_kept: int = 0  # the record's own address is another place and did not lose on evidence: not written
    conflicted: int = 0  # in a golden record that most likely joins two people: nothing but the golden id written
    ambiguous: int = 0  # the key matches several source rows (duplicate, or equal under the collation): not written
    recovered: int = 0  # rows an interrupted write-back committed, audited and read back now (connectors/journal.py)
    restricted: int = 0  # rows of people whose processing is restricted (`hub subject restrict`): not written
    considered: int = 0  # records planned for: the others' plans were settled and nothing they read has changed
    styles: dict[str, Style] = field(default_factory=dict)  # how the source writes its values (connectors/styles.py)
    seconds: float = 0.0

    def summary(self) -> dict[str, int]:
        keys = ("planned", "updated", "unchanged", "conflicts", "missing", "ambiguous", "stale", "address_kept",
                "conflicted", "recovered", "values_changed")  # fmt: skip
        return {k: getattr(self, k) for k in keys}


def published_run(engine: sa.Engine) -> str:
    """The run whose golden values write-back pushes: the newest published one. Refuses when nothing was
    published, or when a newer run failed or is still running (the workspace then holds its golden
    values, which no quality gate passed)."""
    with engine.connect() as conn:
        run_id = store.last_published_run(conn)
        latest = store.latest_run(conn)
    if run_id is None:
        raise WritebackError("no golden records were ever published: run `hub golden` first")
    if latest and latest["run_id"] != run_id and latest["status"] != "published":
        raise WritebackError(
            f"the newest golden run {latest['run_id']} is {latest['status']} and the workspace holds its values; "
            f"run `hub golden` again (the last published run is {run_id})"
        )
    return run_id


# --------------------------------------------------------------------------- dry-run builds (hub run --dry-run)


def run_to_write(ws: Workspace, engine: sa.Engine, dry_run: bool) -> str | None:
    """The run whose golden values the workspace holds: the last published one (published_run), or None when
    a dry run built them (`hub run --dry-run`: provisional ids, never published). Only a dry-run write-back
    may plan against such a build; a real one refuses it, since those values passed no publish."""
    if not _dry_run_build(ws):
        return published_run(engine)
    if not dry_run:
        raise WritebackError(
            "the golden records in the workspace come from a dry run (hub run --dry-run) and were never published: "
            "run `hub run` (or `hub golden`) without --dry-run first, then write back"
        )
    return None


def _dry_run_build(ws: Workspace) -> bool:
    """Whether the workspace's build is a dry run's (golden_build.dry_run)."""
    if not ws.has_table(GOLDEN_BUILD):
        return False
    columns = {c[0] for c in ws.con.execute(f"DESCRIBE {GOLDEN_BUILD}").fetchall()}  # older builds lack dry_run
    if "dry_run" not in columns:
        return False
    row = ws.con.execute(f"SELECT bool_or(dry_run) FROM {GOLDEN_BUILD}").fetchone()
    return row is not None and bool(row[0])


# ------------------------------------------------------------------------------------------------ plan


def plan_changes(ws: Workspace, cfg: HubConfig, source: str, full: bool = False) -> pd.DataFrame:
    """What write-back would push to `source` (connectors/writeback_plan.py): one row per staged record with a
    value to write (or whose golden id is not written yet), with `source_key`, `expected_version` (the staged
    source_version), one column per accepted field holding the value to send in the source's style (NULL: leave
    the source's value) and `golden_id` when the source stores one. Records changed since the golden records
    were built (stale) are left out. The same rows whether `full` or not: without it, only the records whose plan
    could have changed since it was last settled are looked at (connectors/writeback_basis.py)."""
    return public(_plan(ws, cfg, source, full).rows)


def _plan(
    ws: Workspace,
    cfg: HubConfig,
    source: str,
    full: bool,
    only: pd.Series | None = None,
    carried: pd.DataFrame | None = None,
    styles: dict[str, Style] | None = None,
) -> Plan:
    try:
        return writeback_plan.plan(ws, cfg, source, full, only, carried, styles)
    except PlanError as exc:
        raise WritebackError(str(exc)) from None


def _settle(ws: Workspace, planned: Plan, source: str, full: bool) -> None:
    """Store the basis of the records `planned` found nothing to write into; forget it for those it did."""
    unsettled = pd.concat([planned.rows["source_key"], planned.stale["source_key"]], ignore_index=True)
    writeback_basis.settle(ws, source, planned.settled, unsettled, full)


def _restricted_keys(engine: sa.Engine, source: str) -> list[str]:
    """Keys of `source` whose processing a data subject restricted (`hub subject restrict`)."""
    with engine.connect() as conn:
        held = subject_rows.restricted(conn)
    return [split_record_id(r)[1] for r in held["record_id"] if split_record_id(r)[0] == source]


# ------------------------------------------------------------------------------------------------ push


def write_back(
    ws: Workspace,
    cfg: HubConfig,
    engine: sa.Engine,
    source: str,
    run_id: str | None,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    full: bool = False,
) -> WritebackResult:
    """Push the golden values of `run_id` (the published run the workspace's golden tables belong to; None: a
    dry run's build, which only a dry run may plan against, see run_to_write) into `source`, in batches of
    BATCH_ROWS rows, one source transaction each.

    After each batch that is not a dry run: its audit goes to the serving store (`writeback_audit`), the
    rows it updated are read back from the source into staged_records (canonical values and version token
    exactly as a pull would see them), and `writeback_state` records what was written, so a second run
    plans nothing. A dry run computes the same report and audit and writes nothing anywhere.

    Only the records whose plan could have changed since it was last settled are planned (connectors/
    writeback_basis.py); `full` plans every record (`hub run --full`). Both write the same."""
    started = time.perf_counter()
    say = progress or (lambda _line: None)
    connector = open_connector(source, cfg)
    recovered = 0 if dry_run else _recover(ws, engine, connector, say)
    formats = raw_formats(lambda: _raw_sample(connector), cfg.sources[source], cfg)
    planned = _plan(ws, cfg, source, full)
    styles = {**planned.styles, **formats}
    plan, stale = planned.rows, planned.stale
    if not dry_run:  # before any push: these records need nothing, whatever happens to the others
        _settle(ws, planned, source, full)
    held = _restricted_keys(engine, source)
    restricted = int(plan["source_key"].isin(held).sum())
    if restricted:  # a data subject's restriction: their records are kept, not processed
        plan = plan[~plan["source_key"].isin(held)]
        say(f"{source}: {restricted:,} rows of people whose processing is restricted are not written")
    if styles:
        say(f"{source} style: " + "; ".join(s.describe() for s in styles.values()))
    if planned.address_kept:
        say(f"{source}: {planned.address_kept:,} rows keep their own address (another place; see `address_kept`)")
    if planned.conflicted:
        say(f"{source}: {planned.conflicted:,} rows belong to golden records whose members hold two birth dates, "
            "two countries or two first names (most likely two people): only their golden id is written; "
            "review them")  # fmt: skip
    connector = open_connector(source, with_formats(cfg, source, formats))
    rows, audits, journaled = [], [], []
    verb = "checked" if dry_run else "pushed"
    try:
        for i in range(0, len(plan), BATCH_ROWS):
            batch = plan.iloc[i : i + BATCH_ROWS]
            faults.point("writeback:before-push")
            report, batch_id = _push(engine, connector, run_id, batch, dry_run)
            rows.append(report.rows)
            audits.append(report.changes)
            journaled += [batch_id] if batch_id else []
            say(f"{source}: {min(i + BATCH_ROWS, len(plan)):,} / {len(plan):,} rows {verb}")
    except Exception:
        if journaled:  # what the source committed before the failure goes into the workspace all the same
            _bring_back(ws, engine, connector, plan, pd.concat(rows, ignore_index=True), journaled, say)
        raise
    status = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["source_key", "status", "detail"])
    written = status.loc[status["status"].isin(["updated", "unchanged"]), "source_key"]
    if not dry_run and len(written):
        reread = _bring_back(ws, engine, connector, plan, status, journaled, say)
        # Settle what now holds its golden values, so the next run need not look. Only rows whose staged row
        # changed (values read back) are planned again, in the styles they were written in (learning them again
        # counts the whole source; if what was written changes a style, the next plan's basis differs from the one
        # settled here and it looks at every record again); the others read nothing new.
        outcome = planned.outcome
        keys = pd.Index(outcome["source_key"])
        carried = outcome[among(keys, written) & ~among(keys, reread)]
        _settle(ws, _plan(ws, cfg, source, False, written, carried, planned.styles), source, False)
    changes = pd.concat([a for a in audits if len(a)], ignore_index=True) if any(len(a) for a in audits) else None
    if changes is None:
        changes = pd.DataFrame({c: pd.Series(dtype="string") for c in AUDIT_COLUMNS})
    stale_rows = pd.DataFrame(
        {
            "source_key": stale["source_key"],
            "status": "stale",
            "detail": "row changed since the golden records were built; run match and golden again",
        }
    )
    skipped = pd.concat(
        [status[status["status"].isin(["conflict", "missing", "ambiguous"])], stale_rows], ignore_index=True
    )
    count = lambda s: int((status["status"] == s).sum())  # noqa: E731
    if count("ambiguous"):
        say(f"{source}: {count('ambiguous'):,} rows not written: their key matches several source rows (see skipped)")
    return WritebackResult(
        source=source,
        dry_run=dry_run,
        planned=len(plan),
        updated=count("updated"),
        unchanged=count("unchanged"),
        conflicts=count("conflict"),
        missing=count("missing"),
        values_changed=len(changes),
        changes=changes,
        conflict_rows=skipped.reset_index(drop=True),
        stale=len(stale),
        address_kept=planned.address_kept,
        conflicted=planned.conflicted,
        ambiguous=count("ambiguous"),
        recovered=recovered,
        restricted=restricted,
        considered=planned.considered,
        styles=styles,
        seconds=time.perf_counter() - started,
    )


def _push(
    engine: sa.Engine, connector: Connector, run_id: str | None, batch: pd.DataFrame, dry_run: bool
) -> tuple[PushReport, str | None]:
    """One batch, one source transaction. Not a dry run: journaled before the source commits, then audited
    (connectors/journal.py); write_back reads the batches back into the workspace once they are all pushed, then
    closes their journal, so a kill at any point is reconciled. Returns the push's report and the batch's journal
    id (None: nothing journaled, the batch updated no row)."""
    if dry_run:
        return connector.push(public(batch), dry_run=True), None
    if run_id is None:
        raise WritebackError("only a dry run may write back golden values that were never published")
    batch_id = uuid.uuid4().hex
    journaled = []
    report = connector.push(
        public(batch),
        before_commit=lambda r: journaled.append(journal.record(engine, batch_id, run_id, connector.name, batch, r)),
    )
    if not any(journaled):
        return report, None
    faults.point("writeback:after-commit")
    store.journal_audited(engine, batch_id, run_id, connector.name, report.changes)
    return report, batch_id


def _bring_back(
    ws: Workspace,
    engine: sa.Engine,
    connector: Connector,
    plan: pd.DataFrame,
    status: pd.DataFrame,
    journaled: list[str],
    say: Callable[[str], None],
) -> pd.Series:
    """The pushed batches into the workspace (_after_push: one read-back, one DuckDB transaction), then their
    journal closed. Returns the keys of the rows read back into staged_records."""
    faults.point("writeback:before-read-back")
    started = time.perf_counter()
    fresh = _after_push(ws, connector, plan, status, say)
    if journaled:
        store.journal_close(engine, *journaled)
    written = int(status["status"].isin(["updated", "unchanged"]).sum())
    say(
        f"{connector.name}: the workspace holds what {written:,} rows now hold in the source ({len(fresh):,} read "
        f"back and mapped) in {time.perf_counter() - started:.1f} s"
    )
    return fresh


def _recover(ws: Workspace, engine: sa.Engine, connector: Connector, say: Callable[[str], None]) -> int:
    """Reconcile the batches a killed write-back left open in the journal (connectors/journal.py): audit the ones
    the source committed, drop the ones it did not, and read the committed rows back into the workspace.
    Returns the rows recovered (committed, now audited and read back)."""
    with engine.connect() as conn:
        entries = store.journal_entries(conn, connector.name)
    if entries.empty:
        return 0
    pending = entries[entries["state"] == "pending"]
    done = journal.committed(connector, pending) if len(pending) else set()
    for batch_id, part in pending.groupby("batch_id", sort=False):
        if batch_id in done:
            store.journal_audited(engine, str(batch_id), part["run_id"].iloc[0], connector.name, journal.audit_of(part))
        else:
            store.journal_close(engine, str(batch_id))
    recovered = entries[(entries["state"] == "audited") | entries["batch_id"].isin(done)]
    for batch_id, part in recovered.groupby("batch_id", sort=False):
        batch = journal.plan_of(part, connector.cfg, list(connector.src.accepts))
        status = pd.DataFrame({"source_key": batch["source_key"], "status": "updated"})
        _after_push(ws, connector, batch, status, say)
        store.journal_close(engine, str(batch_id))
    dropped = int(pending.loc[~pending["batch_id"].isin(done), "rows"].sum())
    rows = int(recovered["rows"].sum())
    say(
        f"{connector.name}: journal of an interrupted write-back reconciled: {rows:,} rows written then "
        f"audited and read back, {dropped:,} rows never committed (planned again)"
    )
    return rows


def _after_push(
    ws: Workspace,
    connector: Connector,
    batch: pd.DataFrame,
    status: pd.DataFrame,
    say: Callable[[str], None],
) -> pd.Series:
    """One committed (and audited) batch into the workspace, in one DuckDB transaction: the rows it updated read
    back into staged_records, their echoes, and writeback_state for every row now holding its golden values.
    Returns the keys of the rows read back into staged_records."""
    batch = batch.set_index(batch["source_key"].astype("string"), drop=False)
    # Masks, not label lists: .loc with a list of a few hundred thousand keys hashes each one (seconds at 1M rows).
    outcome = status.set_index("source_key")["status"].reindex(batch.index).to_numpy()
    kept = (outcome == "updated") | (outcome == "unchanged")
    done, updated = batch[kept], batch[outcome == "updated"]
    if done.empty:
        return pd.Series(dtype="string")
    sent = updated[list(connector.src.accepts)].notna().any(axis=1)
    fresh, unreadable = _read_back(connector, updated["expected_version"], sent)
    if unreadable:
        say(f"{connector.name}: {unreadable:,} rows written do not read back cleanly; the next pull quarantines them")
    versions = done["expected_version"].astype("string").copy()
    if len(fresh):
        versions.update(fresh.set_index("source_key")["source_version"].astype("string"))
    state = pd.DataFrame(
        {
            "source_system": connector.name,
            "source_key": done.index.astype("string"),
            "golden_id": done[GID].astype("string").to_numpy(),
            "values_hash": done[HASH].astype("string").to_numpy(),
            "source_version": versions.to_numpy(),
        }
    )
    with ws.transaction() as con:
        if len(fresh):
            con.register("_wb_fresh", fresh)
            read = ", ".join(f"f.{c} AS {c}" for c in fresh.columns if c not in ("source_system", "source_key"))
            rows = (
                f"SELECT s.* REPLACE ({read}) FROM {STAGED} AS s JOIN _wb_fresh AS f USING (source_system, source_key)"
            )
            replace_rows(con, STAGED, rows, ("source_system", "source_key"), new_keys=False)
            con.unregister("_wb_fresh")
        echoes.record(con, ws.fields, _echoes(connector, updated, fresh))
        con.register("_wb_state", state)
        rows = "SELECT *, now()::TIMESTAMP AS written_at FROM _wb_state"
        replace_rows(con, WRITEBACK_STATE, rows, ("source_system", "source_key"))
        con.unregister("_wb_state")
    return fresh["source_key"].astype("string") if len(fresh) else pd.Series(dtype="string")


def _raw_sample(connector: Connector) -> pd.DataFrame:
    """The first chunk of the source's rows as stored: how it writes phones and countries (pulled values are
    canonical, so only the source itself shows its format)."""
    chunks = connector.read_chunks(None)
    try:
        return next(iter(chunks), pd.DataFrame())
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()


def _echoes(connector: Connector, written: pd.DataFrame, fresh: pd.DataFrame) -> pd.DataFrame:
    """Per updated record, what it holds now in each field written (as read back) and its own value before."""
    if fresh.empty or written.empty:
        return pd.DataFrame()
    now = fresh.set_index("source_key")
    keys = written.index.intersection(now.index)
    written, now = written.loc[keys], now.loc[keys]
    out = pd.DataFrame(
        {
            "source_system": connector.name,
            "source_key": keys.astype("string"),
            "written_version": now["source_version"].astype("string").to_numpy(),
            "evidence_at": written[EVIDENCE_AT].to_numpy(),
        }
    )
    for f in connector.src.accepts:
        sent = written[f].notna().to_numpy()
        out[f"{f}__written"] = now[f].where(sent, None).to_numpy() if f in now else None
        out[f"{f}__original"] = written[f"{ORIGINAL}{f}"].where(sent, None).to_numpy()
    return out


def _read_back(connector: Connector, pushed_at: pd.Series, sent: pd.Series) -> tuple[pd.DataFrame, int]:
    """The rows just updated (`pushed_at`: their version when pushed, by key; `sent`: whether a field value was sent
    to them), read back and mapped exactly as a pull maps them (canonical values, derived consent times, version
    token): what staged_records must hold for them now; and how many of them would not parse (a pull would
    quarantine those). Only these rows are read, and only the ones that can have changed: a row that got nothing but
    its golden id holds the values staged for it. Its version is read alone (WriteSession.versions: the updated-at
    column, which a trigger may have stamped), and the row in full only where it moved; where the golden id went to
    the hub's side table, the row itself was not written and is not read at all."""
    if pushed_at.empty:
        return pd.DataFrame(), 0
    given = sent.reindex(pushed_at.index, fill_value=True).to_numpy(dtype=bool)
    only_id = pushed_at[~given]
    target = connector.src.golden_id
    with connector.write_session(dry_run=True) as session:
        moved: list[str] = []
        if len(only_id) and not (target is not None and target.table):
            now = session.versions(only_id.index.tolist()).set_index("source_key")["source_version"]
            was = only_id.reindex(now.index).astype("string")
            moved = now.index[now.astype("string").ne(was).fillna(True).to_numpy(dtype=bool)].tolist()
        keys = [*pushed_at.index[given], *moved]
        raw = session.fetch(keys) if keys else pd.DataFrame()
    if raw.empty:
        return pd.DataFrame(), 0
    src = connector.src
    records, reasons = to_canonical(raw[src.columns()].reset_index(drop=True), src, connector.cfg, connector.name)
    return records.reset_index(drop=True), int(reasons.notna().sum())


__all__ = [
    "BATCH_ROWS",
    "WritebackError",
    "WritebackResult",
    "plan_changes",
    "published_run",
    "run_to_write",
    "write_back",
]
