"""The consent state (hub.store.consent_state) always equals the fold of the consent event log, computed here from the
log itself: over random sequences of writes (a publish's bulk append, a choice recorded through the hub, an erasure)
with ties in every timestamp, and after migration 0011's backfill of a log written before it. SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import sqlalchemy as sa
from alembic import command
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub import store
from hub.store import consent_state, subjects
from hub.store.schema import consent_events

T0 = datetime(2024, 1, 1)
HUB = ("api", "steward")
COLUMNS = [c.name for c in consent_events.c]
STATE = ("event_id", "golden_id", "value", "recorded_at", "recorded_by", "created_at")


def fold(events: list[dict[str, Any]]) -> dict[tuple[str, str, str, str], tuple[Any, ...]]:
    """The oracle: per holder, channel and purpose, the event in force by the rules of hub.store.consent_state,
    from the whole log. Python's sort is stable, so sorting by event id first and then by time (descending) puts
    the lower event id first among equal times."""
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for ev in events:
        hub = ev["source"] in HUB
        if (not hub and ev["source_key"] is None) or (hub and ev["channel"] != "all" and ev["value"] == "unknown"):
            continue
        holder = ev["golden_id"] if hub else ev["source_key"]
        groups.setdefault((ev["source"], holder, ev["channel"], ev["purpose"]), []).append(ev)
    best = {}
    for key, group in groups.items():
        if key[0] not in HUB:  # a source record's: the last stored
            ev = max(group, key=lambda e: (e["created_at"], e["event_id"]))
        else:
            by_id = sorted(group, key=lambda e: e["event_id"])
            if key[2] == "all":  # do-not-contact: the most recent, then the last stored
                ev = sorted(by_id, key=lambda e: (e["recorded_at"], e["created_at"]), reverse=True)[0]
            else:  # a hub choice: the most recent explicit one, an opt-out winning a tie
                ev = sorted(by_id, key=lambda e: (e["recorded_at"], e["value"] == "denied"), reverse=True)[0]
        best[key] = tuple(ev[c] for c in STATE)
    return best


def state_of(conn: sa.Connection) -> dict[tuple[str, str, str, str], tuple[Any, ...]]:
    rows = conn.execute(sa.select(consent_state.consent_state)).mappings()
    return {tuple(r[k] for k in consent_state.KEY): tuple(r[c] for c in STATE) for r in rows}  # type: ignore[misc]


def log_of(conn: sa.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(sa.select(consent_events)).mappings()]


@st.composite
def events(draw: st.DrawFn, n: int) -> list[dict[str, Any]]:
    """`n` events with ties everywhere: few holders, times on a coarse grid (stored out of order too)."""
    out = []
    for _ in range(n):
        source = draw(st.sampled_from(["crm", "web", *HUB]))
        channel = draw(st.sampled_from(["sms", "all"] if source in HUB else ["email", "sms"]))
        value = draw(st.sampled_from(["granted", "denied"] if channel == "all" else ["granted", "denied", "unknown"]))
        out.append(
            {
                "event_id": f"{draw(st.integers(0, 2**31)):08x}",
                "golden_id": draw(st.sampled_from(["G1", "G2"])),
                "channel": channel,
                "purpose": "all" if channel == "all" else draw(st.sampled_from(["marketing", "service"])),
                "value": value,
                "legal_basis": "consent",
                "recorded_at": T0 + timedelta(hours=draw(st.integers(0, 2))),
                "source": source,
                "source_key": None if source in HUB else draw(st.sampled_from(["k1", "k2", None])),
                "recorded_by": draw(st.sampled_from(["agent 7", None])),
                "note": None,
                "run_id": None,
                "created_at": T0 + timedelta(hours=draw(st.integers(0, 2))),
            }
        )
    return out


# a step: ("append", events) a publish's bulk write | ("add", events) choices recorded one by one | ("erase", ids)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 8).flatmap(events)),
        st.tuples(st.just("add"), st.integers(1, 3).flatmap(events)),
        st.tuples(st.just("erase"), st.lists(st.sampled_from(["G1", "G2"]), min_size=1, max_size=1)),
    ),
    min_size=1,
    max_size=8,
)


def tie(event_id: str, **values: Any) -> dict[str, Any]:
    """A hub choice at T0 that ties with every other one of its holder."""
    ev = {"event_id": event_id, "golden_id": "G1", "channel": "sms", "purpose": "marketing", "value": "denied",
          "legal_basis": "consent", "recorded_at": T0, "source": "api", "source_key": None, "recorded_by": None,
          "note": None, "run_id": None, "created_at": T0}  # fmt: skip
    return ev | values


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps)
@example([("add", [tie("b"), tie("a")]), ("add", [tie("d", channel="all", purpose="all"), tie("c", channel="all",
          purpose="all")]), ("append", [tie("f", source="crm", source_key="k1"), tie("e", source="crm",
          source_key="k1")]), ("append", [tie("0", source="crm", source_key="k1")])])  # fmt: skip
def test_the_state_always_equals_the_fold_of_the_log(store_engine, plan):
    with store.write_transaction(store_engine) as conn:
        conn.execute(consent_events.delete())
        conn.execute(consent_state.consent_state.delete())
    seen = set()
    for kind, arg in plan:
        with store.write_transaction(store_engine) as conn:
            if kind == "erase":  # as hub subject erase does: the golden ids' rows leave every table
                subjects.erase_rows(conn, arg, [], {}, pd.DataFrame(columns=["tf_column", "value", "records"]))
            else:
                fresh = list({e["event_id"]: e for e in arg if e["event_id"] not in seen}.values())  # ids are unique
                seen |= {e["event_id"] for e in fresh}
                if kind == "append":
                    consent_state.append(conn, pd.DataFrame(fresh, columns=COLUMNS))
                for ev in fresh if kind == "add" else []:
                    consent_state.add(conn, ev)
        with store_engine.connect() as conn:
            assert state_of(conn) == fold(log_of(conn)), kind


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 40).flatmap(events))
def test_migration_0011_backfills_the_state_from_a_log_written_before_it(store_engine, logged):
    cfg = store.alembic_config()
    with store.write_transaction(store_engine) as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010")
        conn.execute(consent_events.delete())
    with store.write_transaction(store_engine) as conn:
        unique = list({e["event_id"]: e for e in logged}.values())
        if unique:
            conn.execute(consent_events.insert(), unique)
    store.upgrade(store_engine)
    with store_engine.connect() as conn:
        assert state_of(conn) == fold(log_of(conn))
