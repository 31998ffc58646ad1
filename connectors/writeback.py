"""Write-back: push the harmonized golden values into every source, leaving the sources otherwise intact.

For one source, `plan_changes` is a single set-based DuckDB query over the workspace: its staged records
joined to their golden record (golden_members -> golden_values), keeping only rows where an accepted
field's golden value differs from the staged one or where the golden id has not been written yet.
`write_back` pushes that plan through the source's connector (`Connector.push`: only accepted fields, only
changed rows, optimistic check on the version seen at pull time, never a NULL, old -> new audit), in
batches, records the audit in the serving store and keeps the workspace in step with what it wrote, so a
second write-back (with or without a pull in between) plans nothing.

What is written, per field the source `accepts`:
- the golden value, formatted the source's way by the connector (split names, phone and country formats,
  date formats, consent words);
- never a NULL: a golden value that is missing leaves the source's value alone;
- consent only as an explicit choice ('granted' / 'denied'), and its `_at` time only together with one:
  'unknown' is the absence of a choice, so writing it would blank the source's;
- the address block (line 1, line 2, city, region, postal code, country) whole or not at all (`_block_ok`):
  a row whose own address has a field the golden address lacks keeps its address unless both have the same
  postcode, so an old flat never ends up on the new street (counted as `address_kept`);
- a source with no line 2 gets the golden flat folded into line 1 (`_address_exprs`).

After each committed batch, the rows it updated are read back from the source (only those) and mapped the
way a pull maps them, into staged_records: canonical values, derived consent times and the version token
(for sources without an updated-at column a hash of the mapped columns, which the write changed).

Workspace tables it keeps: `writeback_state` (source_system, source_key, golden_id, values_hash,
source_version, written_at): per source record, the golden id and the hash of the golden values last
pushed successfully, and the row version they were pushed to. A record is planned again only when its
golden values or golden id changed, or the source row changed since (a new version). That is what keeps a
value that does not read back identically ("Jan" + "Van Dyke" written as "Jan Van Dyke" reads back as
"Jan Van" + "Dyke") from being rewritten on every run.

Stale records: a record whose staged row changed after the matching run that the golden records were built
from (its version differs from standardized_records', and not because this module wrote it) is not written:
its golden values predate the change and would revert it. It is reported as 'stale' until match and golden
run again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import sqlalchemy as sa

from connectors.base import AUDIT_COLUMNS, GOLDEN_ID, Connector
from connectors.ingest import open_connector
from connectors.transforms import to_canonical
from hub import store
from hub.config import ADDRESS_BLOCK, HubConfig, SourceConfig
from hub.model import CONSENT_FIELDS, Consent, FieldType
from hub.workspace import STAGED, Workspace

STATE = "writeback_state"
MEMBERS = "golden_members"
VALUES = "golden_values"
RECORDS = "standardized_records"
BATCH_ROWS = 20_000  # rows per push call: one source transaction each
EXPLICIT = (Consent.GRANTED.value, Consent.DENIED.value)
_HASH = "_values_hash"
_GID = "_golden_id"
_STALE = "_stale"
_KEPT = "_address_kept"


class WritebackError(Exception):
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
    address_kept: int = 0  # the golden address would leave a field of the old one beside it: address not written
    seconds: float = 0.0

    def summary(self) -> dict[str, int]:
        keys = ("planned", "updated", "unchanged", "conflicts", "missing", "stale", "address_kept", "values_changed")
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

BUILD = "golden_build"  # golden_record.run.BUILD: its dry_run column marks a dry run's build


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
    if not ws.has_table(BUILD):
        return False
    columns = {c[0] for c in ws.con.execute(f"DESCRIBE {BUILD}").fetchall()}  # no dry_run: built before it existed
    return "dry_run" in columns and bool(ws.con.execute(f"SELECT bool_or(dry_run) FROM {BUILD}").fetchone()[0])


# ------------------------------------------------------------------------------------------------ plan


def _ensure_state(ws: Workspace) -> None:
    ws.con.execute(
        f"""CREATE TABLE IF NOT EXISTS {STATE} (
              source_system VARCHAR, source_key VARCHAR, golden_id VARCHAR, values_hash VARCHAR,
              source_version VARCHAR, written_at TIMESTAMP, PRIMARY KEY (source_system, source_key))"""
    )


def _address_exprs(src: SourceConfig) -> dict[str, str]:
    """The golden address line 1 for a source, as SQL over golden_values `g`.

    A source that accepts address_line1 but does not map address_line2 has nowhere to put a flat or unit:
    writing the golden line 1 alone ("12 High St") over its "Flat 3, 12 High St" would lose the flat. So it
    gets `address_line2 || ', ' || address_line1` ("Flat 3, 12 High St") whenever the golden line 2 is set
    (and line 1 too: a flat alone would overwrite the street). Matching reads both forms as one address.

    The other way round is left alone on purpose: a golden line 1 that holds two lines ("12 High St", a line
    break, "Flat 3": how the demo CRM keeps a street) is written as it is into a source with a line 2, not
    split. Splitting fills that source's empty line 2, which makes its address block the more complete one,
    so the next golden run picks it and every other source gets rewritten in the other format.
    """
    if "address_line1" in src.accepts and "address_line2" not in src.fields:
        return {
            "address_line1": "CASE WHEN g.address_line2 IS NOT NULL AND g.address_line1 IS NOT NULL "
            "THEN g.address_line2 || ', ' || g.address_line1 ELSE g.address_line1 END"
        }
    return {}


def _golden_exprs(src: SourceConfig) -> dict[str, str]:
    """Per accepted field, the golden value to send, as SQL over golden_values `g` (NULL: leave the source's)."""
    exprs = {}
    address = _address_exprs(src)
    explicit = ", ".join(f"'{v}'" for v in EXPLICIT)
    for f in src.accepts:
        if f in address:
            exprs[f] = address[f]
        elif f in CONSENT_FIELDS:
            exprs[f] = f"CASE WHEN g.{f} IN ({explicit}) THEN g.{f} END"
        elif f.endswith("_at") and f.removesuffix("_at") in CONSENT_FIELDS:
            exprs[f] = f"CASE WHEN g.{f.removesuffix('_at')} IN ({explicit}) THEN g.{f} END"
        else:
            exprs[f] = f"g.{f}"
    return exprs


def _block_ok(src: SourceConfig, block: list[str]) -> str:
    """Whether a row may take the golden address block (SQL over `_g_<field>` and the staged columns).

    The block is written whole or not at all. Write-back never blanks a field, so where the golden address
    lacks a field the row has (a line 2, a region), the row's own value would stay beside the new address:
    an old flat on the street the customer moved to. That is only right when both describe the same place
    (the same postcode); otherwise the row keeps its address and is counted as `address_kept`.
    """
    leftover = " OR ".join(f"(_g_{f} IS NULL AND {f} IS NOT NULL)" for f in block)
    if "postal_code" not in src.fields:
        return f"NOT ({leftover})"
    same_place = (
        "(_g_postal_code_all IS NOT NULL AND postal_code IS NOT NULL AND "
        "upper(replace(_g_postal_code_all, ' ', '')) = upper(replace(postal_code, ' ', '')))"
    )
    if {"address_line1", "address_line2"} <= set(block):
        # A golden line 1 that already holds the row's line 2 ("12 High St", a line break, "Flat 3") would
        # leave the flat twice: once in the new line 1 and once in the line 2 that is never blanked.
        same_place += (
            " AND NOT (_g_address_line2 IS NULL AND address_line2 IS NOT NULL AND _g_address_line1 IS NOT NULL"
            " AND contains(lower(_g_address_line1), lower(address_line2)))"
        )
    return f"(NOT ({leftover}) OR ({same_place}))"


def _plan_sql(src: SourceConfig, cfg: HubConfig) -> str:
    """The plan of one source as one query; layers: the join with raw golden values (`_g_*`), the address
    block decision, the values to send (`_v_*`), then the filters."""
    exprs = _golden_exprs(src)
    fields = list(exprs)
    block = [f for f in fields if f in ADDRESS_BLOCK]
    gid_wanted = src.golden_id is not None
    is_date = lambda f: cfg.field_type(f) == FieldType.DATE  # noqa: E731
    raw = [f"({e}) AS _g_{f}" for f, e in exprs.items()] + ["g.postal_code AS _g_postal_code_all"]
    block_ok = _block_ok(src, block) if block else "true"
    # Canonical dates are midnight timestamps in pandas: compare and send them as timestamps.
    send = {f: (f"CASE WHEN _block_ok THEN _g_{f} END" if f in block else f"_g_{f}") for f in fields}
    send = {f: (f"CAST({e} AS TIMESTAMP)" if is_date(f) else e) for f, e in send.items()}
    staged = {f: (f"CAST({f} AS TIMESTAMP)" if is_date(f) else f) for f in fields}
    differs = " OR ".join(f"(_v_{f} IS NOT NULL AND _v_{f} IS DISTINCT FROM {staged[f]})" for f in fields) or "false"
    hashed = ", ".join(f"coalesce(CAST(_v_{f} AS VARCHAR), chr(0))" for f in fields) or "''"
    block_differs = " OR ".join(f"(_g_{f} IS NOT NULL AND _g_{f} IS DISTINCT FROM {f})" for f in block) or "false"
    already = "coalesce(_w_hash = _hash AND _w_version = source_version, false)"
    todo = f"(_differs AND NOT {already})" + (" OR _gid IS DISTINCT FROM _w_gid" if gid_wanted else "")
    # Stale: changed after the matching run the golden records come from, and not by write-back itself.
    stale = "(_std_version IS DISTINCT FROM source_version AND _w_version IS DISTINCT FROM source_version)"
    out = [f"_v_{f} AS {f}" for f in fields] + ([f"_gid AS {GOLDEN_ID}"] if gid_wanted else [])
    return f"""
        WITH s AS (SELECT * FROM {STAGED} WHERE source_system = $source),
        j AS (
            SELECT s.*, m.golden_id AS _gid, {", ".join(raw)},
                   r.source_version AS _std_version,
                   w.values_hash AS _w_hash, w.source_version AS _w_version, w.golden_id AS _w_gid
            FROM s
            JOIN {MEMBERS} AS m ON m.record_id = s.source_system || ':' || s.source_key
            JOIN {VALUES} AS g ON g.golden_id = m.golden_id
            LEFT JOIN (SELECT unique_id, source_version FROM {RECORDS}) AS r ON r.unique_id = m.record_id
            LEFT JOIN (SELECT * FROM {STATE} WHERE source_system = $source) AS w ON w.source_key = s.source_key),
        b AS (SELECT *, {block_ok} AS _block_ok FROM j),
        v AS (SELECT *, {", ".join(f"{e} AS _v_{f}" for f, e in send.items()) or "NULL AS _v_none"} FROM b),
        x AS (SELECT *, md5(concat_ws(chr(31), {hashed})) AS _hash, ({differs}) AS _differs,
                     (NOT _block_ok AND ({block_differs})) AS _kept
              FROM v)
        SELECT source_key, source_version AS expected_version, {", ".join([*out, ""])}
               _hash AS {_HASH}, _gid AS {_GID}, {stale} AS {_STALE}, ({todo}) AS _todo, _kept AS {_KEPT}
        FROM x
        WHERE ({todo}) OR _kept
        ORDER BY source_key"""


@dataclass
class Plan:
    rows: pd.DataFrame  # what to push, plus the internal hash and golden-id columns
    stale: pd.DataFrame  # rows left out: changed since the golden records were built
    address_kept: int  # rows whose address block is left alone (see _block_ok)


def _plan(ws: Workspace, cfg: HubConfig, source: str) -> Plan:
    if source not in cfg.sources:
        raise KeyError(f"no source named {source!r} (configured: {list(cfg.sources)})")
    for table in (MEMBERS, VALUES, RECORDS):
        if not ws.has_table(table):
            raise WritebackError(f"the workspace has no {table}: run `hub match` and `hub golden` first")
    _ensure_state(ws)
    frame = ws.con.execute(_plan_sql(cfg.sources[source], cfg), {"source": source}).df()
    for c in frame.columns:
        if pd.api.types.is_object_dtype(frame[c]):
            frame[c] = frame[c].astype("string")
    flag = lambda c: frame.pop(c).fillna(False).astype(bool).to_numpy()  # noqa: E731
    stale, todo, kept = flag(_STALE), flag("_todo"), flag(_KEPT)
    return Plan(
        rows=frame[todo & ~stale].reset_index(drop=True),
        stale=frame[todo & stale].reset_index(drop=True),
        address_kept=int((kept & ~stale).sum()),
    )


def _public(plan: pd.DataFrame) -> pd.DataFrame:
    return plan.drop(columns=[_HASH, _GID])


def plan_changes(ws: Workspace, cfg: HubConfig, source: str) -> pd.DataFrame:
    """What write-back would push to `source`: one row per staged record whose golden values differ from
    what the source holds (or whose golden id is not written yet), with `source_key`, `expected_version`
    (the staged source_version), one column per accepted field holding the golden value to send (NULL:
    leave the source's value) and `golden_id` when the source stores one. One DuckDB query; records
    changed since the golden records were built (stale) are left out."""
    return _public(_plan(ws, cfg, source).rows)


# ------------------------------------------------------------------------------------------------ push


def write_back(
    ws: Workspace,
    cfg: HubConfig,
    engine: sa.Engine,
    source: str,
    run_id: str,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
) -> WritebackResult:
    """Push the golden values of `run_id` (the published run the workspace's golden tables belong to)
    into `source`, in batches of BATCH_ROWS rows, one source transaction each.

    After each batch that is not a dry run: its audit goes to the serving store (`writeback_audit`), the
    rows it updated are read back from the source into staged_records (canonical values and version token
    exactly as a pull would see them), and `writeback_state` records what was written, so a second run
    plans nothing. A dry run computes the same report and audit and writes nothing anywhere."""
    started = time.perf_counter()
    say = progress or (lambda _line: None)
    planned = _plan(ws, cfg, source)
    plan, stale = planned.rows, planned.stale
    if planned.address_kept:
        say(f"{source}: {planned.address_kept:,} rows keep their address (see `address_kept`)")
    connector = open_connector(source, cfg)
    rows, audits = [], []
    for i in range(0, len(plan), BATCH_ROWS):
        batch = plan.iloc[i : i + BATCH_ROWS]
        report = connector.push(_public(batch), dry_run=dry_run)
        if not dry_run:
            _after_push(ws, engine, connector, run_id, batch, report.rows, report.changes, say)
        rows.append(report.rows)
        audits.append(report.changes)
        say(f"{source}: {min(i + BATCH_ROWS, len(plan)):,} / {len(plan):,} rows {'checked' if dry_run else 'pushed'}")
    status = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=["source_key", "status", "detail"])
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
    skipped = pd.concat([status[status["status"].isin(["conflict", "missing"])], stale_rows], ignore_index=True)
    count = lambda s: int((status["status"] == s).sum())  # noqa: E731
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
        seconds=time.perf_counter() - started,
    )


def _after_push(
    ws: Workspace,
    engine: sa.Engine,
    connector: Connector,
    run_id: str,
    batch: pd.DataFrame,
    status: pd.DataFrame,
    audit: pd.DataFrame,
    say: Callable[[str], None],
) -> None:
    """One committed batch: audit to the store first (the source has committed: the record of what changed
    must not wait for anything else), then the workspace, in one DuckDB transaction."""
    store.record_writeback(engine, run_id, connector.name, audit)
    by_key = status.set_index("source_key")["status"]
    batch = batch.set_index(batch["source_key"].astype("string"), drop=False)
    done = batch[by_key.reindex(batch.index).isin(["updated", "unchanged"]).to_numpy()]
    if done.empty:
        return
    updated = done.index[by_key.reindex(done.index).to_numpy() == "updated"].tolist()
    fresh, unreadable = _read_back(connector, updated)
    if unreadable:
        say(f"{connector.name}: {unreadable:,} rows written do not read back cleanly; the next pull quarantines them")
    versions = done["expected_version"].astype("string").copy()
    if len(fresh):
        versions.update(fresh.set_index("source_key")["source_version"].astype("string"))
    state = pd.DataFrame(
        {
            "source_system": connector.name,
            "source_key": done.index.astype("string"),
            "golden_id": done[_GID].astype("string").to_numpy(),
            "values_hash": done[_HASH].astype("string").to_numpy(),
            "source_version": versions.to_numpy(),
        }
    )
    with ws.transaction() as con:
        if len(fresh):
            con.register("_wb_fresh", fresh)
            cols = [c for c in fresh.columns if c not in ("source_system", "source_key")]
            sets = ", ".join(f"{c} = f.{c}" for c in cols)
            # Joined on both key columns: with a constant source_system filter instead, DuckDB 2.0 picks a
            # plan that takes seconds per thousand rows once nine or more columns are set.
            con.execute(
                f"""UPDATE {STAGED} SET {sets} FROM _wb_fresh AS f
                    WHERE {STAGED}.source_key = f.source_key AND {STAGED}.source_system = f.source_system"""
            )
            con.unregister("_wb_fresh")
        con.register("_wb_state", state)
        con.execute(
            f"""INSERT OR REPLACE INTO {STATE}
                SELECT source_system, source_key, golden_id, values_hash, source_version, now()::TIMESTAMP
                FROM _wb_state"""
        )
        con.unregister("_wb_state")


def _read_back(connector: Connector, keys: list[str]) -> tuple[pd.DataFrame, int]:
    """The rows just updated, read back and mapped exactly as a pull maps them (canonical values, derived
    consent times, version token): what staged_records must hold for them now; and how many of them would
    not parse (a pull would quarantine those). Only these rows are read."""
    if not keys:
        return pd.DataFrame(), 0
    with connector.write_session(dry_run=True) as session:
        raw = session.fetch(keys)
    if raw.empty:
        return pd.DataFrame(), 0
    src = connector.src
    records, reasons = to_canonical(raw[src.columns()].reset_index(drop=True), src, connector.cfg, connector.name)
    return records.reset_index(drop=True), int(reasons.notna().sum())


__all__ = [
    "BATCH_ROWS",
    "STATE",
    "WritebackError",
    "WritebackResult",
    "plan_changes",
    "published_run",
    "run_to_write",
    "write_back",
]
