"""The REST API under bad input, odd stored values and a busy store: no 5xx. A bounded schemathesis run
over the OpenAPI schema (in-process, fixed seed) with an admin key, the 500s it and other probes found,
reads of values stored before pins were checked, and SQLite lock contention."""

from __future__ import annotations

import base64
import sqlite3
from collections import Counter

import pytest
import schemathesis
import sqlalchemy as sa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from starlette.routing import Mount

from connectors import pull_source
from connectors.demo import init_demo
from golden_record.run import build_and_publish
from hub import store
from hub.api import keys, ui
from hub.config import load_config
from hub.workspace import Workspace
from matching.run import match
from pipelines.entry import create_app

pytestmark = pytest.mark.slow(seconds=20)  # the file's weight in the suite's order (tests/conftest.py)

FUZZ_CASES_PER_OPERATION = 20  # x ~20 operations, half of them schema-breaking (negative) cases


class Published:
    """A 100-person demo after one run, with an admin key."""

    def __init__(self, tmp):
        init_demo(tmp, customers=100, seed=11)
        self.cfg = load_config(tmp / "hub.yaml")
        self.engine = store.open_store(self.cfg.serving_store)
        ws = Workspace.for_config(self.cfg)
        try:
            for name in self.cfg.sources:
                pull_source(self.cfg, name, ws)
            match(ws, self.cfg)
            build_and_publish(ws, self.cfg, self.engine)
        finally:
            ws.close()
        self.admin_key = keys.create_key(self.engine, "fuzz admin", "admin")[1]
        self.app = create_app(self.cfg, self.engine)
        self.client = TestClient(self.app, raise_server_exceptions=False)
        with self.engine.connect() as conn:
            x = store.current_xref(conn)
        self.golden_id = x.golden_id.iloc[0]

    def call(self, method: str, url: str, **kwargs):
        return self.client.request(method, url, headers={"Authorization": f"Bearer {self.admin_key}"}, **kwargs)


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Published(tmp_path_factory.mktemp("robust"))
    yield h
    h.client.close()
    h.engine.dispose()


def _cursor(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# ------------------------------------------------------------------------------- inputs that were 500s


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("POST", "/v1/apikeys", '{"name": "a\\u0000b", "role": "reader"}', "name"),
        ("POST", "/v1/apikeys", '{"name": "   ", "role": "reader"}', "name"),
        ("POST", "/v1/golden/merge", '{"golden_ids": ["\\ud800", "G00000001"]}', "golden_ids.0"),
        ("POST", "/v1/golden/{gid}/pin", '{"field": "email", "value": "\\ud800"}', "value"),
        ("POST", "/v1/golden/{gid}/split", '{"source_system": "crm", "source_key": "1\\u0000"}', "source_key"),
        ("POST", "/v1/review/decision", '{"id_l": "crm:\\u0000", "id_r": "crm:2", "decision": "match"}', "id_l"),
        ("POST", "/v1/match", '{"first_name": "\\ud800"}', "first_name"),
        ("DELETE", "/v1/golden/{gid}/pin/email%00", None, "field"),
        ("GET", "/v1/search?name=a%00b", None, "name"),
        ("GET", "/v1/golden/{gid}?as_of=0001-01-01T00:00:00%2B01:00", None, "as_of"),
        ("GET", "/v1/golden/{gid}?as_of=9999-12-31T23:59:59-01:00", None, "as_of"),
        ("GET", "/v1/changes?since=0001-01-01T00:00:00%2B01:00", None, "since"),
        ("GET", "/v1/changes?cursor=" + _cursor("2026-01-01T00:00:00|G1|0|99999999999999999999"), None, "cursor"),
        ("GET", "/v1/changes?cursor=" + _cursor("0001-01-01T00:00:00+01:00|G1|0|1"), None, "cursor"),
        ("GET", "/v1/changes?cursor=" + _cursor("2026-01-01T00:00:00|G1|7|1"), None, "cursor"),
        ("GET", "/v1/review?page=9223372036854775808", None, "page"),
        ("GET", "/v1/search?name=smith&page=9223372036854775808", None, "page"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(hub, method, url, body, field):
    content = body.encode() if body else None
    r = hub.client.request(
        method,
        url.format(gid=hub.golden_id),
        content=content,
        headers={"Authorization": f"Bearer {hub.admin_key}", "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.json()["message"].startswith(f"{field}:"), r.json()


def test_a_search_at_the_last_unicode_character_is_answered(hub):
    for params in ({"name": "\U0010ffff" * 3}, {"email": "\U0010ffff"}, {"postal_code": "\U0010ffff"}):
        r = hub.call("GET", "/v1/search", params=params)
        assert r.status_code == 200 and r.json()["total"] == 0, r.text


# -------------------------------------------------------------------------- odd values already stored


def test_an_unreadable_stored_date_reads_as_missing_everywhere(hub):
    """A date of birth in year 99999 (what an unchecked pin made): golden, history, feed and export answer."""
    gid = hub.golden_id
    with hub.engine.begin() as conn:  # straight into the store, as an old pin's publish left it
        for table in ("golden_records", "golden_history"):
            conn.exec_driver_sql(
                f"UPDATE {table} SET date_of_birth = '99999-01-01', consent_email_at = '99999-01-01 00:00:00.000000' "
                "WHERE golden_id = ?",
                (gid,),
            )
    r = hub.call("GET", f"/v1/golden/{gid}")
    assert r.status_code == 200 and r.json()["attributes"]["date_of_birth"] is None, r.text
    assert r.json()["attributes"]["consent_email_at"] is None
    r = hub.call("GET", f"/v1/golden/{gid}/history")
    assert r.status_code == 200 and r.json()["versions"][0]["attributes"]["date_of_birth"] is None
    r = hub.call("GET", "/v1/changes")
    assert r.status_code == 200 and gid in {e["golden_id"] for e in r.json()["changes"]}
    for fmt in ("csv", "parquet"):
        r = hub.call("GET", f"/v1/export/golden?format={fmt}")
        assert r.status_code == 200 and int(r.headers["x-row-count"]) > 0


# ------------------------------------------------------------------------------------ a busy store


def test_a_store_locked_past_the_busy_timeout_is_a_503_with_retry_after(hub):
    engine = store.create_store_engine(hub.cfg.serving_store)

    @sa.event.listens_for(engine, "connect")
    def _short_wait(dbapi_conn, _record):
        dbapi_conn.execute("PRAGMA busy_timeout = 50")

    client = TestClient(create_app(hub.cfg, engine), raise_server_exceptions=False)
    holder = sqlite3.connect(sa.make_url(hub.cfg.serving_store).database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer (a publish) holds the write lock
        r = client.post(
            f"/v1/golden/{hub.golden_id}/pin",
            json={"field": "first_name", "value": "Ada"},
            headers={"Authorization": f"Bearer {hub.admin_key}"},
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        client.close()
        engine.dispose()
    assert r.status_code == 503 and int(r.headers["retry-after"]) > 0, r.text
    assert "busy" in r.json()["detail"]


# ------------------------------------------------------------------------------------ schemathesis


def test_no_5xx_over_the_openapi_schema(hub):
    """Schema-conforming and schema-breaking requests to every operation, with an admin key: any answer
    but a 5xx (fixed seed: the same cases every run)."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", hub.app)
    auth = {"Authorization": f"Bearer {hub.admin_key}"}
    statuses: Counter[tuple[str, int]] = Counter()
    errors: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    def fuzz(op) -> None:
        cases = st.one_of(op.as_strategy(), op.as_strategy(schemathesis.GenerationMode.NEGATIVE))

        @seed(20261203)
        @settings(
            max_examples=FUZZ_CASES_PER_OPERATION,
            deadline=None,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=cases)
        def send(case):
            response = case.call(headers=auth)
            statuses[(op.label, response.status_code)] += 1
            if response.status_code >= 500:
                errors.append(f"{response.status_code} {case.as_curl_command(headers=auth)}: {response.text[:200]}")

        send()

    for op in operations:
        fuzz(op)
    assert sum(statuses.values()) >= 200
    assert not errors, "\n".join(errors[:20])


# ------------------------------------------------------------------------------------ access control

# Who may call each route: None = anyone; a role = an API key (REST) or a signed-in session (/ui) of that
# role or a higher one. A route missing here fails the test: every new route needs a rule.
RULES: dict[tuple[str, str], str | None] = {
    ("GET", "/v1/health"): None,
    ("GET", "/openapi.json"): None,
    ("GET", "/docs"): None,
    ("GET", "/docs/oauth2-redirect"): None,
    ("GET", "/redoc"): None,
    ("GET", "/static-offline-docs/{file}"): None,
    ("GET", "/v1/golden/{golden_id}"): "reader",
    ("GET", "/v1/golden/{golden_id}/history"): "reader",
    ("GET", "/v1/golden/{golden_id}/sources"): "reader",
    ("GET", "/v1/sources/{source_system}/{source_key}"): "reader",
    ("GET", "/v1/search"): "reader",
    ("POST", "/v1/search"): "reader",
    ("GET", "/v1/changes"): "reader",
    ("GET", "/v1/export/{table}"): "reader",
    ("POST", "/v1/match"): "reader",
    ("GET", "/v1/review"): "reader",
    ("GET", "/v1/review/{id_l}/{id_r}"): "reader",
    ("GET", "/v1/review/apply"): "reader",
    ("POST", "/v1/review/decision"): "steward",
    ("POST", "/v1/golden/{golden_id}/pin"): "steward",
    ("DELETE", "/v1/golden/{golden_id}/pin/{field}"): "steward",
    ("POST", "/v1/golden/{golden_id}/split"): "steward",
    ("POST", "/v1/golden/merge"): "steward",
    ("POST", "/v1/review/apply"): "steward",
    ("POST", "/v1/subjects/show"): "privacy",
    ("POST", "/v1/subjects/export"): "privacy",
    ("POST", "/v1/subjects/rectify"): "privacy",
    ("POST", "/v1/subjects/erase"): "privacy",
    ("POST", "/v1/subjects/restrict"): "privacy",
    ("GET", "/v1/subjects/requests"): "privacy",
    ("GET", "/v1/privacy/reads"): "privacy",
    ("GET", "/v1/apikeys"): "admin",
    ("POST", "/v1/apikeys"): "admin",
    ("DELETE", "/v1/apikeys/{key_id}"): "admin",
    ("GET", "/ui"): None,
    ("GET", "/ui/login"): None,
    ("POST", "/ui/login"): None,
    ("POST", "/ui/logout"): "reader",
    ("GET", "/ui/review"): "reader",
    ("GET", "/ui/review/{id_l}/{id_r}"): "reader",
    ("GET", "/ui/golden/{golden_id}"): "reader",
    ("POST", "/ui/review/{id_l}/{id_r}"): "steward",
    ("POST", "/ui/golden/{golden_id}/split"): "steward",
    ("POST", "/ui/golden/{golden_id}/merge"): "steward",
    ("POST", "/ui/golden/{golden_id}/pin"): "steward",
    ("POST", "/ui/golden/{golden_id}/unpin"): "steward",
    ("POST", "/ui/golden/{golden_id}/consent"): "steward",
    ("POST", "/ui/golden/{golden_id}/do-not-contact"): "steward",
    ("GET", "/v1/golden/{golden_id}/consent"): "reader",
    ("GET", "/v1/golden/{golden_id}/consent/history"): "reader",
    ("POST", "/v1/golden/{golden_id}/consent"): "steward",
    ("POST", "/v1/golden/{golden_id}/do-not-contact"): "steward",
}
ROLE_VARIANTS = ("reader", "steward", "privacy", "admin")
VARIANTS = ("no key", "wrong key", "revoked key", *ROLE_VARIANTS)


def _routes(app) -> list[tuple[str, str]]:
    """(method, path) of every route the app serves, routers included (HEAD aside)."""
    out = []
    for route in app.routes:
        if isinstance(route, Mount):  # static files (the offline /docs assets)
            out.append(("GET", route.path + "/{file}"))
            continue
        contexts = route.effective_route_contexts() if hasattr(route, "effective_route_contexts") else [route]
        for r in contexts:
            methods = (r.original_route if hasattr(r, "original_route") else r).methods
            out += [(m, r.path) for m in sorted(methods - {"HEAD"})]
    return out


@pytest.fixture(scope="module")
def access(hub):
    """An app over the demo store whose throttle never trips (this test fails keys on purpose), with a key
    per role and a revoked one."""
    cfg = hub.cfg.model_copy(update={"api": hub.cfg.api.model_copy(update={"max_failures": 1_000_000})})
    app = create_app(cfg, hub.engine)
    raw = {role: keys.create_key(hub.engine, f"access {role}", role)[1] for role in ROLE_VARIANTS}
    raw["wrong key"] = "hub_000000000000_" + "x" * 43
    with hub.engine.connect() as conn:
        x = store.current_xref(conn)
    ids = sorted(x.source_system + ":" + x.source_key)
    values = {
        "golden_id": hub.golden_id, "source_system": x.source_system.iloc[0], "source_key": x.source_key.iloc[0],
        "id_l": ids[0], "id_r": ids[1], "field": "first_name", "key_id": "000000000000", "table": "golden",
        "file": "swagger-ui.css",
    }  # fmt: skip
    return app, raw, values


def _revoked(engine: sa.Engine) -> str:
    raw = keys.create_key(engine, "access revoked", "steward")[1]
    keys.revoke_key(engine, raw.split("_")[1])
    return raw


def _browser(app, raw: dict[str, str], variant: str) -> TestClient:
    """A browser for /ui: signed in with the variant's key (a fresh session; for a revoked key, one whose
    key was revoked after sign-in), or holding a cookie of no session."""
    client = TestClient(app, follow_redirects=False, raise_server_exceptions=False)
    if variant in (*ROLE_VARIANTS, "revoked key"):
        key = raw[variant] if variant in ROLE_VARIANTS else keys.create_key(app.state.engine, "ui revoked", "admin")[1]
        assert client.post("/ui/login", data={"api_key": key}).status_code == 303
        if variant == "revoked key":
            keys.revoke_key(app.state.engine, key.split("_")[1])
    if variant == "wrong key":
        client.cookies.set(ui.COOKIE, "not-a-session-id", path="/ui")
    return client


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_route_answers_each_kind_of_caller_as_the_role_model_says(access, variant):
    app, raw, values = access
    routes = _routes(app)
    assert not [r for r in routes if r not in RULES], "routes without an access rule"
    raw = {**raw, "revoked key": _revoked(app.state.engine)}
    api = TestClient(app, raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {raw[variant]}"} if variant != "no key" else {}
    wrong = []
    for method, path in routes:
        needed, url = RULES[(method, path)], path.format(**values)
        if path.startswith("/ui"):
            browser = _browser(app, raw, variant)
            session = browser.cookies.get(ui.COOKIE)
            live = browser.get("/ui/review").status_code == 200
            r = browser.request(method, url, data={"csrf": ui.csrf_token(session or "")} if method == "POST" else None)
            to_sign_in = r.status_code == 303 and r.headers["location"] == "/ui/login"
            # signing out also ends at the sign-in page: refused there means it had no session to end
            refused = to_sign_in and (not live if path == "/ui/logout" else path != "/ui/login")
            denied = r.status_code == 403
        else:
            r = api.request(method, url, headers=headers, json={} if method == "POST" else None)
            refused, denied = r.status_code == 401, r.status_code == 403
        if needed is None:
            ok = not (refused or denied)
        elif variant not in ROLE_VARIANTS:
            ok = refused
        elif ROLE_VARIANTS.index(variant) < ROLE_VARIANTS.index(needed):
            ok = denied
        else:
            ok = not (refused or denied)
        if not ok or r.status_code >= 500:
            wrong.append(f"{method} {path}: {r.status_code} for {variant} (needs {needed or 'nothing'})")
    assert not wrong, "\n".join(wrong)
