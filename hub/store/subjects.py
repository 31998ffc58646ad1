"""Data-subject requests in the serving store: the request log, the suppression list, restrictions, and the rows
of one person (to show them, or to erase them).

A person here is a set of golden ids (live ones and the retired ids that lead to them) and a set of record ids
(`source_system:source_key`). Erasure deletes their golden records, history, redirects, xref, pins, decisions, queue
rows and write-back journal, keeps the write-back audit rows with their values cleared and the source key replaced
by its keyed hash, and takes their contribution off the published term-frequency counts."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa

from hub.catalogue import record_id, split_record_id
from hub.store import consent_state
from hub.store.audit import journal_forget
from hub.store.clock import utc_now
from hub.store.schema import consent_state as consent_state_table
from hub.store.schema import (
    golden_history,
    golden_records,
    id_redirects,
    match_decisions,
    match_term_frequencies,
    metadata,
    overrides_table,
    review_queue,
    run_log,
    subject_requests,
    subject_restrictions,
    subject_suppressions,
    writeback_audit_table,
    xref,
)

# ------------------------------------------------------------------------------------------------ request log


def log_request(conn: sa.Connection, action: str, by: str, received_at: datetime, due_at: datetime) -> str:
    """A new request, outcome 'received'; returns its id."""
    request_id = uuid.uuid4().hex
    conn.execute(
        subject_requests.insert().values(
            request_id=request_id, action=action, requested_by=by[:255], received_at=received_at, due_at=due_at,
            outcome="received",
        )
    )  # fmt: skip
    return request_id


def finish_request(
    conn: sa.Connection, request_id: str, outcome: str, subject: str | None, detail: dict[str, Any]
) -> None:
    r = subject_requests.c
    conn.execute(
        subject_requests.update()
        .where(r.request_id == request_id)
        .values(outcome=outcome, subject=subject, detail=json.dumps(detail, default=str), finished_at=utc_now())
    )


def request_rows(conn: sa.Connection, limit: int = 100) -> list[dict[str, Any]]:
    """The latest requests first, with their detail parsed."""
    r = subject_requests.c
    rows = conn.execute(sa.select(subject_requests).order_by(r.received_at.desc(), r.request_id).limit(limit))
    return [{**row._asdict(), "detail": json.loads(row.detail) if row.detail else None} for row in rows]


# ------------------------------------------------------------------------------------------ suppression list


def add_suppressions(conn: sa.Connection, hashes: pd.DataFrame, request_id: str) -> int:
    """Add (hash, kind) rows not listed yet; returns how many were new."""
    s = subject_suppressions.c
    fresh = hashes.drop_duplicates("hash")
    known = {r[0] for r in conn.execute(sa.select(s.hash).where(s.hash.in_(fresh["hash"].tolist())))}
    fresh = fresh[~fresh["hash"].isin(known)]
    if len(fresh):
        now = utc_now()
        conn.execute(
            subject_suppressions.insert(),
            [{"hash": h, "kind": k, "request_id": request_id, "created_at": now} for h, k in fresh.itertuples(False)],
        )
    return len(fresh)


# ------------------------------------------------------------------------------------------------ restriction


def restrict(conn: sa.Connection, golden_id: str, records: Sequence[str], request_id: str) -> int:
    """Restrict processing of a golden record and its source records (replacing an earlier restriction)."""
    lift(conn, [golden_id], records)
    now = utc_now()
    conn.execute(
        subject_restrictions.insert(),
        [{"record_id": r, "golden_id": golden_id, "request_id": request_id, "restricted_at": now} for r in records],
    )
    return len(records)


def lift(conn: sa.Connection, golden_ids: Sequence[str], records: Sequence[str] = ()) -> int:
    c = subject_restrictions.c
    result = conn.execute(
        subject_restrictions.delete().where(sa.or_(c.golden_id.in_(list(golden_ids)), c.record_id.in_(list(records))))
    )
    return int(result.rowcount or 0)


def restricted(conn: sa.Connection) -> pd.DataFrame:
    """Every restricted source record: record_id, golden_id (the golden record frozen for it)."""
    c = subject_restrictions.c
    rows = conn.execute(sa.select(c.record_id, c.golden_id).order_by(c.golden_id, c.record_id)).all()
    return pd.DataFrame(rows, columns=["record_id", "golden_id"], dtype="string")


# ------------------------------------------------------------------------------------------ a person's rows


def _by_record(system_col: sa.ColumnElement[Any], key_col: sa.ColumnElement[Any], records: Iterable[str]) -> Any:
    """WHERE (system, key) is one of `records`, grouped by system."""
    keys: dict[str, list[str]] = {}
    for rid in records:
        system, key = split_record_id(rid)
        keys.setdefault(system, []).append(key)
    if not keys:
        return sa.false()
    return sa.or_(*[sa.and_(system_col == s, key_col.in_(ks)) for s, ks in keys.items()])


def related_ids(conn: sa.Connection, live: Sequence[str]) -> list[str]:
    """`live` and every id retired into one of them (merged away, redirected)."""
    r = id_redirects.c
    rows = conn.execute(
        sa.select(r.retired_id).where(sa.or_(r.surviving_id.in_(list(live)), r.retired_into.in_(list(live))))
    )
    return sorted({*live, *(row[0] for row in rows)})


def xref_records(conn: sa.Connection, golden_ids: Sequence[str]) -> list[str]:
    x = xref.c
    rows = conn.execute(sa.select(x.source_system, x.source_key).where(x.golden_id.in_(list(golden_ids))))
    return sorted(record_id(s, k) for s, k in rows)


def golden_of_records(conn: sa.Connection, records: Sequence[str]) -> list[str]:
    x = xref.c
    rows = conn.execute(sa.select(x.golden_id).where(_by_record(x.source_system, x.source_key, records)))
    return sorted({r[0] for r in rows})


def golden_with_email(conn: sa.Connection, email: str) -> list[str]:
    g = golden_records.c
    rows = conn.execute(sa.select(g.golden_id).where(sa.func.lower(g.email) == email.strip().lower()))
    return sorted(r[0] for r in rows)


def _frame(conn: sa.Connection, stmt: sa.Select[Any]) -> pd.DataFrame:
    result = conn.execute(stmt)
    return pd.DataFrame(result.all(), columns=list(result.keys()))


def subject_rows(conn: sa.Connection, golden_ids: Sequence[str], records: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Everything the store holds about a person, one frame per table (hashes and internal columns left out)."""
    ids, recs = list(golden_ids), list(records)
    g, h, x, r = golden_records.c, golden_history.c, xref.c, id_redirects.c
    o, d, q, a = overrides_table.c, match_decisions.c, review_queue.c, writeback_audit_table.c
    hidden = {"row_hash", "lineage_hash"}
    return {
        "golden_record": _frame(conn, sa.select(*[c for c in g if c.name not in hidden]).where(g.golden_id.in_(ids))),
        "golden_history": _frame(
            conn, sa.select(golden_history).where(h.golden_id.in_(ids)).order_by(h.golden_id, h.version)
        ),
        "xref": _frame(
            conn,
            sa.select(xref)
            .where(sa.or_(x.golden_id.in_(ids), _by_record(x.source_system, x.source_key, recs)))
            .order_by(x.source_system, x.source_key),
        ),
        "redirects": _frame(
            conn,
            sa.select(id_redirects).where(
                sa.or_(r.retired_id.in_(ids), r.surviving_id.in_(ids), r.retired_into.in_(ids))
            ),
        ),
        "pins": _frame(conn, sa.select(overrides_table).where(o.golden_id.in_(ids))),
        "steward_decisions": _frame(
            conn, sa.select(match_decisions).where(sa.or_(d.id_l.in_(recs), d.id_r.in_(recs))).order_by(d.decided_at)
        ),
        "review_queue": _frame(conn, sa.select(review_queue).where(sa.or_(q.id_l.in_(recs), q.id_r.in_(recs)))),
        "writeback_audit": _frame(
            conn,
            sa.select(writeback_audit_table)
            .where(_by_record(a.source_system, a.source_key, recs))
            .order_by(a.written_at, a.source_system, a.source_key),
        ),
        "restrictions": _frame(
            conn,
            sa.select(subject_restrictions).where(
                sa.or_(subject_restrictions.c.golden_id.in_(ids), subject_restrictions.c.record_id.in_(recs))
            ),
        ),
    }


# Tables the functions above read and erase by name; any other table of the store that names a person by a golden id,
# a record id or a source record is shown and erased by those columns (`other_tables`), so a table added later is
# covered without a change here.
_NAMED = {"golden_records", "golden_history", "xref", "id_redirects", "overrides", "match_decisions", "review_queue",
          "writeback_audit", "writeback_journal", "subject_restrictions", "match_term_frequencies", "run_log",
          "subject_requests", "subject_suppressions", "consent_state"}  # fmt: skip


def _person_filter(table: sa.Table, ids: Sequence[str], recs: Sequence[str]) -> Any:
    """WHERE a row of `table` names the person, or None when its columns cannot say."""
    c, conds = table.c, []
    if "golden_id" in c:
        conds.append(c.golden_id.in_(list(ids)))
    for system in ("source_system", "source"):  # consent_events names its record by source + source_key
        if system in c and "source_key" in c:
            conds.append(_by_record(c[system], c.source_key, recs))
    conds += [c[n].in_(list(recs)) for n in ("record_id", "id_l", "id_r") if n in c]
    return sa.or_(*conds) if conds else None


def other_tables() -> list[sa.Table]:
    """The store's tables not handled by name that can name a person."""
    probe = ["x"]
    return [t for t in metadata.sorted_tables if t.name not in _NAMED and _person_filter(t, probe, []) is not None]


def other_rows(conn: sa.Connection, golden_ids: Sequence[str], records: Sequence[str]) -> dict[str, pd.DataFrame]:
    return {t.name: _frame(conn, sa.select(t).where(_person_filter(t, golden_ids, records))) for t in other_tables()}


def erase_rows(
    conn: sa.Connection,
    golden_ids: Sequence[str],
    records: Sequence[str],
    hashed_keys: dict[str, str],
    term_counts: pd.DataFrame,
    values: Sequence[str] = (),
) -> dict[str, int]:
    """Erase a person from the store (one transaction: the caller's); returns rows touched per table.
    `hashed_keys`: record id -> the keyed hash its audit rows keep instead of the key. `term_counts`: tf_column,
    value, records: how many of the person's scored records hold each value (taken off the published counts).
    `values`: their e-mails and phones, cut out of run-log messages (a blocked run's gate names failing values)."""
    ids, recs = list(golden_ids), list(records)
    g, h, x, r = golden_records.c, golden_history.c, xref.c, id_redirects.c
    o, d, q, a = overrides_table.c, match_decisions.c, review_queue.c, writeback_audit_table.c
    t, rs = match_term_frequencies.c, subject_restrictions.c
    done: dict[str, int] = {}

    def run(name: str, stmt: Any) -> None:
        done[name] = done.get(name, 0) + int(conn.execute(stmt).rowcount or 0)

    run("golden_records", golden_records.delete().where(g.golden_id.in_(ids)))
    run("golden_history", golden_history.delete().where(h.golden_id.in_(ids)))
    run("xref", xref.delete().where(sa.or_(x.golden_id.in_(ids), _by_record(x.source_system, x.source_key, recs))))
    run(
        "id_redirects",
        id_redirects.delete().where(sa.or_(r.retired_id.in_(ids), r.surviving_id.in_(ids), r.retired_into.in_(ids))),
    )
    run("overrides", overrides_table.delete().where(o.golden_id.in_(ids)))
    run("match_decisions", match_decisions.delete().where(sa.or_(d.id_l.in_(recs), d.id_r.in_(recs))))
    run(
        "review_queue",
        review_queue.delete().where(
            sa.or_(q.id_l.in_(recs), q.id_r.in_(recs), q.golden_id_l.in_(ids), q.golden_id_r.in_(ids))
        ),
    )
    held = pd.DataFrame([split_record_id(r) for r in recs], columns=["source_system", "source_key"])
    done["writeback_journal"] = journal_forget(conn, held)
    run(
        "subject_restrictions",
        subject_restrictions.delete().where(sa.or_(rs.golden_id.in_(ids), rs.record_id.in_(recs))),
    )
    for rid in recs:  # a handful of records: one statement each
        system, key = split_record_id(rid)
        run(
            "writeback_audit",
            writeback_audit_table.update()
            .where(a.source_system == system, a.source_key == key)
            .values(source_key=hashed_keys[rid], old_value=None, new_value=None),
        )
    for tf_column, value, n in term_counts.itertuples(index=False):
        key_match = sa.and_(t.tf_column == tf_column, t.value == value)
        run("match_term_frequencies", match_term_frequencies.update().where(key_match).values(
            golden_records=t.golden_records - int(n)))  # fmt: skip
        conn.execute(match_term_frequencies.delete().where(key_match, t.golden_records < 2))
    for table in other_tables():
        run(table.name, table.delete().where(_person_filter(table, ids, recs)))
    # After consent_events: the state follows the log. The person's records may hold state under a golden id that is
    # not theirs any more (a split): those rows go by record.
    cs = consent_state_table.c
    run("consent_state", consent_state_table.delete().where(_by_record(cs.source, cs.holder, recs)))
    done["consent_state"] = done.get("consent_state", 0) + consent_state.refold(conn, ids)
    for value in values:
        if value:
            message = run_log.c.message
            run("run_log", run_log.update().where(message.contains(value, autoescape=True)).values(
                message=sa.func.replace(message, value, "[erased]")))  # fmt: skip
    return done


def term_columns(conn: sa.Connection) -> list[str]:
    """The columns the published term-frequency counts are kept for."""
    t = match_term_frequencies.c
    return sorted(r[0] for r in conn.execute(sa.select(t.tf_column).distinct()))
