"""Match-on-entry (POST /v1/match) over a demo after a pipeline run: the published model finds a
record's golden record from misspelt values, explains the score, writes nothing, and follows a retrain."""

from __future__ import annotations

import gc
import hashlib
import json
import math
import weakref
from datetime import datetime

import duckdb
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import store
from hub.api import keys
from hub.api.match import MAX_PER_CRITERION, MAX_SCORED, Scorers
from pipelines.entry import create_app, main
from tests.test_steward import Hub
from tests.test_store import golden, links, person

COMPARISONS = {"name", "date_of_birth", "email", "phone", "address", "address_line2", "city", "country"}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory, "match")
    yield h
    h.client.close()
    h.engine.dispose()


@pytest.fixture
def empty_store(tmp_path):
    """A migrated serving store nothing was published to."""
    engine = store.open_store(f"sqlite:///{tmp_path / 'serving.db'}")
    yield engine
    engine.dispose()


def match(hub: Hub, body: dict, key: str | None = None, **params):
    headers = {"Authorization": f"Bearer {key or hub.reader_key}"}
    return hub.client.post("/v1/match", json=body, params=params, headers=headers)


def misspell(word: str) -> str:
    """Two neighbouring letters swapped inside the word: a typo, not another name."""
    return word[:2] + word[3] + word[2] + word[4:] if len(word) > 4 else word + "e"


@pytest.fixture(scope="module")
def source_record(hub) -> pd.Series:
    """A staged source record of a golden record with several sources, with email and date of birth."""
    with duckdb.connect(str(hub.cfg.workspace), read_only=True) as con:
        rows = con.execute(
            """SELECT s.* FROM staged_records s
               JOIN golden_members m ON m.record_id = s.source_system || ':' || s.source_key
               WHERE m.golden_id IN (SELECT golden_id FROM golden_members GROUP BY ALL HAVING count(*) > 1)
                 AND s.email IS NOT NULL AND s.date_of_birth IS NOT NULL AND length(s.last_name) > 4
               ORDER BY s.source_system, s.source_key LIMIT 1"""
        ).df()
    return rows.iloc[0]


def store_state(engine: sa.Engine) -> dict[str, tuple[int, str]]:
    """Row count and a digest of every row, per table of the serving store."""
    out = {}
    with engine.connect() as conn:
        for table in store.metadata.sorted_tables:
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = (len(rows), hashlib.md5(repr(sorted(map(repr, rows))).encode()).hexdigest())
    return out


def test_a_misspelt_source_record_finds_its_golden_record_first(hub, source_record):
    golden_id = hub.golden_of()[f"{source_record.source_system}:{source_record.source_key}"]
    body = {
        "first_name": source_record.first_name,
        "last_name": misspell(source_record.last_name),
        "date_of_birth": str(source_record.date_of_birth.date()),
        "email": source_record.email,
        "postal_code": source_record.postal_code,
    }
    r = match(hub, body)
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["model_version"] == 1 and page["threshold"] == hub.cfg.matching.review_threshold
    best = page["results"][0]
    assert best["golden_id"] == golden_id and best["match_probability"] > 0.99
    probabilities = [c["match_probability"] for c in page["results"]]
    assert probabilities == sorted(probabilities, reverse=True) and len(probabilities) <= 5
    # every golden record the index lookups found was scored (up to MAX_SCORED)
    criteria = store.SearchCriteria(f"{body['first_name']} {body['last_name']}", body["email"], None,
                                    body["postal_code"])  # fmt: skip
    with hub.engine.connect() as conn:
        found, _ = store.search_candidates(conn, criteria, MAX_PER_CRITERION, ["golden_id"])
    assert page["candidates_scored"] == min(len(found["golden_id"]), MAX_SCORED) > 1
    explained = {e["comparison"]: e for e in best["explanation"]}
    assert set(explained) == COMPARISONS
    assert explained["email"]["level"] == "exact" and explained["email"]["match_weight"] > 0
    assert explained["date_of_birth"]["match_weight"] > 0
    # the weights add up: prior + every comparison's weight (term frequencies included) = the match weight
    with hub.engine.connect() as conn:
        prior = store.published_model(conn)
    p = json.loads(prior.model_json)["probability_two_random_records_match"]
    total = math.log2(p / (1 - p)) + sum(e["match_weight"] for e in best["explanation"])
    assert total == pytest.approx(best["match_weight"], abs=1e-6)


def test_an_unrelated_person_matches_nothing(hub):
    body = {"first_name": "Zebedee", "last_name": "Quillfeather", "email": "zq1931@nowhere.example.org",
            "date_of_birth": "1931-02-28", "postal_code": "ZZ9 9ZZ"}  # fmt: skip
    assert match(hub, body).json()["results"] == []
    everything = match(hub, body, threshold=0, limit=50).json()["results"]
    assert all(c["match_probability"] < 0.01 for c in everything)


def test_matching_writes_nothing(hub, source_record):
    """Nothing but the PII read log's entries for the candidates it returned."""
    before = store_state(hub.engine)
    workspace = hub.cfg.workspace.stat().st_mtime_ns
    for body in ({"email": source_record.email}, {"last_name": source_record.last_name, "phone": "+447700900123"}):
        assert match(hub, body, threshold=0).status_code == 200
    after = store_state(hub.engine)
    assert after.pop("pii_reads")[0] > before.pop("pii_reads")[0]
    assert after == before
    assert hub.cfg.workspace.stat().st_mtime_ns == workspace


def test_key_and_body_are_checked(hub):
    assert hub.client.post("/v1/match", json={"email": "a@b.com"}).status_code == 401
    cases = [
        ({}, {}, "record"),
        ({"city": "Leeds", "date_of_birth": "1980-01-01"}, {}, "record"),
        ({"first_name": " , ", "city": "Leeds"}, {}, "record"),
        ({"email": 5}, {}, "email"),
        ({"email": "not an address"}, {}, "email"),
        ({"phone": "call me"}, {}, "phone"),
        ({"last_name": "Lee", "date_of_birth": "yesterday"}, {}, "date_of_birth"),
        ({"last_name": "Lee", "country": "Britain"}, {}, "country"),
        ({"last_name": "Lee", "nickname": "Al"}, {}, "nickname"),
        ({"last_name": "Lee"}, {"limit": 51}, "limit"),
        ({"last_name": "Lee"}, {"threshold": 1.5}, "threshold"),
    ]
    for body, params, field in cases:
        r = match(hub, body, **params)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["message"].startswith(f"{field}:"), (body, r.json())


def test_no_published_model_is_a_clear_503(hub, empty_store):
    _, key = keys.create_key(empty_store, "reader", "reader")
    with TestClient(create_app(hub.cfg, empty_store)) as client:
        r = client.post("/v1/match", json={"last_name": "Lee"}, headers={"X-API-Key": key})
    assert r.status_code == 503 and "run the pipeline first" in r.json()["detail"]


def test_the_model_is_published_only_when_it_changed(empty_store):
    model = store.MatchModel(
        version=3,
        trained_at=datetime(2025, 1, 1),
        records=10,
        model_json='{"comparisons": []}',
        tf_counts=pd.DataFrame(
            {"tf_column": ["city_std", "city_std"], "value": ["leeds", "york"], "golden_records": [2, 3]}
        ),
        tf_totals={"city_std": 9},
    )
    run = lambda m: store.publish(  # noqa: E731
        empty_store, store.start_run(empty_store), golden(person("A")), links(("a1", "A")), model=m
    )
    first = run(model)
    assert (first.match_model_published, first.term_frequencies_changed) == (3, 2)
    again = run(model)
    assert (again.match_model_published, again.term_frequencies_changed) == (0, 0)
    recounted = pd.DataFrame({"tf_column": ["city_std"], "value": ["york"], "golden_records": [4]})
    third = run(store.MatchModel(**{**model.__dict__, "tf_counts": recounted, "tf_totals": {"city_std": 10}}))
    assert (third.match_model_published, third.term_frequencies_changed) == (0, 2)  # york recounted, leeds gone
    without = run(None)
    with empty_store.connect() as conn:
        published = store.published_model(conn)
        assert store.shared_values(conn, {"city_std": ["york", "leeds"]}) == {("city_std", "york"): 4}
    assert (published.version, published.run_id, published.tf_totals) == (3, first.run_id, {"city_std": 10})
    assert without.match_model_published == 0


def test_a_retrained_model_is_published_by_the_next_run(hub, source_record):
    assert main(["model", "train", "--config", str(hub.config)]) == 0
    hub.run()
    with hub.engine.connect() as conn:
        published = store.published_model(conn)
        run_id = store.last_published_run(conn)
    assert (published.version, published.run_id) == (2, run_id)
    assert match(hub, {"email": source_record.email}).json()["model_version"] == 2


def test_a_scorer_is_left_out_of_full_collections_and_an_old_one_is_freed():
    """The scorer (and what was imported for it) is frozen out of the collector's full passes, whose pauses made a
    p99 of their own; when a newer model's scorer is built, the old one is freed even if only the collector can."""

    class Scorer:
        def __init__(self) -> None:
            self.itself = self  # a reference cycle: only the collector frees it

    def published(version: int) -> store.PublishedModel:
        return store.PublishedModel(version, datetime(2026, 1, 1), 1, "{}", {}, datetime(2026, 1, 1), f"run{version}")

    scorers = Scorers(lambda _model: Scorer())
    try:
        gc.unfreeze()
        first = weakref.ref(scorers.get(published(1)))
        assert gc.get_freeze_count() > 0
        scorers.get(published(2))
        assert first() is None
    finally:
        gc.unfreeze()
