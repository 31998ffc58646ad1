"""Consent choices: the append-only `consent_events` table, the current choice per channel and purpose, and the
golden record's consent fields brought up to date with the choices people made through the hub.

A choice is an event: a channel (email, sms, phone, post), a purpose (hub.yaml `consent.purposes`), a value, the
time the person made it, where it came from (a source system, `api`, `steward`) and its legal basis. The global
do-not-contact flag is an event on channel and purpose `all` ('denied' sets it, 'granted' lifts it).

The rule, everywhere: per channel and purpose the most recent explicit choice ('granted' / 'denied') wins; at the
same time 'denied' wins; 'unknown' is history, not a choice. So an opt-out is never overwritten by an older opt-in,
whatever its source. While do-not-contact is set, every channel reads denied for its purposes.

The choice in force per holder (a source record, or a golden record for the hub's choices), channel and purpose is
kept beside the log in `consent_state` (hub.store.consent_state), written in the same transaction as each event: a
run reads that, once, at build (`hub_choices`, `source_choices`), and a publish only writes what changed.

The golden record's consent_<channel> fields hold the choices of `consent.source_purpose` (the one the sources'
consent columns record). A choice of that purpose made through the hub changes them at once (`refresh_golden`: a
new version, seen by reads and the change feed), and survivorship weighs it on every later run
(`hub_choices`), so write-back carries it to every source that accepts the field. Lifting do-not-contact does the
same: the channels the flag decided take the record's own consent back at once (`own_consent`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from hub import lineage as stored_lineage
from hub.encryption import scratch_duckdb
from hub.model import CHANNELS, Consent
from hub.store import consent_state as state
from hub.store.bulk import read_frame, read_frame_in
from hub.store.clock import utc_naive, utc_now
from hub.store.inputs import normalize_golden
from hub.store.reads import resolve
from hub.store.schema import (
    ATTRIBUTES,
    STORED_COLUMNS,
    consent_events,
    consent_state,
    golden_history,
    golden_records,
    id_redirects,
    xref,
)
from hub.store.steward import overrides
from hub.store.writes import write_versions

HUB_SOURCES, ALL, EXPLICIT = state.HUB_SOURCES, state.ALL, state.EXPLICIT
DO_NOT_CONTACT_RULE = "do_not_contact"
EVENT_COLUMNS = [c.name for c in consent_events.c]


@dataclass(frozen=True)
class Rules:
    """What hub.yaml's `consent:` block says (hub.config.ConsentConfig), as the store needs it."""

    purposes: tuple[str, ...]
    legal_bases: tuple[str, ...]
    source_purpose: str
    do_not_contact_purposes: tuple[str, ...]
    source_legal_basis: str

    @classmethod
    def of(cls, cfg: Any) -> Rules:
        """From hub.config.ConsentConfig."""
        return cls(
            tuple(cfg.purposes), tuple(cfg.legal_bases), cfg.source_purpose, tuple(cfg.do_not_contact_purposes),
            cfg.source_legal_basis,
        )  # fmt: skip


def _live_id() -> sa.ColumnElement[Any]:
    return sa.func.coalesce(id_redirects.c.surviving_id, consent_events.c.golden_id)


def _events_of(conn: sa.Connection, live: str) -> list[dict[str, Any]]:
    """Every event of a live golden id, also those recorded on ids merged into it, oldest first."""
    e = consent_events.c
    stmt = (
        sa.select(consent_events)
        .select_from(consent_events.outerjoin(id_redirects, id_redirects.c.retired_id == e.golden_id))
        .where(_live_id() == live)
        .order_by(e.recorded_at, e.created_at, e.event_id)
    )
    return [dict(r) for r in conn.execute(stmt).mappings()]


def _wins(event: dict[str, Any], best: dict[str, Any] | None) -> bool:
    """Whether `event` is a newer choice than `best`: later, or as late and denied (an opt-out wins a tie)."""
    if event["value"] not in EXPLICIT:
        return False
    if best is None:
        return True
    mine = (event["recorded_at"], event["value"] == Consent.DENIED.value)
    theirs = (best["recorded_at"], best["value"] == Consent.DENIED.value)
    return mine > theirs


def latest(events: Iterable[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (channel, purpose), the event of the most recent explicit choice."""
    best: dict[tuple[str, str], dict[str, Any]] = {}
    for ev in events:
        key = (ev["channel"], ev["purpose"])
        if _wins(ev, best.get(key)):
            best[key] = ev
    return best


def do_not_contact(events: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The event that set the do-not-contact flag, if it is set now (None: not set, or lifted since)."""
    flag = [ev for ev in events if ev["channel"] == ALL and ev["purpose"] == ALL]
    last = max(flag, key=lambda ev: (ev["recorded_at"], ev["created_at"]), default=None)
    return last if last is not None and last["value"] == Consent.DENIED.value else None


def current(conn: sa.Connection, golden_id: str, rules: Rules) -> dict[str, Any] | None:
    """The consent of a golden record now (None: no live record): `do_not_contact` (the event that set it, or
    None) and per channel x purpose the choice in force (`value`: the latest explicit choice, `effective`: what
    it comes to with do-not-contact), with its time, source, legal basis and event id."""
    live = resolve(conn, golden_id)
    if live is None:
        return None
    events = _events_of(conn, live)
    best, dnc = latest(events), do_not_contact(events)
    choices = []
    for channel in CHANNELS:
        for purpose in rules.purposes:
            ev = best.get((channel, purpose))
            value = ev["value"] if ev else Consent.UNKNOWN.value
            blocked = dnc is not None and purpose in rules.do_not_contact_purposes
            choices.append(
                {
                    "channel": channel,
                    "purpose": purpose,
                    "value": value,
                    "effective": Consent.DENIED.value if blocked else value,
                    "recorded_at": ev["recorded_at"] if ev else None,
                    "source": ev["source"] if ev else None,
                    "legal_basis": ev["legal_basis"] if ev else None,
                    "event_id": ev["event_id"] if ev else None,
                }
            )
    return {"golden_id": live, "do_not_contact": dnc, "choices": choices}


def history(conn: sa.Connection, golden_id: str) -> tuple[str, list[dict[str, Any]]] | None:
    """(live id, every consent event of the golden record, oldest first); None: no live record."""
    live = resolve(conn, golden_id)
    return None if live is None else (live, _events_of(conn, live))


def record(
    conn: sa.Connection,
    rules: Rules,
    golden_id: str,
    *,
    channel: str,
    purpose: str,
    value: str,
    legal_basis: str,
    source: str,
    recorded_by: str,
    recorded_at: datetime | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Store one choice made through the hub (`source` 'api' or 'steward') and bring the golden record's consent
    fields up to date at once. Channel `all` with purpose `all` is the do-not-contact flag. Raises KeyError for
    no live golden record, ValueError for a channel, purpose, value or legal basis hub.yaml does not know. Call
    inside write_transaction. Returns the stored event. BadChoice is a ValueError naming the field."""
    if source not in HUB_SOURCES:
        raise BadChoice("source", f"source {source!r} is not one of {HUB_SOURCES}")
    _check(rules, channel, purpose, value, legal_basis)
    live = resolve(conn, golden_id)
    if live is None:
        raise KeyError(f"no live golden record {golden_id!r}")
    now = utc_now()
    when = utc_naive(recorded_at) if recorded_at is not None else now
    if when > now:
        raise BadChoice("recorded_at", "recorded_at is in the future: a choice is recorded when it was made")
    event = {
        "event_id": uuid.uuid4().hex, "golden_id": live, "channel": channel, "purpose": purpose, "value": value,
        "legal_basis": legal_basis, "recorded_at": when, "source": source, "source_key": None,
        "recorded_by": recorded_by, "note": note, "run_id": None, "created_at": now,
    }  # fmt: skip
    if conn.dialect.name == "postgresql":  # one writer of golden records at a time, as publish
        conn.exec_driver_sql("LOCK TABLE golden_records IN EXCLUSIVE MODE")
    state.add(conn, event)
    if purpose in (rules.source_purpose, ALL):  # the version's run_id names the event that made it
        refresh_golden(conn, rules, [live], f"consent:{event['event_id']}")
    return event


class BadChoice(ValueError):
    """A choice hub.yaml's `consent:` block does not allow; `field` names what is wrong."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def _check(rules: Rules, channel: str, purpose: str, value: str, legal_basis: str) -> None:
    if (channel == ALL) != (purpose == ALL):
        raise BadChoice("channel", f"channel and purpose '{ALL}' go together: they are the do-not-contact flag")
    if channel != ALL and channel not in CHANNELS:
        raise BadChoice("channel", f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    if purpose != ALL and purpose not in rules.purposes:
        raise BadChoice("purpose", f"purpose {purpose!r} is not one of consent.purposes: {', '.join(rules.purposes)}")
    words = EXPLICIT if channel == ALL else tuple(c.value for c in Consent)
    if value not in words:
        raise BadChoice("value", f"value {value!r} is not one of {', '.join(words)}")
    if legal_basis not in rules.legal_bases:
        bases = ", ".join(rules.legal_bases)
        raise BadChoice("legal_basis", f"legal basis {legal_basis!r} is not one of consent.legal_bases: {bases}")


def hub_choices(conn: sa.Connection, rules: Rules) -> pd.DataFrame:
    """For survivorship: per live golden id and channel, the newest choice of the source purpose made through the
    hub (golden_id, channel, value, recorded_at, source, recorded_by), and channel `all` (value 'denied') for the
    golden ids whose do-not-contact flag is set and covers that purpose. Set-based: the state rows of the hub's
    choices, ranked in SQL per live golden id by the order that put each in force (hub.store.consent_state)."""
    s = consent_state.c
    choice, flag = state.KINDS[1], state.KINDS[2]
    ours = sa.and_(s.source.in_(HUB_SOURCES), s.purpose == rules.source_purpose, s.channel != ALL)
    frames = [_newest(conn, ours, choice.order(s))]
    if rules.source_purpose in rules.do_not_contact_purposes:
        flags = _newest(conn, sa.and_(s.source.in_(HUB_SOURCES), s.channel == ALL), flag.order(s))
        frames.append(flags[flags["value"] == Consent.DENIED.value])
    return pd.concat(frames, ignore_index=True)


def _newest(conn: sa.Connection, where: sa.ColumnElement[bool], order: list[Any]) -> pd.DataFrame:
    """Per live golden id and channel, the first state row of `where` in `order`."""
    s = consent_state.c
    live = sa.func.coalesce(id_redirects.c.surviving_id, s.golden_id).label("golden_id")
    rank = sa.func.row_number().over(partition_by=[live, s.channel], order_by=order)
    ranked = (
        sa.select(live, s.channel, s.value, s.recorded_at, s.source, s.recorded_by, rank.label("rn"))
        .select_from(consent_state.outerjoin(id_redirects, id_redirects.c.retired_id == s.golden_id))
        .where(where)
        .subquery()
    )
    r = ranked.c
    return read_frame(
        conn,
        sa.select(r.golden_id, r.channel, r.value, r.recorded_at, r.source, r.recorded_by).where(
            r.rn == 1, r.golden_id.is_not(None)
        ),
    )


def refresh_golden(conn: sa.Connection, rules: Rules, golden_ids: Sequence[str], run_id: str | None = None) -> int:
    """Bring the consent fields (and preferred_channel) of these live golden records up to date with the choices
    made through the hub: a newer hub choice replaces the record's, do-not-contact denies every channel, a denied
    preferred channel gives way to a granted one. A record that changes gets a new version at once. Returns how
    many did. For a handful of records (one steward action, the choices recorded while a run was being built)."""
    if not golden_ids:
        return 0
    g = golden_records.c
    rows = conn.execute(sa.select(golden_records).where(g.golden_id.in_(list(golden_ids)))).mappings().all()
    choices = hub_choices_of(conn, rules, [r["golden_id"] for r in rows])
    changed = 0
    db = scratch_duckdb()
    try:
        for row in rows:
            pins = frozenset(overrides(conn, row["golden_id"])["field"])
            mine = choices.get(row["golden_id"], {})
            own = own_consent(conn, rules, dict(row)) if ALL not in mine and _flagged(row["lineage"]) else None
            new, fields = apply_choices(dict(row), mine, pins, own)
            frame = pd.DataFrame([{k: new[k] for k in ["golden_id", *STORED_COLUMNS, "record_count"]}])
            normal = normalize_golden(frame, db).iloc[0]
            if fields:
                _write_version(conn, new, normal, fields, run_id or row["run_id"])
                changed += 1
            elif normal["row_hash"] != row["row_hash"] or normal["lineage_hash"] != row["lineage_hash"]:
                conn.execute(
                    golden_records.update()
                    .where(g.golden_id == row["golden_id"])
                    .values(row_hash=normal["row_hash"], lineage_hash=normal["lineage_hash"])
                )
    finally:
        db.close()
    return changed


def hub_choices_of(conn: sa.Connection, rules: Rules, live_ids: Sequence[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """hub_choices for a few golden ids: golden_id -> channel -> choice."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for gid in live_ids:
        events = _events_of(conn, gid)
        ours = [ev for ev in events if ev["source"] in HUB_SOURCES and ev["purpose"] == rules.source_purpose]
        picked = {ch: ev for (ch, _p), ev in latest(ours).items()}
        dnc = do_not_contact(events)
        if dnc is not None and rules.source_purpose in rules.do_not_contact_purposes:
            picked[ALL] = dnc
        out[gid] = picked
    return out


@dataclass(frozen=True)
class Own:
    """A golden record's consent without the do-not-contact flag, for lifting it at once: per channel the most
    recent explicit choice (an event) and the rule it wins by; the preferred channel and its lineage as they were
    in the record's last version before the flag."""

    choices: dict[str, tuple[dict[str, Any], str]]
    preferred: str | None
    preferred_lineage: dict[str, Any] | None


def _flagged(lineage: Any) -> bool:
    """Whether do-not-contact decided a consent channel of this lineage (JSON text)."""
    found = stored_lineage.parse(lineage)
    return any(found.get(f"consent_{ch}", {}).get("rule") == DO_NOT_CONTACT_RULE for ch in CHANNELS)


def own_consent(conn: sa.Connection, rules: Rules, row: dict[str, Any]) -> Own:
    """What the record's channels come to once the flag is lifted, by the rule survivorship applies: per channel
    the most recent explicit choice among those made through the hub and the last one each member source record
    made (its last consent event: the value and time the last publish saw, echoes of the hub's writes left out);
    the preferred channel of the last version no channel of which the flag decided. The next build confirms it."""
    live = row["golden_id"]
    e, x = consent_events.c, xref.c
    ours = [
        ev for ev in _events_of(conn, live) if ev["source"] in HUB_SOURCES and ev["purpose"] == rules.source_purpose
    ]
    members = sa.select(x.source_system, x.source_key).where(x.golden_id == live)
    theirs = conn.execute(
        sa.select(consent_events)
        .where(sa.tuple_(e.source, e.source_key).in_(members), e.purpose == rules.source_purpose)
        .order_by(e.created_at, e.event_id)
    ).mappings()
    last = {(ev["source"], ev["source_key"], ev["channel"]): dict(ev) for ev in theirs}  # the newest stored wins
    candidates = [ev for ev in last.values() if ev["value"] in EXPLICIT]
    choices = {}
    for (channel, _purpose), ev in latest([*candidates, *ours]).items():
        alone = ev["source"] not in HUB_SOURCES and sum(c["channel"] == channel for c in candidates) == 1
        choices[channel] = (ev, "only_candidate" if alone else "consent_most_recent")
    h = golden_history.c
    versions = conn.execute(
        sa.select(h.preferred_channel, h.lineage).where(h.golden_id == live).order_by(h.version.desc())
    ).all()
    before = next((v for v in versions if not _flagged(v.lineage)), None)
    if before is None:
        return Own(choices, None, None)
    return Own(choices, before.preferred_channel, stored_lineage.parse(before.lineage).get("preferred_channel"))


def apply_choices(
    row: dict[str, Any],
    choices: dict[str, dict[str, Any]],
    pinned: frozenset[str] = frozenset(),
    own: Own | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """One golden record (a store row) with the hub's choices (channel -> event; `all`: do-not-contact set) applied
    by the consent rule, as survivorship applies them (`pinned` fields are left alone: a pin wins); returns the new
    row (lineage as JSON text) and the fields that changed. `own`: the flag was lifted, so the channels it decided
    and the preferred channel it cleared take the record's own consent back (own_consent)."""
    new = dict(row)
    lineage = stored_lineage.parse(row["lineage"])
    dnc = choices.get(ALL)
    if dnc is None and own is not None:
        _lift(new, lineage, own, pinned)
    for ch in CHANNELS:
        field, at = f"consent_{ch}", f"consent_{ch}_at"
        if field in pinned:
            continue
        ev = choices.get(ch)
        held = {"value": new[field], "recorded_at": new[at]} if new[field] in EXPLICIT and new[at] else None
        if (
            ev is not None
            and (held is None or _wins(ev, held))
            and (ev["value"], ev["recorded_at"]) != (new[field], new[at])
        ):
            new[field], new[at] = ev["value"], ev["recorded_at"]
            lineage[field] = lineage[at] = _lineage(ev, "consent_most_recent")
        if dnc is not None and new[field] != Consent.DENIED.value:
            new[field], new[at] = Consent.DENIED.value, dnc["recorded_at"]
            lineage[field] = lineage[at] = _lineage(dnc, DO_NOT_CONTACT_RULE)
    preferred = new.get("preferred_channel")
    if (
        preferred in CHANNELS
        and new[f"consent_{preferred}"] == Consent.DENIED.value
        and "preferred_channel" not in pinned
    ):
        new["preferred_channel"] = harmonized_channel(new)
        lineage.pop("preferred_channel", None)
        if new["preferred_channel"] is not None:
            harmonized = {"source_system": "hub", "source_key": None, "rule": "consent_harmonized", "value_at": None}
            lineage["preferred_channel"] = harmonized
    new["lineage"] = stored_lineage.dumps(lineage)
    fields = [f for f in ATTRIBUTES if _text(new[f]) != _text(row[f])]
    return new, fields


def _lift(new: dict[str, Any], lineage: dict[str, Any], own: Own, pinned: frozenset[str]) -> None:
    """The channels do-not-contact decided back to their own choice, and the preferred channel it cleared back."""
    for ch in CHANNELS:
        field, at = f"consent_{ch}", f"consent_{ch}_at"
        if field in pinned or lineage.get(field, {}).get("rule") != DO_NOT_CONTACT_RULE:
            continue
        lineage.pop(field, None)
        lineage.pop(at, None)
        if ch in own.choices:
            ev, rule = own.choices[ch]
            new[field], new[at] = ev["value"], ev["recorded_at"]
            lineage[field] = lineage[at] = _lineage(ev, rule)
        else:
            new[field], new[at] = Consent.UNKNOWN.value, None
    if "preferred_channel" not in pinned and new.get("preferred_channel") is None and own.preferred is not None:
        new["preferred_channel"] = own.preferred
        if own.preferred_lineage is not None:
            lineage["preferred_channel"] = own.preferred_lineage


def harmonized_channel(row: dict[str, Any]) -> str | None:
    """The channel to prefer when the preferred one is denied: the most recently granted channel (None: none)."""
    granted = [ch for ch in CHANNELS if row[f"consent_{ch}"] == Consent.GRANTED.value]
    stamp = lambda ch: (row[f"consent_{ch}_at"] or datetime.min, ch)  # noqa: E731  # as survivorship's SQL
    return max(granted, key=stamp, default=None)


def _lineage(ev: dict[str, Any], rule: str) -> dict[str, Any]:
    at = ev["recorded_at"]
    return {
        "source_system": ev["source"],
        "source_key": ev.get("recorded_by") or ev.get("source_key"),
        "rule": rule,
        "value_at": at.strftime("%Y-%m-%dT%H:%M:%S") if at is not None else None,
    }


def _text(v: Any) -> str | None:
    return None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _write_version(conn: sa.Connection, new: dict[str, Any], normal: pd.Series, fields: list[str], run_id: str) -> None:
    row = {k: new[k] for k in ["golden_id", *STORED_COLUMNS, "record_count"]}
    row["lineage"] = new["lineage"]
    for c in ATTRIBUTES:  # the normalized (typed) values: the hash was computed over them
        row[c] = normal[c]
    frame = pd.DataFrame([{**row, "row_hash": normal["row_hash"], "lineage_hash": normal["lineage_hash"],
                           "version": 0, "changed_fields": json.dumps(fields)}])  # fmt: skip
    write_versions(conn, run_id, utc_now(), frame)


def changes_sql(seen: str, last: str) -> str:
    """DuckDB SQL: the consent values of `seen` that are news against `last` and so become source events at publish.
    `seen` (a query): per member record and channel of the run, source_system, source_key, golden_id, channel, value,
    recorded_at (the record's consent time) and timed (its source keeps its own consent time); `last`: a relation of
    source_choices (source renamed source_system). News: a value other than the last one seen ('unknown' when none:
    a first sighting of 'unknown' is no news), or a choice made again at another time in a source that keeps its
    own consent time. The rows keep seen's columns but `timed`."""
    return f"""SELECT s.* EXCLUDE (timed) FROM ({seen}) AS s
               LEFT JOIN {last} AS l ON l.source_system = s.source_system AND l.source_key = s.source_key
                                    AND l.channel = s.channel
               WHERE s.value IS DISTINCT FROM coalesce(l.value, 'unknown')
                  OR (s.timed AND s.value IN ('granted', 'denied')
                      AND CAST(s.recorded_at AS TIMESTAMP) IS DISTINCT FROM l.recorded_at)"""


def publish_source_events(conn: sa.Connection, run_id: str, now: datetime, news: pd.DataFrame, rules: Rules) -> int:
    """At publish: the run's consent news (`changes_sql`: source_system, source_key, golden_id, channel, value,
    recorded_at) become events (source = its system, the record's consent time, else now), stored with the state in
    one bulk write (hub.store.consent_state.append). Nothing is read: the build diffed against the state."""
    if news.empty:
        return 0
    at = pd.to_datetime(news["recorded_at"]).astype("datetime64[us]")
    events = pd.DataFrame(
        {
            "event_id": np.char.add(uuid.uuid4().hex[:16], np.char.mod("%016x", np.arange(len(news)))),
            "golden_id": news["golden_id"].astype(str).to_numpy(),
            "channel": news["channel"].to_numpy(),
            "purpose": rules.source_purpose,
            "value": news["value"].to_numpy(),
            "legal_basis": rules.source_legal_basis,
            "recorded_at": at.where(at.notna(), pd.Timestamp(now)).to_numpy(),
            "source": news["source_system"].to_numpy(),
            "source_key": news["source_key"].astype(str).to_numpy(),
            "recorded_by": None,
            "note": None,
            "run_id": run_id,
            "created_at": now,
        }
    )
    return state.append(conn, events[EVENT_COLUMNS])


def source_choices(conn: sa.Connection, rules: Rules, records: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per source record and channel, its last consent event (source, source_key, channel, value, recorded_at):
    what the hub last saw the source say and when the person made that choice. One bulk read of the state: a row
    per record and channel, however many events the log holds; only of `records` (source, source_key) if given,
    read by key."""
    s = consent_state.c
    where = sa.and_(s.source.not_in(HUB_SOURCES), s.purpose == rules.source_purpose)
    stmt = sa.select(s.source, s.holder.label("source_key"), s.channel, s.value, s.recorded_at).where(where)
    if records is None:
        return read_frame(conn, stmt)
    keys = list(records[["source", "source_key"]].drop_duplicates().itertuples(index=False, name=None))
    return read_frame_in(conn, stmt, [s.source, s.holder], keys)


def created_since(conn: sa.Connection, since: datetime) -> list[str]:
    """Live golden ids with a hub choice (or do-not-contact change) stored after `since`."""
    e = consent_events.c
    stmt = (
        sa.select(_live_id())
        .select_from(consent_events.outerjoin(id_redirects, id_redirects.c.retired_id == e.golden_id))
        .where(e.source.in_(HUB_SOURCES), e.created_at >= since)
        .distinct()
    )
    return [r[0] for r in conn.execute(stmt).all() if r[0] is not None]
