"""The consent rule, in survivorship (hub choices weighed after the sources) and on the API's path (a choice applied
to the current golden record at once): the most recent explicit choice wins, an opt-out wins a tie, and an opt-out is
never overwritten by an older opt-in whatever its source or the order choices arrive in. Do-not-contact, the
preferred channel, pins, and the `consent:` block of hub.yaml."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from golden_record.survivorship import survive
from hub import lineage
from hub.config import ConsentConfig, SurvivorshipConfig
from hub.store import consent
from tests.test_survivorship import Golden, stage

T0 = datetime(2024, 1, 1)
SOURCES = ("crm", "web", "app", "api", "steward")


def choice(golden_id: str, channel: str, value: str, at: datetime, source: str = "api") -> dict[str, Any]:
    return {"golden_id": golden_id, "channel": channel, "value": value, "recorded_at": at, "source": source,
            "recorded_by": "agent"}  # fmt: skip


def run(rows: list[dict[str, Any]], choices: list[dict[str, Any]], overrides: pd.DataFrame | None = None) -> Golden:
    ws = stage(rows)
    frame = pd.DataFrame(choices) if choices else None
    n = survive(ws.con, SurvivorshipConfig(), [], overrides=overrides, consent=frame)
    return Golden(ws.con, n)


def contested(golden: Golden, field: str) -> set[str]:
    rows = golden.con.execute("SELECT record_id FROM golden_contested WHERE field = ?", [field]).fetchall()
    return {r[0] for r in rows}


# ------------------------------------------------------------------------------------------- survivorship


def test_a_newer_hub_choice_replaces_the_sources_and_their_records_are_contested():
    rows = [
        {"source_system": "crm", "consent_sms": "granted", "consent_sms_at": "2024-01-01"},
        {"source_system": "web", "consent_sms": "denied", "consent_sms_at": "2023-01-01"},
        {"source_system": "app", "consent_sms": None},
    ]
    golden = run(rows, [choice("g1", "sms", "denied", datetime(2024, 6, 1), "steward")])
    assert (golden.value("consent_sms"), golden.value("consent_sms_at")) == ("denied", datetime(2024, 6, 1))
    lineage = golden.lineage("consent_sms")
    assert lineage is not None
    assert (lineage["source_system"], lineage["source_key"], lineage["rule"]) == (
        "steward",
        "agent",
        "consent_most_recent",
    )
    assert golden.lineage("consent_sms_at")["source_system"] == "steward"  # type: ignore[index]
    # crm's opt-in lost (write-back corrects it); web already says denied; app has no choice
    assert contested(golden, "consent_sms") == {"crm:0"}


def test_an_older_hub_choice_loses_to_a_newer_source_choice():
    rows = [{"source_system": "app", "consent_email": "granted", "consent_email_at": "2024-03-01"}]
    golden = run(rows, [choice("g1", "email", "denied", datetime(2024, 2, 1))])
    assert golden.value("consent_email") == "granted"
    assert golden.source("consent_email") == ("app", "0")
    assert contested(golden, "consent_email") == set()


def test_at_the_same_time_the_opt_out_wins_either_way():
    at = "2024-03-01"
    golden = run(
        [{"consent_email": "granted", "consent_email_at": at}], [choice("g1", "email", "denied", T0.replace(month=3))]
    )
    assert golden.value("consent_email") == "denied"
    golden = run(
        [{"consent_email": "denied", "consent_email_at": at}], [choice("g1", "email", "granted", T0.replace(month=3))]
    )
    assert golden.value("consent_email") == "denied"


def test_do_not_contact_denies_every_channel_whatever_the_times():
    rows = [{"consent_email": "granted", "consent_email_at": "2025-01-01", "consent_post": "granted",
             "consent_post_at": "2025-01-01", "preferred_channel": "email"}]  # fmt: skip
    golden = run(rows, [choice("g1", "all", "denied", datetime(2024, 1, 1))])
    for ch in ("email", "sms", "phone", "post"):
        assert golden.value(f"consent_{ch}") == "denied", ch
        assert golden.rule(f"consent_{ch}") == "do_not_contact"
    assert golden.value("preferred_channel") is None  # nothing granted is left to prefer
    assert contested(golden, "consent_email") == {"crm:0"}


def test_a_denied_preferred_channel_gives_way_to_the_most_recently_granted_one():
    rows = [{"preferred_channel": "sms", "consent_sms": "denied", "consent_sms_at": "2024-01-01",
             "consent_email": "granted", "consent_email_at": "2023-01-01",
             "consent_post": "granted", "consent_post_at": "2022-01-01"}]  # fmt: skip
    golden = run(rows, [])
    assert golden.value("preferred_channel") == "email"
    assert golden.rule("preferred_channel") == "consent_harmonized"
    assert contested(golden, "preferred_channel") == {"crm:0"}
    # a granted preferred channel stays, and so does one whose consent nobody recorded
    assert (
        run([{"preferred_channel": "sms", "consent_sms": "granted", "consent_sms_at": "2024-01-01"}], []).value(
            "preferred_channel"
        )
        == "sms"
    )
    assert run([{"preferred_channel": "post"}], []).value("preferred_channel") == "post"


def test_a_pin_still_wins_over_a_hub_choice():
    pins = pd.DataFrame([{"golden_id": "g1", "field": "consent_sms", "value": "granted", "pinned_by": "boss"}])
    golden = run([{"consent_sms": "granted", "consent_sms_at": "2024-01-01"}],
                 [choice("g1", "sms", "denied", datetime(2025, 1, 1))], overrides=pins)  # fmt: skip
    assert (golden.value("consent_sms"), golden.rule("consent_sms")) == ("granted", "pinned")


def test_choices_of_golden_ids_not_in_the_run_are_ignored():
    golden = run([{"consent_sms": "granted", "consent_sms_at": "2024-01-01"}],
                 [choice("g9", "sms", "denied", datetime(2025, 1, 1))])  # fmt: skip
    assert golden.value("consent_sms") == "granted" and golden.count == 1


# --------------------------------------------------------------------------- orderings: the property


def _events(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 6))
    return [
        {
            "value": draw(st.sampled_from(["granted", "denied"])),
            "at": T0 + timedelta(days=draw(st.integers(0, 5))),
            "source": draw(st.sampled_from(SOURCES)),
        }
        for _ in range(n)
    ]


events_strategy = st.composite(_events)


def expected(events: list[dict[str, Any]]) -> str:
    """The choice that must win: the latest; at the latest time, an opt-out if there is one."""
    last = max(e["at"] for e in events)
    return "denied" if any(e["value"] == "denied" and e["at"] == last for e in events) else "granted"


@settings(max_examples=12, deadline=None)
@given(events_strategy(), st.randoms(use_true_random=False))
def test_survivorship_never_lets_an_older_opt_in_overwrite_an_opt_out(events, rnd):
    """Sources' choices are member records, the hub's choices the newest one per channel; whichever holds which
    choice and in whatever order the records are listed, the golden value is the latest choice (ties: denied)."""
    rnd.shuffle(events)
    rows = [{"source_system": e["source"] if e["source"] not in ("api", "steward") else "crm", "source_key": str(i),
             "consent_sms": e["value"], "consent_sms_at": e["at"].isoformat()}
            for i, e in enumerate(events) if e["source"] not in ("api", "steward")]  # fmt: skip
    hub = [e for e in events if e["source"] in ("api", "steward")]
    picked = consent.latest(
        {"channel": "sms", "purpose": "m", "value": e["value"], "recorded_at": e["at"]} for e in hub
    )
    choices = [choice("g1", "sms", ev["value"], ev["recorded_at"]) for ev in picked.values()]
    if not rows:
        rows = [{"consent_sms": None}]
    assert run(rows, choices).value("consent_sms") == expected(events)


@settings(max_examples=100, deadline=None)
@given(events_strategy(), st.randoms(use_true_random=False))
def test_choices_applied_as_they_arrive_never_let_an_older_opt_in_overwrite_an_opt_out(events, rnd):
    """The API's path: each choice is applied to the current golden record when it arrives (in any order, a
    backdated one too); the record ends with the latest choice (ties: denied), and at no point does an opt-in
    replace an opt-out made later than it."""
    rnd.shuffle(events)
    row = golden_row()
    seen: list[dict[str, Any]] = []
    for n, e in enumerate(events):
        seen.append({"channel": "sms", "purpose": "marketing", "value": e["value"], "recorded_at": e["at"],
                     "source": "api", "created_at": T0 + timedelta(seconds=n), "event_id": str(n)})  # fmt: skip
        before = (row["consent_sms"], row["consent_sms_at"])
        picked = {ch: ev for (ch, _p), ev in consent.latest(seen).items()}
        row, _fields = consent.apply_choices(row, picked)
        if before[0] == "denied" and row["consent_sms"] == "granted":
            assert row["consent_sms_at"] > before[1], "an opt-in older than the opt-out replaced it"
    assert row["consent_sms"] == expected(events)


def golden_row(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {f: None for f in consent.ATTRIBUTES}
    row |= {f"consent_{ch}": "unknown" for ch in ("email", "sms", "phone", "post")}
    return row | {"golden_id": "G1", "lineage": "{}", "extra": None, "record_count": 1} | values


def test_do_not_contact_on_the_api_path_denies_and_records_its_lineage():
    row = golden_row(consent_email="granted", consent_email_at=T0, preferred_channel="email")
    dnc = {"channel": "all", "purpose": "all", "value": "denied", "recorded_at": T0 + timedelta(days=1),
           "source": "steward", "recorded_by": "agent"}  # fmt: skip
    new, fields = consent.apply_choices(row, {"all": dnc})
    assert all(new[f"consent_{ch}"] == "denied" for ch in ("email", "sms", "phone", "post"))
    assert new["preferred_channel"] is None
    assert lineage.parse(new["lineage"])["consent_email"]["rule"] == "do_not_contact"
    assert set(fields) >= {"consent_email", "consent_email_at", "preferred_channel"}


# ------------------------------------------------------------------------------------------ configuration


def test_consent_block_defaults_and_checks():
    cfg = ConsentConfig()
    assert cfg.purposes == ["marketing", "service", "profiling"] and cfg.source_purpose == "marketing"
    assert "legitimate_interest" in cfg.legal_bases
    with pytest.raises(ValueError, match="source_purpose 'billing' is not one of the purposes"):
        ConsentConfig(source_purpose="billing")
    with pytest.raises(ValueError, match="lowercase identifier"):
        ConsentConfig(purposes=["Marketing"])
    with pytest.raises(ValueError, match="do_not_contact_purposes"):
        ConsentConfig(do_not_contact_purposes=["sales"])


def test_on_the_api_path_a_pinned_field_is_left_alone_as_survivorship_leaves_it():
    row = golden_row(consent_sms="granted", consent_sms_at=T0, preferred_channel="sms")
    ev = {"channel": "sms", "purpose": "marketing", "value": "denied", "recorded_at": T0 + timedelta(days=1),
          "source": "api", "recorded_by": "agent"}  # fmt: skip
    new, fields = consent.apply_choices(row, {"sms": ev}, frozenset({"consent_sms"}))
    assert (new["consent_sms"], fields) == ("granted", [])
    new, fields = consent.apply_choices(row, {"sms": ev})
    assert (new["consent_sms"], new["preferred_channel"]) == ("denied", None)
