"""Steward review end to end: decisions and pins through the REST API, stored with who and when, and
honoured by the next pipeline runs (Dagster job and the hub match / hub golden commands) for good."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from connectors.demo import init_demo
from hub import store
from hub.api import keys
from hub.config import load_config
from hub.store import schema
from pipelines.entry import create_app, main
from pipelines.run import PipelineSummary, run_pipeline
from tests.built_once import built_once
from tests.test_store import engine, golden, links, person, publish, store_url  # noqa: F401 (fixtures)

pytestmark = pytest.mark.slow(seconds=20)  # the file's weight in the suite's order (tests/conftest.py)


def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PipelineSummary]:
    """The demo after its first pipeline run, built once per test session (tests/built_once.py): each module copies
    the folder."""
    return built_once(tmp_path_factory, "steward-first-run", _first_run)


def _first_run(built: Path) -> PipelineSummary:
    init_demo(built, customers=300, seed=11)
    config = built / "hub.yaml"
    # a wider review band than the default: at 300 customers the model is sure of all but one or two pairs,
    # and stewards' tests need a queue
    config.write_text(config.read_text() + "\nmatching:\n  auto_match_threshold: 0.999\n  review_threshold: 0.5\n")
    summary = run_pipeline(str(config), instance=dg.DagsterInstance.ephemeral(), log_level="WARNING")
    assert summary.success, summary.errors
    return summary


class Hub:
    """A demo after one pipeline run, with a steward key and a reader key."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, name: str):
        built, self.summary = first_run(tmp_path_factory)
        tmp = tmp_path_factory.mktemp(name, numbered=True) / "demo"
        shutil.copytree(built, tmp)
        self.config = tmp / "hub.yaml"
        self.cfg = load_config(self.config)
        self.engine = store.open_store(self.cfg.serving_store)
        self.steward_key = keys.create_key(self.engine, "steward sam", "steward")[1]
        self.reader_key = keys.create_key(self.engine, "reader rita", "reader")[1]
        self.client = TestClient(create_app(self.cfg, self.engine))

    def run(self):
        summary = run_pipeline(str(self.config), instance=dg.DagsterInstance.ephemeral(), log_level="WARNING")
        assert summary.success, summary.errors
        return summary

    def get(self, url: str, key: str | None = None, **params) -> httpx.Response:
        return self.client.get(url, params=params, headers={"Authorization": f"Bearer {key or self.reader_key}"})

    def post(self, url: str, body: dict, key: str | None = None) -> httpx.Response:
        return self.client.post(url, json=body, headers={"Authorization": f"Bearer {key or self.steward_key}"})

    def delete(self, url: str, key: str | None = None) -> httpx.Response:
        return self.client.delete(url, headers={"Authorization": f"Bearer {key or self.steward_key}"})

    def golden_of(self) -> dict[str, str]:
        with self.engine.connect() as conn:
            x = store.current_xref(conn)
        return dict(zip(x.source_system + ":" + x.source_key, x.golden_id, strict=True))

    def golden_of_members(self, golden_id: str) -> list[str]:
        with self.engine.connect() as conn:
            return store.members(conn, golden_id)

    def link_type(self, rid: str) -> str:
        with self.engine.connect() as conn:
            x = store.current_xref(conn)
        return x.loc[(x.source_system + ":" + x.source_key) == rid, "link_type"].item()


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory, "steward")
    yield h
    h.client.close()
    h.engine.dispose()


@pytest.fixture(scope="module")
def chosen(hub):
    """A queued pair in two golden records (to merge), a two-record golden record (to split) and a
    golden record apart from both (to pin)."""
    queue = hub.get("/v1/review", page_size=200).json()["results"]
    merge = next(p for p in queue if not p["same_golden"] and p["golden_id_l"] and p["golden_id_r"])
    with hub.engine.connect() as conn:
        x = store.current_xref(conn)
    x["rid"] = x.source_system + ":" + x.source_key
    sizes = x.groupby("golden_id").size()
    taken = {merge["golden_id_l"], merge["golden_id_r"]}
    pair_golden = next(g for g in sizes[sizes == 2].index if g not in taken)
    split = sorted(x.loc[x.golden_id == pair_golden, "rid"])
    pinned = next(g for g in sizes[sizes == 1].index if g not in taken | {pair_golden})
    taken |= {pair_golden, pinned}
    bigger = next(g for g in sizes[sizes >= 2].sort_values(ascending=False).index if g not in taken)
    singles = [g for g in sizes[sizes == 1].index if g not in taken][:2]
    split_out = x.loc[x.golden_id == bigger].sort_values("rid").iloc[-1]
    return {
        "merge": (merge["id_l"], merge["id_r"]),
        "split": tuple(split),
        "pin": pinned,
        "split_out": (bigger, split_out.source_system, split_out.source_key, split_out.rid),
        "merge_golden": singles,
    }


# ------------------------------------------------------------------------------------------ the queue


def test_the_pipeline_publishes_the_review_queue_to_the_store(hub):
    page = hub.get("/v1/review", page_size=200).json()
    assert page["total"] == hub.summary.value("review_queue", "queue_size") > 0
    items = page["results"]
    probs = [p["match_probability"] for p in items]
    assert probs == sorted(probs, reverse=True)
    m = hub.cfg.matching
    assert all(m.review_threshold <= p < m.auto_match_threshold for p in probs)
    first = items[0]
    assert first["id_l"] < first["id_r"] and first["explanation"] and first["golden_id_l"]
    asc = hub.get("/v1/review", sort="probability_asc", page_size=2).json()
    assert [p["match_probability"] for p in asc["results"]] == sorted(probs)[:2]
    source = first["source_system_l"]
    only = hub.get("/v1/review", source=source, page_size=200).json()
    assert 0 < only["total"] <= page["total"]
    assert all(source in (p["source_system_l"], p["source_system_r"]) for p in only["results"])
    paged = hub.get("/v1/review", page=2, page_size=1).json()
    assert paged["total"] == page["total"] and paged["results"][0]["id_l"] == items[1]["id_l"]
    high = hub.get("/v1/review", min_probability=probs[len(probs) // 2]).json()["total"]
    assert 0 < high <= page["total"]
    r = hub.get("/v1/review", min_probability=0.9, max_probability=0.8)
    assert r.status_code == 422 and r.json()["message"].startswith("min_probability:")
    r = hub.get("/v1/review", sort="random")
    assert r.status_code == 422 and r.json()["message"].startswith("sort:")


def test_the_pair_view_shows_both_records_and_the_explanation(hub):
    item = hub.get("/v1/review").json()["results"][0]
    r = hub.get(f"/v1/review/{item['id_r']}/{item['id_l']}")  # either order
    assert r.status_code == 200
    pair = r.json()
    assert pair["queued"] and pair["decisions"] == [] and pair["item"]["explanation"] == item["explanation"]
    for side in ("record_l", "record_r"):
        assert {"first_name", "last_name", "email", "date_of_birth", "source_updated_at"} <= set(pair[side])
    assert hub.get("/v1/review/crm:nope/web:nope").status_code == 404


# ------------------------------------------------------------------------------------ access and bodies


def test_a_reader_key_cannot_decide_or_pin(hub, chosen):
    a, b = chosen["merge"]
    r = hub.post("/v1/review/decision", {"id_l": a, "id_r": b, "decision": "match"}, key=hub.reader_key)
    assert r.status_code == 403 and "steward role" in r.json()["detail"]
    r = hub.post(f"/v1/golden/{chosen['pin']}/pin", {"field": "first_name", "value": "X"}, key=hub.reader_key)
    assert r.status_code == 403
    assert hub.delete(f"/v1/golden/{chosen['pin']}/pin/first_name", key=hub.reader_key).status_code == 403
    assert hub.client.post("/v1/review/decision", json={}).status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"id_l": "crm:1", "id_r": "web:2"}, "decision"),
        ({"id_l": "crm:1", "id_r": "web:2", "decision": "maybe"}, "decision"),
        ({"id_r": "web:2", "decision": "match"}, "id_l"),
        ({"id_l": "crm:1", "id_r": "web:2", "decision": "match", "who": "me"}, "who"),
        ({"id_l": "crm:no-such-record", "id_r": "web:2", "decision": "match"}, "id_l"),
        ({"id_l": "crm:1", "id_r": "crm:1", "decision": "match"}, "id_r"),
    ],
)
def test_a_bad_decision_body_is_422_naming_the_field(hub, body, field):
    r = hub.post("/v1/review/decision", body)
    assert r.status_code == 422 and r.json()["message"].startswith(f"{field}:"), r.json()


def test_unknown_record_ids_are_named(hub, chosen):
    a, _ = chosen["merge"]
    r = hub.post("/v1/review/decision", {"id_l": a, "id_r": "web:no-such-key", "decision": "not_match"})
    assert r.status_code == 422 and "'web:no-such-key'" in r.json()["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"field": "favourite_colour", "value": "red"}, "field"),
        ({"field": "date_of_birth", "value": "the fifth of May"}, "value"),
        ({"field": "consent_email_at", "value": "yesterday"}, "value"),
        ({"field": "consent_sms", "value": "maybe"}, "value"),
        ({"field": "email"}, "value"),
    ],
)
def test_a_pin_that_cannot_be_cast_is_refused_with_422(hub, chosen, body, field):
    r = hub.post(f"/v1/golden/{chosen['pin']}/pin", body)
    assert r.status_code == 422 and r.json()["message"].startswith(f"{field}:"), r.json()
    with hub.engine.connect() as conn:
        assert store.overrides(conn).empty


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("date_of_birth", "99999-01-01", "cannot be read as date"),
        ("date_of_birth", "1899-12-31", "not a plausible date of birth"),
        ("date_of_birth", "<tomorrow>", "not a plausible date of birth"),  # resolved when run, not when collected
        ("email", "not an email", "not an email address"),
        ("email", "amber@localhost", "not an email address"),
        ("phone", "07700 900123", "not a phone number in E.164"),
        ("country", "XX", "not an ISO 3166-1 alpha-2"),
        ("country", "gb", "not an ISO 3166-1 alpha-2"),
        ("consent_post", "GRANTED", "not a consent value"),
        ("preferred_channel", "fax", "not a channel"),
        ("consent_email_at", "99999-01-01 00:00:00", "cannot be read as timestamp"),
    ],
)
def test_a_pin_the_golden_gate_would_reject_is_refused_with_422(hub, chosen, field, value, reason):
    """The gate's rules (hub.validity): a stored pin never blocks a run or breaks a read."""
    if value == "<tomorrow>":  # a suite that crosses midnight must not pin yesterday's "tomorrow"
        value = (date.today() + timedelta(days=1)).isoformat()
    r = hub.post(f"/v1/golden/{chosen['pin']}/pin", {"field": field, "value": value})
    message = r.json()["message"]
    assert r.status_code == 422 and message.startswith("value:") and field in message and reason in message, message
    with hub.engine.connect() as conn:
        assert store.overrides(conn).empty


# ---------------------------------------------------------------------------- decisions and next runs


def test_decisions_are_stored_with_who_and_when_and_the_queue_shrinks(hub, chosen):
    before = hub.get("/v1/review").json()["total"]
    a, b = chosen["merge"]
    r = hub.post("/v1/review/decision", {"id_l": a, "id_r": b, "decision": "skip"})
    assert r.status_code == 200 and r.json()["recorded"] is False and r.json()["queue_size"] == before

    r = hub.post("/v1/review/decision", {"id_l": b, "id_r": a, "decision": "match", "note": "same phone"})
    assert r.status_code == 200, r.json()
    out = r.json()
    assert out["recorded"] and out["queue_size"] == before - 1
    current = out["current"]
    assert (current["id_l"], current["id_r"]) == (a, b)
    assert (current["decided_by"], current["note"]) == ("steward sam", "same phone")
    decided_at = datetime.fromisoformat(current["decided_at"])
    assert abs(decided_at - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)
    assert hub.get("/v1/review", page_size=200).json()["total"] == before - 1
    pair = hub.get(f"/v1/review/{a}/{b}").json()
    assert not pair["queued"] and [d["decision"] for d in pair["decisions"]] == ["match"]

    s1, s2 = chosen["split"]
    r = hub.post("/v1/review/decision", {"id_l": s1, "id_r": s2, "decision": "not_match"})
    assert r.status_code == 200 and r.json()["current"]["decision"] == "not_match"
    with hub.engine.connect() as conn:
        must, cannot = store.decisions(conn)
    assert list(must.itertuples(index=False, name=None)) == [(a, b)]
    assert list(cannot.itertuples(index=False, name=None)) == [(s1, s2)]


def test_a_pin_through_the_api_is_stored(hub, chosen):
    gid = chosen["pin"]
    r = hub.post(f"/v1/golden/{gid}/pin", {"field": "first_name", "value": "Zebulon"})
    assert r.status_code == 200 and r.json()["pinned_by"] == "steward sam" and r.json()["golden_id"] == gid
    r = hub.post(f"/v1/golden/{gid}/pin", {"field": "date_of_birth", "value": "1970-01-02"})
    assert r.status_code == 200 and r.json()["value"] == "1970-01-02"
    assert hub.delete(f"/v1/golden/{gid}/pin/date_of_birth").json()["unpinned"] is True
    assert hub.delete(f"/v1/golden/{gid}/pin/date_of_birth").status_code == 404
    assert hub.post("/v1/golden/G99999999/pin", {"field": "first_name", "value": "X"}).status_code == 404


def test_split_and_merge_store_their_decisions(hub, chosen):
    bigger, system, key, rid = chosen["split_out"]
    r = hub.post(f"/v1/golden/{bigger}/split", {"source_system": system, "source_key": key})
    assert r.status_code == 200, r.json()
    others = {d["id_l"] if d["id_r"] == rid else d["id_r"] for d in r.json()["decisions"]}
    assert others == set(hub.golden_of_members(bigger)) - {rid}
    assert {d["decision"] for d in r.json()["decisions"]} == {"not_match"}
    r = hub.post(f"/v1/golden/{bigger}/split", {"source_system": system, "source_key": "no-such-key"})
    assert r.status_code == 422 and r.json()["message"].startswith("source_key:")
    g1, g2 = chosen["merge_golden"]
    r = hub.post("/v1/golden/merge", {"golden_ids": [g1, g2]})
    assert r.status_code == 200 and [d["decision"] for d in r.json()["decisions"]] == ["match"]
    r = hub.post("/v1/golden/merge", {"golden_ids": [g1]})
    assert r.status_code == 422 and r.json()["message"].startswith("golden_ids:")
    r = hub.post("/v1/golden/merge", {"golden_ids": [g1, g1]})
    assert r.status_code == 422 and r.json()["message"].startswith("golden_ids:")
    assert hub.post("/v1/golden/merge", {"golden_ids": [g1, "G99999999"]}).status_code == 404
    assert hub.post("/v1/golden/merge", {"golden_ids": [g1, g2]}, key=hub.reader_key).status_code == 403


def test_the_next_runs_honour_the_decisions_and_the_pin(hub, chosen):
    (a, b), (s1, s2), gid = chosen["merge"], chosen["split"], chosen["pin"]
    bigger, _, _, split_out = chosen["split_out"]
    former = set(hub.golden_of_members(bigger)) - {split_out}
    g1, g2 = chosen["merge_golden"]
    merged = [r for g in (g1, g2) for r in hub.golden_of_members(g)]

    def check():
        ids = hub.golden_of()
        assert ids[a] == ids[b], "a 'match' stays merged"
        assert hub.link_type(a) == hub.link_type(b) == "steward"
        assert ids[s1] != ids[s2], "a 'not a match' stays split"
        assert all(ids[split_out] != ids[r] for r in former), "a split record stays out"
        assert ids[merged[0]] == ids[merged[1]], "a merge stays merged"
        assert hub.get(f"/v1/golden/{g1}").json()["golden_id"] == hub.get(f"/v1/golden/{g2}").json()["golden_id"]
        rec = hub.get(f"/v1/golden/{gid}").json()
        assert rec["attributes"]["first_name"] == "Zebulon" and rec["lineage"]["first_name"]["rule"] == "pinned"
        queued = {(p["id_l"], p["id_r"]) for p in hub.get("/v1/review", page_size=200).json()["results"]}
        assert (a, b) not in queued and (s1, s2) not in queued

    summary = hub.run()
    assert summary.value("clusters", "steward_match_decisions") == 2
    assert summary.value("clusters", "steward_not_match_decisions") == 1 + len(former)
    check()
    hub.run()  # and again: nothing a steward decided is undone
    check()
    config = str(hub.config)
    assert main(["match", "--config", config]) == 0 and main(["golden", "--config", config]) == 0  # the CLI path too
    check()


# ---------------------------------------------------------------------------------------- store level


def test_store_decisions_replace_keep_history_and_refuse_contradictions(engine):  # noqa: F811
    publish(engine, golden(person("A"), person("B")), links(("1", "A"), ("2", "B"), ("3", "B", 0.97, "auto")))
    with store.write_transaction(engine) as conn:
        with pytest.raises(ValueError, match="'crm:9'"):
            store.decide(conn, "crm:1", "crm:9", "match", "sam")
        with pytest.raises(ValueError, match="is not a record id"):
            store.decide(conn, "crm:1", "nocolon", "match", "sam")
        with pytest.raises(ValueError, match="decision 'maybe'"):
            store.decide(conn, "crm:1", "crm:2", "maybe", "sam")
        first = store.decide(conn, "crm:2", "crm:1", "not_match", "sam", "different people")
        assert (first["id_l"], first["id_r"]) == ("crm:1", "crm:2")
        store.decide(conn, "crm:1", "crm:2", "match", "kim")  # replaces the first
        store.decide(conn, "crm:2", "crm:3", "match", "kim")
        with pytest.raises(store.ConflictingDecision, match="'crm:1' and 'crm:3'"):
            store.decide(conn, "crm:1", "crm:3", "not_match", "sam")
    with engine.connect() as conn:
        must, cannot = store.decisions(conn)
        history = store.decision_history(conn, "crm:2", "crm:1")
    assert sorted(must.itertuples(index=False, name=None)) == [("crm:1", "crm:2"), ("crm:2", "crm:3")]
    assert cannot.empty
    assert [(h["decision"], h["decided_by"], h["superseded_at"] is None) for h in history] == [
        ("not_match", "sam", False),
        ("match", "kim", True),
    ]


def test_the_published_queue_leaves_out_pairs_decided_meanwhile(engine):  # noqa: F811
    gold, xr = golden(person("A"), person("B")), links(("1", "A"), ("2", "B"), ("3", "B", 0.97, "auto"))
    publish(engine, gold, xr)
    row = {"source_system_l": "crm", "source_system_r": "crm", "golden_id_l": "A", "golden_id_r": "B"}
    queue = pd.DataFrame(
        [
            {"id_l": "crm:1", "id_r": "crm:2", "match_probability": 0.8, "match_weight": 2.0, **row},
            {"id_l": "crm:1", "id_r": "crm:3", "match_probability": 0.75, "match_weight": 1.5, **row},
        ]
    ).assign(explanation='{"name": 1.5}', record_l="{}", record_r="{}")
    with store.write_transaction(engine) as conn:  # decided after the run read the decisions
        store.decide(conn, "crm:1", "crm:3", "not_match", "sam")
    store.publish(engine, store.start_run(engine), gold, xr, None, {}, queue)
    q = schema.review_queue.c
    with engine.connect() as conn:
        assert conn.execute(sa.select(q.id_l, q.id_r, q.run_id)).all()[0][:2] == ("crm:1", "crm:2")
        assert conn.scalar(sa.select(sa.func.count()).select_from(schema.review_queue)) == 1


# ------------------------------------------------------------------------------------------ the CLI


def test_hub_review_lists_the_queue_and_records_a_decision(hub, capsys):
    config = str(hub.config)
    assert main(["review", "list", "--config", config, "--limit", "500"]) == 0
    out = capsys.readouterr().out
    total = hub.get("/v1/review", page_size=1).json()["total"]
    assert f"{total:,} pair(s) in the queue" in out
    last = hub.get("/v1/review", page_size=1, sort="probability_asc").json()["results"][0]
    assert last["id_l"] in out and f"{last['match_probability']:.3f}" in out

    args = ["review", "decide", last["id_l"], last["id_r"], "not_match", "--by", "cli carl", "--config", config]
    assert main(args) == 0
    assert "`hub review apply` applies it now, or the next pipeline run will" in capsys.readouterr().out
    assert hub.get("/v1/review", page_size=1).json()["total"] == total - 1
    pair = hub.get(f"/v1/review/{last['id_l']}/{last['id_r']}").json()
    assert [(d["decision"], d["decided_by"]) for d in pair["decisions"]] == [("not_match", "cli carl")]

    assert main(["review", "decide", "crm:nope", last["id_r"], "match", "--by", "x", "--config", config]) == 1
    assert "crm:nope" in capsys.readouterr().err
