"""Publishing one run: its golden records, xref, redirects, review queue and match model become the current
state in ONE transaction, so a reader sees the previous run or the new one, never half of one.

Versions: a golden record gets a new version only when its attribute values or extra change. Lineage
and record_count describe the latest run and are updated in place (current row and open history row);
version, updated_at and run_id stay those of the run that published the values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from hub import faults
from hub.encryption import scratch_duckdb
from hub.errors import Superseded
from hub.store import consent as consent_events
from hub.store import diff, upkeep, writes
from hub.store.bulk import key_batches, read_arrow
from hub.store.clock import utc_now
from hub.store.engine import write_transaction
from hub.store.inputs import few, normalize_golden, normalize_redirects, normalize_xref
from hub.store.match_model import MatchModel
from hub.store.review import publish_review
from hub.store.runs import last_published
from hub.store.schema import golden_records, run_log, xref


@dataclass(frozen=True)
class ConsentInput:
    """What a run publishes about consent (see `publish`)."""

    news: pd.DataFrame  # source_system, source_key, golden_id, channel, value, recorded_at (consent.changes_sql)
    rules: consent_events.Rules
    read_at: datetime  # when the run read the hub's consent choices


@dataclass(frozen=True)
class Scope:
    """What one run may change (an incremental build's publish): `golden_ids` (rebuilt or retired now) and
    `xref_keys` (source_system, source_key: the xref rows that differ from the published ones, or are gone). Only
    these rows of the store are read and diffed; every other golden record and xref row stays as it is."""

    golden_ids: pd.Series
    xref_keys: pd.DataFrame


@dataclass(frozen=True)
class PublishResult:
    run_id: str | None  # None: a preview (dry run), nothing was published
    new: int  # version 1 of a new golden id
    changed: int  # a new version: attribute values or extra changed
    lineage_updated: int  # same values, other lineage: updated in place, no version, no change-feed event
    unchanged: int
    retired: int
    xref_changed: int  # xref rows inserted, replaced or deleted
    match_model_published: int = 0  # the model version written this run; 0: none given or unchanged
    term_frequencies_changed: int = 0  # match_term_frequencies rows inserted, replaced or deleted

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k != "run_id"}


def publish(
    engine: sa.Engine,
    run_id: str,
    golden: pd.DataFrame,
    xref_frame: pd.DataFrame,
    redirects: pd.DataFrame | None = None,
    counts: Mapping[str, Any] | None = None,
    review: pd.DataFrame | None = None,
    model: MatchModel | None = None,
    consent: ConsentInput | None = None,
    scope: Scope | None = None,
    model_held: tuple[str, pd.DataFrame] | None = None,
) -> PublishResult:
    """Make one run's golden records, xref and redirects the current state, in ONE transaction.

    `golden`: every live golden record of the run — golden_id, every attribute of hub.model, lineage
    (JSON text or dict), record_count, and optionally extra (JSON text or dict). A record is a new
    version only when its attribute values or extra differ from the current row; the version's
    `changed_fields` (golden_history, for the change feed) name them (a new id: the fields with a
    value). A different lineage (another source record supplies the same value) or record_count is
    written in place, into the current row and the open history row, with no new version. JSON text
    is compared as given, so produce it deterministically; dicts are serialized with sorted keys
    (slower: pass text at scale).

    `xref_frame`: source_system, source_key, golden_id (live in `golden`), match_probability (NaN for
    singletons), link_type ('auto' | 'steward' | 'singleton') for every source record of the run.

    `redirects`: retired_id, surviving_id, optional reason (default 'merge', or 'deleted' without a
    survivor). Every id live now but absent from `golden` must have one; the survivor may itself be
    retired in this run (chains are followed) but must end at an id in `golden`. A missing
    surviving_id retires the id with no successor (all its source records are gone): it then resolves
    to None, and stays reserved. Rows for ids already retired or never published are ignored, so a
    cumulative redirect list is fine.

    `review`: the run's review queue (REVIEW_COLUMNS; id_l < id_r), replacing the queue in the same
    transaction, less the pairs a steward decided meanwhile; None leaves the queue as it is.

    `model`: the match model the run scored with and its term frequencies, for match-on-entry. The model
    row is replaced only when the version or the model changed, and only changed term-frequency rows are
    written; None leaves both as they are. `model_held`: (run id, the term frequencies the store held as of that
    published run: tf_column, value, golden_records), when the caller keeps a copy of what it published: while that
    run is still the store's last published one (checked on the diff's read snapshot, and under the lock), the diff
    reads them from there instead of the store.

    `consent`: the run's source consent values that changed since the hub last saw them (each becomes a consent
    event, written with the consent state by hub.store.consent.publish_source_events; the build diffed them against
    the state it read: changes_sql) and the time the run read the hub's consent choices: the golden records of
    choices recorded since are brought up to date after the run's values are written, so a run never undoes a newer
    choice.

    `scope`: only these golden ids and xref rows may change (Scope); `golden` and `xref_frame` hold only rows in it,
    and an xref row of `xref_frame` may point at a live golden id outside it. Without it, `golden` and `xref_frame`
    are the whole state and every live row is diffed.

    On PostgreSQL, the lookup tables the run rewrote a tenth or more of are then vacuumed and analyzed, after the
    commit (hub/store/upkeep.py), so lookups read the indexes alone at once rather than once autovacuum comes by.

    Raises ValueError (nothing written) on inconsistent input; any failure rolls the whole run back.
    The run_log row becomes 'published' with `counts` plus the publish counts; on failure it stays as
    it was — record the failure with fail_run. The diffs against the current state run in DuckDB
    (in memory) over Arrow copies of the current keys and hashes (and of the values of the rows whose
    hash differs); `preview` runs the same diff and writes nothing.
    """
    prepared = _prepare(engine, golden, xref_frame, redirects, model, run_id, scope, model_held)
    now = utc_now()
    with write_transaction(engine) as conn:
        if conn.dialect.name == "postgresql":  # one publisher at a time; plain reads go on
            conn.exec_driver_sql("LOCK TABLE golden_records IN EXCLUSIVE MODE")
        if last_published(conn) != prepared.head:
            raise Superseded(f"another run was published while {run_id!r} was being prepared; publish again")
        _check_run(conn, run_id)
        writes.publish_golden(conn, run_id, now, prepared.golden, prepared.plan)
        faults.point("publish:mid")
        writes.retire_ids(conn, run_id, now, prepared.retire)
        xref_changed = writes.publish_xref(conn, run_id, now, prepared.xref_plan)
        if review is not None:
            publish_review(conn, run_id, review)
        published = (
            writes.publish_model(conn, run_id, now, model, prepared.model_plan)
            if model is not None and prepared.model_plan
            else (0, 0)
        )
        if consent is not None:
            consent_events.publish_source_events(conn, run_id, now, consent.news, consent.rules)
            consent_events.refresh_golden(
                conn, consent.rules, consent_events.created_since(conn, consent.read_at), run_id
            )
        result = prepared.result(run_id, xref_changed, *published)
        _finish_run(conn, run_id, now, counts, result)
    golden_rows = result.new + result.changed + result.lineage_updated + result.retired
    written = {"golden_records": golden_rows, "golden_history": golden_rows, "xref": xref_changed,
               "match_term_frequencies": result.term_frequencies_changed}  # fmt: skip
    upkeep.after_publish(engine, written)
    return result


def preview(
    engine: sa.Engine,
    golden: pd.DataFrame,
    xref_frame: pd.DataFrame,
    redirects: pd.DataFrame | None = None,
    scope: Scope | None = None,
) -> PublishResult:
    """What `publish` would do with this run (new, changed, lineage-only, unchanged, retired, xref
    changes), from the same diff, writing nothing: a dry run. `run_id` is None; the match model is not
    compared. Raises ValueError on input publish would refuse."""
    prepared = _prepare(engine, golden, xref_frame, redirects, None, None, scope)
    return prepared.result(None, prepared.xref_plan["changed"])


@dataclass
class _Prepared:
    """A run against the read snapshot of the current state: what publish writes."""

    head: sa.Row[*tuple[Any, ...]] | None  # the last published run then
    golden: pd.DataFrame  # normalized golden records (normalize_golden)
    plan: dict[str, Any]  # diff.plan_golden
    retire: pd.DataFrame  # diff.plan_retire
    xref_plan: dict[str, Any]
    model_plan: dict[str, Any] | None

    def result(self, run_id: str | None, xref_changed: int, model: int = 0, tf_changed: int = 0) -> PublishResult:
        def count(key: str) -> int:
            return int(self.plan[key].sum())

        new, changed, lineage = count("new"), count("changed"), count("lineage")
        return PublishResult(
            run_id=run_id,
            new=new,
            changed=changed,
            lineage_updated=lineage,
            unchanged=len(self.golden) - new - changed - lineage,
            retired=len(self.retire),
            xref_changed=xref_changed,
            match_model_published=model,
            term_frequencies_changed=tf_changed,
        )


def _prepare(
    engine: sa.Engine,
    golden: pd.DataFrame,
    xref_frame: pd.DataFrame,
    redirects: pd.DataFrame | None,
    model: MatchModel | None,
    run_id: str | None,
    scope: Scope | None,
    model_held: tuple[str, pd.DataFrame] | None = None,
) -> _Prepared:
    """Check the input and diff it against a read snapshot, so publish holds the write lock only while
    writing: on SQLite other writers (a steward's pin) wait for it. Only publish writes golden records and
    xref, so "no other run published since the snapshot" (checked under the lock) keeps the diff valid."""
    db = scratch_duckdb()
    try:
        g = normalize_golden(golden, db)
        x = normalize_xref(xref_frame)
        r = normalize_redirects(redirects)
        db.register("inc", g[["rn", "golden_id", "row_hash", "lineage_hash", "record_count"]])
        db.register("inc_x", x)
        if scope is None:
            diff.check_xref_targets(db)
        with engine.connect() as conn:
            head = last_published(conn)
            if run_id is not None:
                _check_run(conn, run_id)
            gr, xr = golden_records.c, xref.c
            current = sa.select(gr.golden_id, gr.version, gr.row_hash, gr.lineage_hash, gr.record_count)
            current_x = sa.select(xr.source_system, xr.source_key, xr.golden_id, xr.match_probability, xr.link_type)
            if scope is None:
                db.register("cur", read_arrow(conn, current))
                db.register("cur_x", read_arrow(conn, current_x))
            else:
                _read_scope(conn, db, scope, current, current_x)
            held = model_held[1] if model_held is not None and head is not None and head[0] == model_held[0] else None
            model_plan = diff.plan_model(conn, db, model, held) if model is not None else None
            plan = diff.plan_golden(conn, db, g)
            if scope is not None:
                _check_outside(conn, db, plan["retired"])
        retire = diff.plan_retire(plan["retired"], r, g["golden_id"])
        xref_plan = diff.plan_xref(db, x)
    finally:
        db.close()
    return _Prepared(head, g, plan, retire, xref_plan, model_plan)


def _read_scope(
    conn: sa.Connection, db: duckdb.DuckDBPyConnection, scope: Scope, current: sa.Select[Any], current_x: sa.Select[Any]
) -> None:
    """`cur` and `cur_x`: the store's rows in the scope, read by key (bulk.key_batches); `scope_ids`, `scope_x`:
    the scope. Raises ValueError when the run's rows leave it."""
    ids = pd.DataFrame({"golden_id": pd.Series(scope.golden_ids, dtype=object).drop_duplicates()})
    keys = scope.xref_keys[["source_system", "source_key"]].astype(object).drop_duplicates()
    db.register("scope_ids", ids)
    db.register("scope_x", keys)
    outside = db.execute("SELECT golden_id FROM inc ANTI JOIN scope_ids USING (golden_id) LIMIT 5").fetchall()
    outside_x = db.execute(
        "SELECT source_key FROM inc_x ANTI JOIN scope_x USING (source_system, source_key) LIMIT 5"
    ).fetchall()
    if outside or outside_x:
        raise ValueError(f"publish: rows outside the scope: golden ids {few(r[0] for r in outside)}, "
                         f"xref keys {few(r[0] for r in outside_x)}")  # fmt: skip
    gr, xr = golden_records.c, xref.c
    id_list = ids["golden_id"].tolist()
    db.register("cur", _batched(conn, current, key_batches([gr.golden_id], id_list)))
    pairs = list(keys.itertuples(index=False, name=None))
    db.register("cur_x", _batched(conn, current_x, key_batches([xr.source_system, xr.source_key], pairs)))
    # an xref row may point at a golden id outside the scope: it must be live, and stay so
    targets: list[str] = (
        db.execute("SELECT DISTINCT golden_id FROM inc_x ANTI JOIN inc USING (golden_id)").df()["golden_id"].tolist()
    )
    live: set[str] = set()
    for condition in key_batches([gr.golden_id], targets):
        live |= {r[0] for r in conn.execute(sa.select(gr.golden_id).where(condition))}
    in_scope = set(id_list)
    dead = [t for t in targets if t not in live or t in in_scope]
    if dead:
        raise ValueError(f"xref: golden ids {few(dead)} are not in the golden records")


def _check_outside(conn: sa.Connection, db: duckdb.DuckDBPyConnection, retired: pd.Series) -> None:
    """No xref row outside the scope may point at an id this run retires (it would be left dangling)."""
    xr = xref.c
    stmt = sa.select(xr.source_system, xr.source_key)
    rows = _batched(conn, stmt, key_batches([xr.golden_id], retired.tolist()))
    db.register("retired_x", rows)
    left = db.execute("SELECT source_key FROM retired_x ANTI JOIN scope_x USING (source_system, source_key) LIMIT 5")
    if stuck := left.fetchall():
        raise ValueError(f"xref rows {few(r[0] for r in stuck)} outside the scope point at golden ids retired now")


def _batched(conn: sa.Connection, stmt: sa.Select[Any], wheres: list[Any]) -> pa.Table:
    """One read per condition (bulk.key_batches), as one Arrow table (empty, typed, for no condition)."""
    tables = [read_arrow(conn, stmt.where(w)) for w in wheres] or [read_arrow(conn, stmt.where(sa.false()))]
    return pa.concat_tables(tables)


def _check_run(conn: sa.Connection, run_id: str) -> None:
    status = conn.scalar(sa.select(run_log.c.status).where(run_log.c.run_id == run_id))
    if status not in (None, "running"):
        raise ValueError(f"run {run_id!r} is {status}; publish a new run")


def _finish_run(
    conn: sa.Connection, run_id: str, now: datetime, counts: Mapping[str, Any] | None, result: PublishResult
) -> None:
    payload = json.dumps({**(counts or {}), "publish": result.counts()}, default=str)
    values = {"status": "published", "finished_at": now, "counts": payload}
    done = conn.execute(run_log.update().where(run_log.c.run_id == run_id).values(**values))
    if done.rowcount == 0:  # the caller skipped start_run
        conn.execute(run_log.insert().values(run_id=run_id, started_at=now, **values))
