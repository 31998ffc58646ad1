"""`hub subject erase` and POST /v1/subjects/erase: a person removed from every store the hub owns, their sources
told through each source's erasure action, and a suppression entry so no later pull re-creates them.

In order, holding the workspace for the whole request (no run can pull or publish in between):
1. the subject is found; their identifiers (source keys, e-mails, phones, name with birth date, from their staged
   records and every version of their golden records) are hashed with the privacy key;
2. each source with a record of theirs runs its erasure action (a failure stops here, nothing of the hub's erased
   yet, so the request can be made again);
3. in one serving-store transaction: the suppression entries are added and the person's rows erased
   (hub.store.subjects);
4. in one workspace transaction: their rows leave every table; then the workspace file is rewritten and a SQLite
   store vacuumed, so no freed page keeps a value.
The request log names the subject by a keyed hash of their golden id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import sqlalchemy as sa

from hub import store
from hub.catalogue import split_record_id
from hub.config import HubConfig
from hub.encryption import key_for, scratch_duckdb
from hub.store import subjects as rows
from hub.subjects import workspace as wsp
from hub.subjects.find import SubjectRef, find
from hub.subjects.keyed import hmac_hex, hmac_sql, identifiers_sql, require_key
from hub.subjects.log import logged
from hub.subjects.open import open_workspace

# (cfg, source name, keys as staged) -> what the source did: an object with as_dict() -> source, action, rows,
# changed, task (connectors.erasure.erase_in_source; the composition root passes it in).
EraseInSource = Callable[[HubConfig, str, list[str]], Any]


@dataclass
class Erasure:
    request_id: str
    golden_records: int
    records: int
    suppressed: int  # new suppression entries
    sources: list[dict[str, Any]]
    store: dict[str, int]
    workspace: dict[str, int]
    tasks: dict[str, list[str]] = field(default_factory=dict)  # per source: keys a person must erase there


def erase(
    cfg: HubConfig,
    engine: sa.Engine,
    ref: SubjectRef,
    by: str,
    erase_in_source: EraseInSource,
    wait_seconds: float | None = None,
) -> Erasure:
    key = require_key(cfg, "erasure")
    with logged(engine, cfg, "erase", by) as entry:
        with open_workspace(cfg, "hub subject erase", wait_seconds) as ws:
            with engine.connect() as conn:
                subject = find(conn, ws, ref)
                held = rows.subject_rows(conn, subject.golden_ids, subject.records)
                tf_columns = rows.term_columns(conn)
            entry.subject = "hmac:" + hmac_hex(key, "golden_id:" + (subject.live_ids or subject.records)[0])[:40]
            staged = wsp.source_rows(ws, subject.records)["source_records"]
            hashes = identifier_hashes(key, subject.records, [staged, held["golden_record"], held["golden_history"]])
            counts = wsp.term_counts(ws, subject.records, tf_columns)
            by_source: dict[str, list[str]] = {}
            for rid in subject.records:
                system, source_key = split_record_id(rid)
                if system in cfg.sources:
                    by_source.setdefault(system, []).append(source_key)
            done = [erase_in_source(cfg, name, keys).as_dict() for name, keys in sorted(by_source.items())]
            entry.detail["sources"] = [{k: v for k, v in d.items() if k != "task"} for d in done]
            key_hashes = {rid: hmac_hex(key, f"source_key:{rid}") for rid in subject.records}
            with store.write_transaction(engine) as conn:
                if conn.dialect.name == "sqlite":
                    conn.exec_driver_sql("PRAGMA secure_delete = ON")
                added = rows.add_suppressions(conn, hashes, entry.request_id)
                values = _values(staged, held["golden_record"], held["golden_history"])
                in_store = rows.erase_rows(conn, subject.golden_ids, subject.records, key_hashes, counts, values)
            in_ws = wsp.erase(ws, subject.records, subject.golden_ids)
            ws.close()
            wsp.compact(cfg.workspace, key_for(cfg))
        scrub_store(engine)
        entry.detail |= {"golden_records": len(subject.live_ids), "records": len(subject.records), "suppressed": added}
        entry.outcome = "partial" if any(d["action"] == "task" and d["rows"] for d in done) else "done"
    return Erasure(
        entry.request_id, len(subject.live_ids), len(subject.records), added, entry.detail["sources"], in_store, in_ws,
        {d["source"]: d["task"] for d in done if d["task"]},
    )  # fmt: skip


def identifier_hashes(key: bytes, records: list[str], frames: list[pd.DataFrame]) -> pd.DataFrame:
    """hash, kind: the keyed hashes of every identifier in `frames` (rows with email, phone, first_name,
    last_name, date_of_birth) and of every record id, normalized as a pull normalizes them (hub.subjects.keyed)."""
    cols = ("source_system", "source_key", "email", "phone", "first_name", "last_name", "date_of_birth")
    parts = [pd.DataFrame({c: f.get(c) for c in cols}).astype(object) for f in frames if len(f)]
    keyed = [split_record_id(r) for r in records]
    parts.append(pd.DataFrame({"source_system": [s for s, _ in keyed], "source_key": [k for _, k in keyed]}))
    values = pd.concat(parts, ignore_index=True).reindex(columns=list(cols))
    values["date_of_birth"] = pd.to_datetime(values["date_of_birth"], errors="coerce")
    for c in cols:
        if c != "date_of_birth":
            values[c] = values[c].astype("string")
    values["_row"] = range(len(values))
    con = scratch_duckdb()
    try:
        con.register("_values", values)
        return con.execute(
            f"SELECT DISTINCT {hmac_sql(key, 'ident')} AS hash, kind FROM ({identifiers_sql('_values')})"
        ).df()
    finally:
        con.close()


def _values(*frames: pd.DataFrame) -> list[str]:
    """The person's e-mails and phones, as held (to cut out of free text)."""
    found = {str(v) for f in frames for c in ("email", "phone") if c in f for v in f[c].dropna()}
    found |= {v.lower() for v in found}
    return sorted(v for v in found if len(v) >= 5)


def scrub_store(engine: sa.Engine) -> None:
    """A SQLite store rewritten (VACUUM) and its write-ahead log emptied: deleted rows leave no bytes in the files.
    PostgreSQL reclaims dead rows itself (autovacuum); they are not readable through SQL meanwhile."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.execute("VACUUM")
        cur.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        cur.close()
    finally:
        raw.close()
