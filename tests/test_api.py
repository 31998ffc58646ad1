"""The REST API on a small published demo: every endpoint, its errors, API keys and `hub serve`."""

from __future__ import annotations

import io
import json
import re
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from connectors import pull_source
from connectors.demo import init_demo
from golden_record.run import build_and_publish
from hub import store
from hub.api import keys
from hub.config import load_config
from hub.workspace import Workspace
from matching.run import match
from pipelines.entry import create_app, main

pytestmark = pytest.mark.slow(seconds=15)  # the file's weight in the suite's order (tests/conftest.py)


class Hub:
    """A published demo after a second run in which a steward merged two golden records and one
    source record was deleted from its source."""

    def __init__(self, tmp):
        init_demo(tmp, customers=300, seed=11)
        self.config = tmp / "hub.yaml"
        self.cfg = cfg = load_config(self.config)
        self.engine = store.open_store(cfg.serving_store)
        ws = Workspace.for_config(cfg)
        try:
            for name in cfg.sources:
                pull_source(cfg, name, ws)
            match(ws, cfg)
            build_and_publish(ws, cfg, self.engine)
            self.after_first = datetime.now(UTC)
            with self.engine.connect() as conn:
                x = store.current_xref(conn)
            sizes = x.groupby("golden_id").size()
            singles = x[x.golden_id.isin(sizes[sizes == 1].index)]
            self.survivor = sizes.idxmax()
            kept, gone = singles.iloc[0], singles.iloc[1]  # kept: merged into survivor; gone: deleted
            self.merged = kept.golden_id
            self.deleted = gone.golden_id
            src = cfg.sources[gone.source_system]
            with sa.create_engine(src.url).begin() as conn:
                done = conn.execute(
                    sa.text(f'DELETE FROM "{src.table}" WHERE "{src.primary_key}" = :k'), {"k": gone.source_key}
                )
                assert done.rowcount == 1
            pull_source(cfg, gone.source_system, ws, full=True)
            big = x[x.golden_id == self.survivor].iloc[0]
            must = pd.DataFrame(
                {"id_l": [f"{big.source_system}:{big.source_key}"], "id_r": [f"{kept.source_system}:{kept.source_key}"]}
            )
            match(ws, cfg, must_link=must)
            result = build_and_publish(ws, cfg, self.engine, must_link=must)
            assert result.merged_away >= 1
        finally:
            ws.close()
        self.admin_key = keys.create_key(self.engine, "test admin", "admin")[1]
        self.reader_key = keys.create_key(self.engine, "test reader", "reader")[1]
        self.client = TestClient(create_app(cfg, self.engine))

    def get(self, url: str, key: str | None = None, **params) -> httpx.Response:
        return self.client.get(url, params=params, headers={"Authorization": f"Bearer {key or self.reader_key}"})


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("api"))
    yield h
    h.client.close()
    h.engine.dispose()


def live(hub: Hub, golden_id: str) -> dict:
    with hub.engine.connect() as conn:
        return store.golden_by_id(conn, golden_id)


# ------------------------------------------------------------------------------------------- access


def test_health_needs_no_key_and_everything_else_does(hub):
    r = hub.client.get("/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["last_published_run"]
    for url in ("/v1/golden/G00000001", "/v1/search?name=x", "/v1/changes", "/v1/export/golden", "/v1/apikeys"):
        r = hub.client.get(url)
        assert r.status_code == 401, url
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert "API key is required" in r.json()["detail"]
    wrong = {"Authorization": "Bearer hub_000000000000_nottherightsecretatall"}
    r = hub.client.get("/v1/golden/G00000001", headers=wrong)
    assert r.status_code == 401 and "not valid" in r.json()["detail"]


def test_roles_and_key_lifecycle_over_http(hub):
    r = hub.get("/v1/apikeys")  # a reader key on an admin endpoint
    assert r.status_code == 403 and "admin role" in r.json()["detail"]

    admin = {"Authorization": f"Bearer {hub.admin_key}"}
    r = hub.client.post("/v1/apikeys", json={"name": "billing-sync", "role": "reader"}, headers=admin)
    assert r.status_code == 201
    made = r.json()
    assert hub.client.get("/v1/golden/G00000001", headers={"X-API-Key": made["key"]}).status_code in (200, 404)
    listed = hub.client.get("/v1/apikeys", headers=admin).json()
    assert {k["key_id"] for k in listed} >= {made["key_id"]} and all("key" not in k for k in listed)

    r = hub.client.post("/v1/apikeys", json={"name": "x", "role": "root"}, headers=admin)
    assert r.status_code == 422 and r.json()["message"].startswith("role:")

    assert hub.client.delete(f"/v1/apikeys/{made['key_id']}", headers=admin).json()["revoked_at"]
    r = hub.client.get("/v1/golden/G00000001", headers={"X-API-Key": made["key"]})
    assert r.status_code == 401
    assert hub.client.delete(f"/v1/apikeys/{made['key_id']}", headers=admin).status_code == 404


def test_keys_are_stored_only_hashed(hub):
    dump = "\n".join(sqlite3.connect(sa.make_url(hub.cfg.serving_store).database).iterdump())
    for raw in (hub.admin_key, hub.reader_key):
        secret = raw.split("_", 2)[2]  # hub_<key_id>_<secret>; the secret itself may contain "_"
        assert raw not in dump and secret not in dump
        assert raw.split("_")[1] in dump  # the key id is public


def test_apikey_cli_creates_lists_and_revokes(hub, capsys):
    config = str(hub.config)
    assert main(["apikey", "create", "--name", "ops", "--role", "steward", "--config", config]) == 0
    raw = capsys.readouterr().out.strip().splitlines()[-1]
    key_id = raw.split("_")[1]
    assert hub.get("/v1/golden/G00000001", key=raw).status_code in (200, 404)  # a steward may read
    assert main(["apikey", "list", "--config", config]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(key_id))
    assert "steward" in line and raw not in line
    assert main(["apikey", "revoke", key_id, "--config", config]) == 0
    assert hub.get("/v1/golden/G00000001", key=raw).status_code == 401
    assert main(["apikey", "revoke", key_id, "--config", config]) == 1
    assert "no live API key" in capsys.readouterr().err


# ------------------------------------------------------------------------------------- golden records


def test_golden_record_by_id_with_attributes_lineage_and_counts(hub):
    r = hub.get(f"/v1/golden/{hub.survivor}")
    assert r.status_code == 200
    body, rec = r.json(), live(hub, hub.survivor)
    assert body["golden_id"] == body["requested_id"] == hub.survivor and body["redirected"] is False
    assert body["attributes"]["last_name"] == rec["last_name"] and body["attributes"]["email"] == rec["email"]
    assert body["record_count"] == rec["record_count"] and body["version"] == rec["version"]
    assert body["lineage"]["email"]["source_system"] and isinstance(body["extra"], dict)
    assert body["created_at"] and body["updated_at"]


def test_a_merged_id_answers_with_its_survivor_and_says_so(hub):
    body = hub.get(f"/v1/golden/{hub.merged}").json()
    assert body["requested_id"] == hub.merged and body["golden_id"] == hub.survivor
    assert body["redirected"] is True and body["redirect"]["reason"] == "merge"
    sources = hub.get(f"/v1/golden/{hub.merged}/sources").json()
    assert sources["golden_id"] == hub.survivor and sources["redirected"] is True
    assert "steward" in {s["link_type"] for s in sources["sources"]}


def test_as_of_reads_the_version_of_that_time(hub):
    then = hub.get(f"/v1/golden/{hub.merged}", as_of=hub.after_first.isoformat()).json()
    assert then["golden_id"] == hub.merged and then["redirected"] is False and then["valid_to"]
    r = hub.get(f"/v1/golden/{hub.survivor}", as_of="2000-01-01T00:00:00Z")
    assert r.status_code == 404 and "had no version at" in r.json()["detail"]
    r = hub.get(f"/v1/golden/{hub.survivor}", as_of="yesterday")
    assert r.status_code == 422 and r.json()["message"].startswith("as_of:")


def test_unknown_and_deleted_ids(hub):
    r = hub.get("/v1/golden/G99999999")
    assert r.status_code == 404 and "G99999999" in r.json()["detail"]
    assert hub.get("/v1/golden/G99999999/history").status_code == 404
    assert hub.get("/v1/golden/G99999999/sources").status_code == 404
    r = hub.get(f"/v1/golden/{hub.deleted}")
    assert r.status_code == 410 and "source records are gone" in r.json()["detail"]
    assert hub.get(f"/v1/golden/{hub.deleted}/sources").status_code == 410
    assert len(hub.get(f"/v1/golden/{hub.deleted}/history").json()["versions"]) == 1  # its history stays


def test_history_lists_every_version(hub):
    versions = hub.get(f"/v1/golden/{hub.merged}/history").json()["versions"]
    assert [v["version"] for v in versions] == list(range(1, len(versions) + 1))
    assert versions[-1]["valid_to"] is not None  # closed when it was merged away


def test_golden_record_by_source_key(hub):
    with hub.engine.connect() as conn:
        row = store.current_xref(conn).iloc[0]
    r = hub.get(f"/v1/sources/{row.source_system}/{row.source_key}")
    assert r.status_code == 200 and r.json()["golden_id"] == row.golden_id
    r = hub.get(f"/v1/sources/{row.source_system}/no-such-key")
    assert r.status_code == 404 and "no-such-key" in r.json()["detail"]
    r = hub.get("/v1/sources/ledger/1")
    assert r.status_code == 404 and "configured: " in r.json()["detail"] and row.source_system in r.json()["detail"]


# -------------------------------------------------------------------------------------------- search


def test_search_puts_the_right_person_first_for_a_misspelt_name(hub):
    rec = live(hub, hub.survivor)
    last = rec["last_name"]
    typo = last[:3] + last[4:] if len(last) > 4 else last + "e"  # a letter dropped after the indexed prefix
    body = hub.get("/v1/search", name=f"{rec['first_name']} {typo}").json()
    assert body["results"][0]["golden_id"] == hub.survivor and body["results"][0]["score"] > 80
    assert body["total"] >= 1 and body["truncated"] is False


def test_search_by_email_phone_and_postcode(hub):
    rec = live(hub, hub.survivor)
    assert hub.get("/v1/search", email=rec["email"].upper()).json()["results"][0]["golden_id"] == hub.survivor
    national = "0" + rec["phone"][3:] if rec["phone"].startswith("+44") else rec["phone"]
    assert hub.get("/v1/search", phone=national).json()["results"][0]["golden_id"] == hub.survivor
    outward = rec["postal_code"].split()[0].lower()
    found = hub.get("/v1/search", postal_code=outward, page_size=100).json()
    assert hub.survivor in {h["golden_id"] for h in found["results"]}
    both = hub.get("/v1/search", name=rec["last_name"], postal_code=rec["postal_code"]).json()
    assert both["results"][0]["golden_id"] == hub.survivor and both["results"][0]["score"] >= 90


def test_search_paginates_with_a_total(hub):
    with hub.engine.connect() as conn:
        letter = conn.scalar(sa.text("SELECT substr(lower(last_name), 1, 1) FROM golden_records LIMIT 1"))
    first = hub.get("/v1/search", name=letter, min_score=0, page_size=3).json()
    second = hub.get("/v1/search", name=letter, min_score=0, page_size=3, page=2).json()
    assert first["total"] == second["total"] >= 4
    assert not {h["golden_id"] for h in first["results"]} & {h["golden_id"] for h in second["results"]}
    scores = [h["score"] for h in first["results"] + second["results"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [({}, "name"), ({"name": "x", "page_size": 0}, "page_size"), ({"name": "x", "page": "one"}, "page"),
     ({"phone": "not a phone"}, "phone"), ({"name": "x", "min_score": 101}, "min_score")],
)  # fmt: skip
def test_bad_search_parameters_are_422_naming_the_field(hub, params, field):
    r = hub.get("/v1/search", **params)
    assert r.status_code == 422 and r.json()["message"].startswith(f"{field}:")
    assert r.json()["detail"][0]["loc"] == ["query", field]
    r = hub.client.post("/v1/search", json=params, headers={"Authorization": f"Bearer {hub.reader_key}"})
    assert r.status_code == 422 and r.json()["message"].startswith(f"{field}:")
    assert r.json()["detail"][0]["loc"] == ["body", field]


def test_search_by_post_answers_as_get_does(hub):
    rec = live(hub, hub.survivor)
    criteria = {"name": f"{rec['first_name']} {rec['last_name']}", "email": rec["email"], "page_size": 5}
    by_get = hub.get("/v1/search", **criteria)
    by_post = hub.client.post("/v1/search", json=criteria, headers={"Authorization": f"Bearer {hub.reader_key}"})
    assert by_post.status_code == 200 and by_post.json() == by_get.json()
    assert by_post.json()["results"][0]["golden_id"] == hub.survivor
    r = hub.client.post("/v1/search", json={**criteria, "who": "me"}, headers={"X-API-Key": hub.reader_key})
    assert r.status_code == 422 and r.json()["message"].startswith("who:")


# ------------------------------------------------------------------------------- change feed, export


def test_the_change_feed_pages_through_every_version_and_retirement_exactly_once(hub):
    with hub.engine.connect() as conn:
        versions = {tuple(r) for r in conn.execute(sa.text("SELECT golden_id, version FROM golden_history"))}
        retired = {r[0] for r in conn.execute(sa.text("SELECT retired_id FROM id_redirects"))}
    seen, cursor, pages = [], None, 0
    while True:
        body = hub.get("/v1/changes", limit=97, **({"cursor": cursor} if cursor else {})).json()
        pages += 1
        seen += body["changes"]
        cursor = body["next_cursor"]
        if not body["has_more"]:
            break
    assert pages > 2
    assert sorted((e["golden_id"], e["version"]) for e in seen if e["event"] == "version") == sorted(versions)
    assert sorted(e["golden_id"] for e in seen if e["event"] == "retired") == sorted(retired)
    assert {hub.merged, hub.deleted} <= retired
    gone = next(e for e in seen if e["golden_id"] == hub.deleted and e["event"] == "retired")
    assert gone["surviving_id"] is None and gone["reason"] == "deleted"
    times = [e["at"] for e in seen]
    assert times == sorted(times)
    assert all(e["record"]["attributes"] for e in seen if e["event"] == "version")
    for e in seen:  # every version names the fields it changed; a first version, those with a value
        if e["event"] == "version" and e["version"] == 1:
            values = {**e["record"]["attributes"], **e["record"]["extra"]}
            assert set(e["changed_fields"]) == {k for k, v in values.items() if v is not None}, e["golden_id"]
        elif e["event"] == "version":
            assert e["changed_fields"] and e["changed_fields"] == e["record"]["changed_fields"], e["golden_id"]
        else:
            assert e["changed_fields"] is None

    rest = hub.get("/v1/changes", cursor=cursor).json()  # caught up: nothing, same cursor to poll with
    assert rest["changes"] == [] and rest["next_cursor"] == cursor and rest["has_more"] is False
    second_run = max(times)
    since = hub.get("/v1/changes", since=second_run).json()["changes"]
    assert since and all(e["at"] == second_run for e in since)
    assert len(since) == sum(e["at"] == second_run for e in seen)


def test_bad_change_feed_parameters(hub):
    r = hub.get("/v1/changes", cursor="garbage")
    assert r.status_code == 422 and r.json()["message"].startswith("cursor:")
    r = hub.get("/v1/changes", limit=5000)
    assert r.status_code == 422 and r.json()["message"].startswith("limit:")
    cursor = hub.get("/v1/changes", limit=1).json()["next_cursor"]
    r = hub.get("/v1/changes", cursor=cursor, since="2026-01-01T00:00:00")
    assert r.status_code == 422 and r.json()["message"].startswith("since:")
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert hub.get("/v1/changes", since=future).json()["changes"] == []


def test_export_streams_the_current_golden_records_and_xref(hub):
    with hub.engine.connect() as conn:
        n_golden = len(store.current_golden(conn, ["golden_id"]))
        n_xref = len(store.current_xref(conn))
    r = hub.get("/v1/export/golden", format="csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.StringIO(r.text))
    assert len(frame) == n_golden and hub.survivor in set(frame.golden_id) and hub.merged not in set(frame.golden_id)
    r = hub.get("/v1/export/xref", format="parquet")
    assert len(pd.read_parquet(io.BytesIO(r.content))) == n_xref == int(r.headers["x-row-count"])
    r = hub.get("/v1/export/golden", format="xlsx")
    assert r.status_code == 422 and r.json()["message"].startswith("format:")
    assert hub.get("/v1/export/customers").status_code == 422


def test_openapi_documents_every_endpoint(hub):
    doc = hub.client.get("/openapi.json").json()
    paths = set(doc["paths"])
    assert {
        "/v1/golden/{golden_id}", "/v1/golden/{golden_id}/history", "/v1/golden/{golden_id}/sources",
        "/v1/sources/{source_system}/{source_key}", "/v1/search", "/v1/changes", "/v1/export/{table}",
        "/v1/health", "/v1/apikeys",
    } <= paths  # fmt: skip
    assert all(op.get("summary") for ops in doc["paths"].values() for op in ops.values())
    assert "GoldenRecord" in doc["components"]["schemas"]


# -------------------------------------------------------------------------------------------- serve


def _stop(proc: subprocess.Popen[bytes], seconds: int) -> None:
    """Stop a `hub serve` process: SIGTERM, then SIGKILL if it has not exited in `seconds`."""
    proc.terminate()
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_hub_serve_answers_health_on_loopback_and_keeps_search_criteria_out_of_its_access_log(hub):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.entry", "serve", "--config", str(hub.config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline, answer = time.monotonic() + 30, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None, proc.stdout.read().decode() if proc.poll() is not None else "no answer in 30 s"
        assert answer.status_code == 200 and answer.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/search?name=x", timeout=5).status_code == 401
        auth = {"Authorization": f"Bearer {hub.reader_key}"}
        url = f"http://127.0.0.1:{port}/v1/search"
        private = {"email": "secret.person@example.com", "phone": "+447700900999"}
        assert httpx.get(url, params=private, headers=auth, timeout=5).status_code == 200
        assert httpx.post(url, json=private, headers=auth, timeout=5).status_code == 200
    finally:
        _stop(proc, 10)
    log = proc.stdout.read().decode()
    assert '"GET /v1/search?<hidden> HTTP/1.1" 200' in log and '"POST /v1/search HTTP/1.1" 200' in log, log
    assert "secret.person" not in log and "7700900999" not in log


def test_hub_serve_with_two_workers_starts_two_worker_processes_that_serve_search_and_match(hub):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipelines.entry", "serve", "--config", str(hub.config), "--port", str(port),
         "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base, auth = f"http://127.0.0.1:{port}", {"X-API-Key": hub.reader_key}
        deadline, answer = time.monotonic() + 60, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                answer = httpx.get(f"{base}/v1/health", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        assert answer is not None and answer.status_code == 200, "no answer in 60 s"
        with httpx.Client(base_url=base, headers=auth, timeout=60) as client:
            for _ in range(6):
                assert client.post("/v1/search", json={"name": "smith"}).status_code == 200
            match = client.post("/v1/match", json={"first_name": "Ann", "last_name": "Smith"})
            assert match.status_code == 200, match.text
    finally:
        _stop(proc, 20)
    log = proc.stdout.read().decode()
    workers = set(re.findall(r"Started server process \[(\d+)\]", log))
    assert len(workers) == 2 and str(proc.pid) not in workers, log
    assert "2 worker processes" in log


def test_each_worker_allows_its_share_of_failed_key_checks(hub):
    from hub.api import create_app as core_app

    app = core_app(hub.cfg, hub.engine, entry_scorer=lambda model: None, workers=3)  # type: ignore[arg-type,return-value]
    assert app.state.throttle.max_failures == max(1, hub.cfg.api.max_failures // 3)


# ------------------------------------------------------------------------------------ each backend


def test_search_and_change_feed_queries_on_each_backend(hub, store_engine):
    """The index-range SQL of search and the keyset SQL of the change feed on SQLite and PostgreSQL."""
    attrs = {name: None for name in store.ATTRIBUTES}

    def rec(gid, first, last, email, phone, postcode):
        return attrs | {"golden_id": gid, "first_name": first, "last_name": last, "email": email, "phone": phone,
                        "postal_code": postcode, "lineage": "{}", "record_count": 1}  # fmt: skip

    people = [
        rec("G1", "Robert", "Smith", "Bob.Smith@example.com", "+447700900001", "LS1 4AP"),
        rec("G2", "Roberta", "Smythe", "rs@example.com", "+447700900002", "LS2 9JT"),
        rec("G3", "Anne", "Lee", "anne@example.com", "+447700900003", "M1 1AE"),
    ]
    xref = pd.DataFrame({"source_system": "crm", "source_key": ["1", "2", "3"], "golden_id": ["G1", "G2", "G3"],
                         "match_probability": None, "link_type": "singleton"})  # fmt: skip
    store.publish(store_engine, store.start_run(store_engine), pd.DataFrame(people), xref)
    people[0] = people[0] | {"city": "Leeds"}
    moved = '{"email":{"rule":"valid","source_key":"2","source_system":"web"}}'
    people[1] = people[1] | {"lineage": moved}  # the same values from another source record: no new version
    store.publish(
        store_engine,
        store.start_run(store_engine),
        pd.DataFrame(people[:2]),
        xref.assign(golden_id=["G1", "G2", "G1"], link_type=["singleton", "singleton", "steward"]),
        pd.DataFrame({"retired_id": ["G3"], "surviving_id": ["G1"]}),
    )
    cfg = hub.cfg.model_copy(update={"serving_store": store_engine.url.render_as_string(hide_password=False)})
    key = keys.create_key(store_engine, "t", "reader")[1]
    with TestClient(create_app(cfg, store_engine)) as client:
        get = lambda url, **p: client.get(url, params=p, headers={"X-API-Key": key}).json()  # noqa: E731
        assert [h["golden_id"] for h in get("/v1/search", name="Robert Smiht")["results"]][:1] == ["G1"]
        assert get("/v1/search", email="BOB.SMITH@example.com")["results"][0]["golden_id"] == "G1"
        assert get("/v1/search", phone="07700 900002")["results"][0]["golden_id"] == "G2"
        assert {h["golden_id"] for h in get("/v1/search", postal_code="ls")["results"]} == {"G1", "G2"}
        seen, cursor = [], None
        while True:
            page = get("/v1/changes", limit=2, **({"cursor": cursor} if cursor else {}))
            seen += [(e["event"], e["golden_id"], e["version"]) for e in page["changes"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert seen == [
            ("version", "G1", 1), ("version", "G2", 1), ("version", "G3", 1), ("version", "G1", 2),
            ("retired", "G3", None),
        ]  # fmt: skip
        assert get("/v1/golden/G3")["golden_id"] == "G1"
        assert [v["changed_fields"] for v in get("/v1/golden/G1/history")["versions"]] == [
            ["first_name", "last_name", "email", "phone", "postal_code"], ["city"],
        ]  # fmt: skip
        g2 = get("/v1/golden/G2/history")["versions"]
        assert len(g2) == 1 and g2[0]["lineage"] == get("/v1/golden/G2")["lineage"] == json.loads(moved)
