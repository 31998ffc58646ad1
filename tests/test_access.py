"""Field-level access (hub.yaml `access:`), the PII read log and the access log, over a small serving store
published directly (no pipeline run): what each role and key sees of each field on each route that returns
customer data, which customers a source-restricted key sees, what the read log keeps, and what it never keeps."""

from __future__ import annotations

import io
import json
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from fastapi.testclient import TestClient

from hub import access, store
from hub.api import create_app, keys
from hub.api.access_log import redact
from hub.config import ConfigError, load_config
from pipelines.entry import main
from tests.test_store import golden, person

HIDDEN = "<hidden>"  # what a field the caller may not see reads as in this test's extracted views
ANN = {
    "first_name": "Ann", "last_name": "Lee", "email": "ann.lee@example.com", "phone": "+447700900123",
    "date_of_birth": date(1980, 1, 2), "postal_code": "LS1 4AP", "city": "Leeds", "loyalty_tier": "platinum",
}  # fmt: skip
BOB = {
    "first_name": "Bob", "last_name": "Stone", "email": "bob.stone@example.org", "phone": "+447700900456",
    "date_of_birth": date(1975, 6, 7), "postal_code": "M1 1AA", "city": "Manchester", "loyalty_tier": "bronze",
}  # fmt: skip
ACCESS = {
    "roles": {
        "reader": {
            "fields": {
                "last_name": "masked",
                "email": "masked",
                "phone": "masked",
                "date_of_birth": "masked",
                "postal_code": "hidden",
                "loyalty_tier": "hidden",
            },
        }
    },
    "keys": {
        "billing-sync": {
            "default": "hidden",
            "fields": {"email": "full", "first_name": "masked"},
            "sources": ["billing"],
        }
    },
}
# What each caller sees of Ann (golden record A: crm a1 + billing a2).
EXPECT: dict[str, dict[str, Any]] = {
    "reader": {
        **ANN,
        "last_name": "L.",
        "email": "a***@example.com",
        "phone": "***123",
        "date_of_birth": "1980",
        "postal_code": HIDDEN,
        "loyalty_tier": HIDDEN,
    },
    "steward": dict(ANN),
    "billing": {**dict.fromkeys(ANN, HIDDEN), "email": ANN["email"], "first_name": "A."},
}
FIELDS = list(ANN)
ROUTES = ["golden", "source_key", "as_of", "history", "search", "changes", "export", "review_pair", "match", "ui"]


class FakeScorer:
    """Match-on-entry's scorer stand-in: every candidate scores 0.99, explained by four comparisons."""

    def score(
        self, records: list[dict[str, Any]], counts: Any, floor: float = 0.0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        why = [{"comparison": c, "level": "exact", "match_weight": 5.0, "tf_adjustment": 0.0}
               for c in ("name", "email", "phone", "date_of_birth")]  # fmt: skip
        return [{"source_key": r["source_key"], "match_probability": 0.99, "match_weight": 9.0, "explanation": why}
                for r in records if r["source_system"] != "entry" and floor <= 0.99][:limit]  # fmt: skip


def _record(values: dict[str, Any], system: str, key: str) -> str:
    return json.dumps({"source_system": system, "source_key": key, **values}, default=str)


class Hub:
    """Golden records A (Ann: crm a1, billing a2) and B (Bob: web b1), published twice (Ann's city changed), a
    review queue of a2 ~ b1, a1 ~ crm:zz and a2 ~ billing:zz; and a key per caller."""

    def __init__(self, tmp, url: str | None = None):
        cfg_path = tmp / "hub.yaml"
        sources = {s: {"kind": "file", "path": f"{s}.csv", "primary_key": "id", "fields": {"email": "email"}}
                   for s in ("crm", "web", "billing")}  # fmt: skip
        url = url or f"sqlite:///{tmp / 'serving.db'}"
        doc = {"serving_store": url, "attributes": {"loyalty_tier": "string"}, "access": ACCESS, "sources": sources}
        cfg_path.write_text(yaml.safe_dump(doc))
        self.config = cfg_path
        self.cfg = load_config(cfg_path)
        self.engine = store.open_store(self.cfg.serving_store)

        def people(city: str) -> pd.DataFrame:
            rows = []
            for gid, p, src in (("A", ANN, "crm"), ("B", BOB, "web")):
                extra = {"loyalty_tier": p["loyalty_tier"]}
                values = {k: v for k, v in p.items() if k != "loyalty_tier"}
                lineage = {"email": {"source_system": src, "source_key": "k", "rule": "valid", "value_at": "2024"}}
                rows.append(person(gid, **values, extra=extra, lineage=lineage, consent_email="granted"))
            rows[0]["city"] = city
            return golden(*rows)

        xr = pd.DataFrame(
            [("crm", "a1", "A", 0.99, "auto"), ("billing", "a2", "A", 0.99, "auto"), ("web", "b1", "B", None,
              "singleton")], columns=["source_system", "source_key", "golden_id", "match_probability", "link_type"],
        )  # fmt: skip
        review = pd.DataFrame(
            [
                ("billing:a2", "web:b1", "billing", "web", "A", "B", 0.8, 2.0,
                 json.dumps({"name": 1.0, "phone": -2.0, "email": 1.0}), _record(ANN, "billing", "a2"),
                 _record(BOB, "web", "b1")),
                ("crm:a1", "crm:zz", "crm", "crm", "A", None, 0.75, 1.5,
                 json.dumps({"name": 1.0, "phone": -2.0}), _record(ANN, "crm", "a1"), _record(BOB, "crm", "zz")),
                ("billing:a2", "billing:zz", "billing", "billing", "A", None, 0.72, 1.4,
                 json.dumps({"name": 1.0, "phone": -2.0}), _record(ANN, "billing", "a2"),
                 _record(BOB, "billing", "zz")),
            ],
            columns=store.REVIEW_COLUMNS,
        )  # fmt: skip
        model = store.MatchModel(1, datetime(2026, 1, 1), 3, "{}", pd.DataFrame(
            {"tf_column": pd.Series(dtype=str), "value": pd.Series(dtype=str), "golden_records": pd.Series(dtype=int)}
        ), {})  # fmt: skip
        store.publish(self.engine, store.start_run(self.engine), people("York"), xr, review=review, model=model)
        self.first = datetime.now(UTC)
        store.publish(self.engine, store.start_run(self.engine), people(ANN["city"]), xr, review=review, model=model)
        self.keys = {
            "reader": keys.create_key(self.engine, "support desk", "reader"),
            "steward": keys.create_key(self.engine, "steward", "steward"),
            "billing": keys.create_key(self.engine, "billing-sync", "reader"),
            "privacy": keys.create_key(self.engine, "dpo", "privacy"),
        }
        self.app = create_app(self.cfg, self.engine, entry_scorer=lambda _model: FakeScorer())
        self.client = TestClient(self.app)

    def call(self, who: str, method: str, url: str, **kw: Any):
        return self.client.request(method, url, headers={"Authorization": f"Bearer {self.keys[who][1]}"}, **kw)

    def key_id(self, who: str) -> str:
        return self.keys[who][0].key_id


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("access"))
    yield h
    h.client.close()
    h.engine.dispose()


def _typed(rec: dict[str, Any], hidden: list[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A typed API record (attributes + extra) as field -> value, hidden fields as HIDDEN."""
    values = {**rec, **(extra or {})}
    return {f: HIDDEN if f in hidden or f not in values else values[f] for f in FIELDS}


def _free(rec: dict[str, Any]) -> dict[str, Any]:
    """A free-form record (export row, review record): a missing key is a hidden field."""
    return {f: rec.get(f, HIDDEN) for f in FIELDS}


def _dates(view: dict[str, Any]) -> dict[str, Any]:
    """Dates as the API and CSV write them, compared as dates."""
    dob = view["date_of_birth"]
    if isinstance(dob, str) and len(dob) >= 10:
        view["date_of_birth"] = date.fromisoformat(dob[:10])
    return view


def _ann(hub: Hub, who: str, route: str) -> dict[str, Any]:
    """What `who` sees of Ann through `route`: field -> value (HIDDEN: not shown at all)."""
    key = "a2" if who == "billing" else "a1"
    system = "billing" if who == "billing" else "crm"
    if route in ("golden", "source_key", "as_of"):
        url = {"golden": "/v1/golden/A", "source_key": f"/v1/sources/{system}/{key}", "as_of": "/v1/golden/A"}[route]
        params = {"as_of": datetime.now(UTC).isoformat()} if route == "as_of" else {}
        r = hub.call(who, "GET", url, params=params).json()
        return _typed(r["attributes"], r["hidden_fields"], r["extra"])
    if route == "history":
        v = hub.call(who, "GET", "/v1/golden/A/history").json()["versions"][-1]
        return _typed(v["attributes"], v["hidden_fields"], v["extra"])
    if route == "search":
        page = hub.call(who, "POST", "/v1/search", json={"email": ANN["email"]}).json()
        hit = next(h for h in page["results"] if h["golden_id"] == "A")
        return _typed(hit, page["hidden_fields"]) | {"loyalty_tier": HIDDEN if who != "steward" else "platinum"}
    if route == "changes":
        events = hub.call(who, "GET", "/v1/changes").json()["changes"]
        rec = [e["record"] for e in events if e["golden_id"] == "A"][-1]
        return _typed(rec["attributes"], rec["hidden_fields"], rec["extra"])
    if route == "export":
        frame = pd.read_csv(io.StringIO(hub.call(who, "GET", "/v1/export/golden").text), dtype=str)
        row = frame[frame["golden_id"] == "A"].iloc[0].dropna().to_dict()
        row |= json.loads(row.get("extra", "{}"))
        return _free(row)
    if route == "review_pair":
        pair = hub.call(
            who, "GET", "/v1/review/billing:a2/billing:zz" if who == "billing" else "/v1/review/crm:a1/crm:zz"
        )
        return _free(pair.json()["record_l"])
    if route == "match":
        page = hub.call(who, "POST", "/v1/match", json={"email": ANN["email"]}).json()
        hit = next(h for h in page["results"] if h["golden_id"] == "A")
        return _typed(hit, page["hidden_fields"]) | {"loyalty_tier": HIDDEN if who != "steward" else "platinum"}
    raise AssertionError(route)


@pytest.fixture(scope="module")
def seen(hub) -> dict[tuple[str, str], dict[str, Any]]:
    """_ann per (caller, route), each request made once for all the fields the matrix checks."""

    class Views(dict):
        def __missing__(self, key: tuple[str, str]) -> dict[str, Any]:
            self[key] = json.loads(json.dumps(_dates(_ann(hub, *key)), default=str))
            return self[key]

    return Views()


# Fields each typed route carries at all (search hits and match candidates have no loyalty tier or consent).
NOT_CARRIED = {("search", "loyalty_tier"), ("match", "loyalty_tier")}


@pytest.mark.parametrize(
    ("route", "field"), [(r, f) for r in ROUTES if r != "ui" for f in FIELDS if (r, f) not in NOT_CARRIED]
)
@pytest.mark.parametrize("who", ["reader", "steward", "billing"])
def test_each_caller_sees_each_field_of_each_route_as_its_policy_says(seen, who, route, field):
    want = EXPECT[who][field]
    assert seen[who, route][field] == (str(want) if isinstance(want, date) else want), f"{who} on {route}: {field}"


def test_the_steward_ui_shows_the_policy_too(hub):
    browser = TestClient(hub.app)
    assert browser.post("/ui/login", data={"api_key": hub.keys["reader"][1]}).status_code == 200
    page = browser.get("/ui/golden/A").text
    assert "a***@example.com" in page and "***123" in page and ">1980<" in page.replace(" ", "")
    for value in (ANN["email"], ANN["phone"], ANN["postal_code"], "1980-01-02", "platinum"):
        assert value not in page
    queue = browser.get("/ui/review").text
    assert "Ann L." in queue and "Lee" not in queue
    pair = browser.get("/ui/review/crm:a1/crm:zz").text
    assert "a***@example.com" in pair and ANN["email"] not in pair and "postal_code" not in pair
    steward = TestClient(hub.app)
    steward.post("/ui/login", data={"api_key": hub.keys["steward"][1]})
    assert ANN["email"] in steward.get("/ui/golden/A").text


@pytest.mark.postgres
def test_on_a_postgresql_store_the_policies_and_the_read_log_hold(tmp_path, postgres_url):
    pg = Hub(tmp_path, postgres_url)
    try:
        assert pg.call("reader", "GET", "/v1/golden/A").json()["attributes"]["email"] == "a***@example.com"
        assert pg.call("billing", "GET", "/v1/golden/B").status_code == 404
        feed = pg.call("billing", "GET", "/v1/changes").json()["changes"]
        assert {e["golden_id"] for e in feed} == {"A"} and feed[-1]["record"]["attributes"]["phone"] is None
        assert pg.call("billing", "POST", "/v1/search", json={"email": ANN["email"]}).json()["results"]
        reads = pg.call("privacy", "GET", "/v1/privacy/reads", params={"key_id": pg.key_id("billing")}).json()
        assert {(r["route"], r["golden_id"]) for r in reads["reads"]} == {
            ("GET /v1/changes", "A"), ("POST /v1/search", "A")}  # fmt: skip
    finally:
        pg.client.close()
        pg.engine.dispose()


@pytest.mark.parametrize(
    ("values", "kind", "masked"),
    [
        (["john.smith@example.com", None, "no-at-sign"], "email", ["j***@example.com", None, "***"]),
        (pd.Series(["a@b.co", None], dtype="string"), "email", ["a***@b.co", None]),  # an export's text column
        (["+447700900123", "12", None], "phone", ["***123", "***", None]),
        (["Émile", " ", None], "name", ["É.", "***", None]),
        ([date(1984, 3, 12), None], "date", ["1984", None]),
        (pd.Series(pd.to_datetime(["1984-03-12 10:00", None])), "date", ["1984", None]),
        (["1990-01-02", "soon", date(1975, 1, 1)], "date", ["1990", "***", "1975"]),  # pins are text
        (["gold", True, 3, None], "other", ["***", "***", "***", None]),
    ],
)
def test_masking_each_kind_of_value(values, kind, masked):
    assert access.mask_values(values, kind) == masked


# ------------------------------------------------------------------------------------ source filter


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/v1/golden/B", None),
        ("GET", "/v1/golden/B/history", None),
        ("GET", "/v1/golden/B/sources", None),
        ("GET", "/v1/sources/web/b1", None),
        ("GET", "/v1/review/billing:a2/web:b1", None),
        ("GET", "/v1/golden/B/consent", None),
        ("GET", "/v1/golden/B/consent/history", None),
    ],
)
def test_a_key_of_one_source_gets_404_for_other_sources_customers(hub, method, url, body):
    assert hub.call("billing", method, url, json=body).status_code == 404
    assert hub.call("reader", method, url, json=body).status_code == 200


def test_consent_choices_of_a_hidden_channel_are_left_out(hub):
    def channels(who: str) -> set[str]:
        state = hub.call(who, "GET", "/v1/golden/A/consent").json()
        return {c["channel"] for c in state["choices"]}

    assert "email" in channels("steward")
    assert not channels("billing") & {"email", "sms"}  # default hidden: consent_email and consent_sms too


def test_a_key_of_one_source_finds_lists_and_exports_only_its_customers(hub):
    assert not hub.call("billing", "POST", "/v1/search", json={"email": BOB["email"]}).json()["results"]
    assert hub.call("reader", "POST", "/v1/search", json={"email": BOB["email"]}).json()["results"]
    assert {h["golden_id"] for h in hub.call("billing", "POST", "/v1/match", json={"email": BOB["email"]}).json()[
        "results"]} <= {"A"}  # fmt: skip
    feed = {e["golden_id"] for e in hub.call("billing", "GET", "/v1/changes").json()["changes"]}
    assert feed == {"A"}
    assert {e["golden_id"] for e in hub.call("reader", "GET", "/v1/changes").json()["changes"]} == {"A", "B"}
    gold = pd.read_csv(io.StringIO(hub.call("billing", "GET", "/v1/export/golden").text))
    assert gold["golden_id"].tolist() == ["A"]
    xref = pd.read_csv(io.StringIO(hub.call("billing", "GET", "/v1/export/xref").text))
    assert set(xref["source_system"]) == {"billing"}
    links = hub.call("billing", "GET", "/v1/golden/A/sources").json()["sources"]
    assert [x["source_system"] for x in links] == ["billing"]
    queue = hub.call("billing", "GET", "/v1/review").json()
    assert queue["total"] == 1 and queue["results"][0]["id_r"] == "billing:zz"
    assert hub.call("reader", "GET", "/v1/review").json()["total"] == 3


def test_lineage_and_explanations_leave_out_hidden_fields_and_other_sources(hub):
    rec = hub.call("billing", "GET", "/v1/golden/A").json()
    assert rec["lineage"] == {}  # email's lineage points at crm, a source this key does not see
    assert set(hub.call("reader", "GET", "/v1/golden/A").json()["lineage"]) == {"email"}
    match = hub.call("billing", "POST", "/v1/match", json={"email": ANN["email"]}).json()["results"][0]
    assert {c["comparison"] for c in match["explanation"]} == {"name", "email"}  # phone, date_of_birth hidden
    item = hub.call("reader", "GET", "/v1/review/crm:a1/crm:zz").json()["item"]
    assert set(item["explanation"]) == {"name", "phone"}


def test_search_by_a_hidden_field_is_refused(hub):
    r = hub.call("billing", "POST", "/v1/search", json={"phone": ANN["phone"]})
    assert r.status_code == 403 and "access.keys.billing-sync" in r.json()["detail"]
    r = hub.call("reader", "GET", "/v1/search", params={"postal_code": "LS1"})
    assert r.status_code == 403


def test_without_an_access_block_every_key_sees_everything(tmp_path, hub):
    cfg = hub.cfg.model_copy(update={"access": type(hub.cfg.access)()})
    client = TestClient(create_app(cfg, hub.engine, entry_scorer=lambda _m: FakeScorer()))
    r = client.get("/v1/golden/B", headers={"Authorization": f"Bearer {hub.keys['billing'][1]}"}).json()
    assert r["attributes"]["email"] == BOB["email"] and r["extra"] == {"loyalty_tier": "bronze"}
    assert r["hidden_fields"] == [] and r["masked_fields"] == []


# --------------------------------------------------------------------------------------- read log


def _reads(hub: Hub, **params: Any) -> list[dict[str, Any]]:
    r = hub.call("privacy", "GET", "/v1/privacy/reads", params=params)
    assert r.status_code == 200
    return r.json()["reads"]


def test_reads_of_pii_are_logged_per_request_and_queryable_by_the_privacy_role(hub):
    since = datetime.now(UTC).isoformat()
    hub.call("reader", "GET", "/v1/golden/A")
    hub.call("billing", "POST", "/v1/search", json={"email": ANN["email"]})
    hub.call("reader", "GET", "/v1/changes")
    got = _reads(hub, since=since)
    mine = {(r["route"], r["golden_id"]) for r in got if r["key_id"] == hub.key_id("reader")}
    assert mine == {("GET /v1/changes", "A"), ("GET /v1/changes", "B"), ("GET /v1/golden/{golden_id}", "A")}
    one = next(r for r in got if r["route"] == "GET /v1/golden/{golden_id}")
    # the PII fields (access.pii_fields) the policy shows, in full and masked; never a value
    assert one["fields"] == ["first_name", "address_line1", "address_line2", "city"] and one["masked_fields"] == [
        "last_name", "date_of_birth", "email", "phone"]  # fmt: skip
    billing = _reads(hub, key_id=hub.key_id("billing"), since=since)
    assert [(r["route"], r["golden_id"], r["fields"], r["masked_fields"]) for r in billing] == [
        ("POST /v1/search", "A", ["email"], ["first_name"])]  # fmt: skip
    assert {r["golden_id"] for r in _reads(hub, golden_id="B", since=since)} == {"B"}
    assert hub.call("reader", "GET", "/v1/privacy/reads").status_code == 403
    assert hub.call("steward", "GET", "/v1/privacy/reads").status_code == 403


def test_a_request_returning_no_pii_is_not_logged(hub):
    since = datetime.now(UTC).isoformat()
    hub.call("reader", "GET", "/v1/golden/A/sources")
    hub.call("reader", "GET", "/v1/review")
    hub.call("reader", "GET", "/v1/export/xref")
    assert _reads(hub, since=since) == []


def test_the_read_log_holds_no_pii_values(hub):
    for who in ("reader", "steward", "billing"):
        for route in ROUTES[:-1]:
            _ann(hub, who, route)
    with hub.engine.connect() as conn:
        logged = pd.read_sql(sa.text("SELECT * FROM pii_reads"), conn)
    assert len(logged) > 20
    text = logged.astype(str).to_csv()
    values = [str(v) for p in (ANN, BOB) for v in p.values()] + ["a***@example.com", "***123", "L."]
    assert not [v for v in values if v in text]


def test_an_export_logs_every_golden_record_it_wrote_in_one_request(hub):
    since = datetime.now(UTC).isoformat()
    hub.call("steward", "GET", "/v1/export/golden")
    rows = _reads(hub, key_id=hub.key_id("steward"), since=since)
    assert {r["golden_id"] for r in rows} == {"A", "B"} and len({r["request_id"] for r in rows}) == 1


# ------------------------------------------------------------------------------------- config, CLI


def test_roles_in_config_are_the_api_roles():
    from typing import get_args

    from hub.config.access import Role

    assert get_args(Role) == keys.ROLES


@pytest.mark.parametrize(
    ("block", "key", "reason"),
    [
        ({"roles": {"reader": {"fields": {"emial": "masked"}}}}, "access.roles.reader.fields.emial", "not a canonical"),
        ({"roles": {"reader": {"fields": {"email": "blurred"}}}}, "access.roles.reader.fields.email", "full"),
        ({"roles": {"auditor": {}}}, "access.roles.auditor", "reader"),
        ({"keys": {"x": {"sources": ["erp"]}}}, "access.keys.x.sources", "'erp' is not a configured source"),
        ({"keys": {"x": {"sources": []}}}, "access.keys.x.sources", "at least one"),
        ({"pii_fields": ["ssn"]}, "access.pii_fields", "'ssn'"),
        ({"default": {"colour": "red"}}, "access.default.colour", "unknown key"),
    ],
)
def test_a_bad_access_block_names_the_key(tmp_path, block, key, reason):
    doc = {"access": block, "sources": {"crm": {"kind": "file", "path": "c.csv", "primary_key": "id",
                                                "fields": {"email": "email"}}}}  # fmt: skip
    (tmp_path / "hub.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "hub.yaml")
    assert err.value.key == key and reason in err.value.reason


def test_a_key_policy_wins_by_name_then_id_then_role(hub):
    cfg = hub.cfg
    assert access.policy_for(cfg, "reader", "abc", "billing-sync").origin == "access.keys.billing-sync"
    assert access.policy_for(cfg, "reader", "abc", "someone").origin == "access.roles.reader"
    assert access.policy_for(cfg, "admin", "abc", "someone").origin == "access.default"
    assert access.policy_for(cfg, "admin").open


def test_config_check_prints_each_policy(hub, capsys):
    assert main(["config", "check", "--offline", "--config", str(hub.config)]) == 0
    out = capsys.readouterr().out
    assert "role reader: full: the other" in out and "masked: last_name, date_of_birth, email, phone" in out
    assert "key billing-sync: full: email; masked: first_name; hidden: the other" in out
    assert "customers of: billing" in out and "retention (retention:): pii_reads 365 days" in out


def test_cli_export_as_a_role_or_key_and_the_read_log(hub, tmp_path, capsys):
    out = tmp_path / "g.csv"
    assert main(["export", "golden", "--config", str(hub.config), "--out", str(out), "--as-role", "reader"]) == 0
    frame = pd.read_csv(out, dtype=str)
    assert "postal_code" not in frame and set(frame["email"]) == {"a***@example.com", "b***@example.org"}
    assert main(["export", "golden", "--config", str(hub.config), "--out", str(out), "--key", "billing-sync"]) == 0
    frame = pd.read_csv(out, dtype=str)
    assert frame["golden_id"].tolist() == ["A"] and "phone" not in frame and frame["email"].tolist() == [ANN["email"]]
    assert main(["export", "golden", "--config", str(hub.config), "--out", str(out), "--key", "nobody"]) == 1
    capsys.readouterr()
    assert main(["privacy", "reads", "--config", str(hub.config), "--key-id", "cli"]) == 0
    printed = capsys.readouterr().out
    assert "hub export golden" in printed and "A" in printed and ANN["email"] not in printed
    assert main(["privacy", "reads", "--config", str(hub.config), "--key-id", hub.key_id("billing")]) == 0
    assert "hub export golden" in capsys.readouterr().out


# ------------------------------------------------------------------------------------- access log


@pytest.mark.parametrize(
    ("target", "kept", "gone"),
    [
        ("/v1/search?email=ann.lee%40example.com&page=2", "/v1/search?", "ann.lee"),
        ("/v1/sources/web/ann.lee@example.com", "/v1/sources/web/", "ann.lee"),
        ("/v1/sources/app/07700%20900123", "/v1/sources/app/", "900123"),
        ("/v1/whatever?phone=%2B447700900123&limit=5", "limit=5", "447700900123"),
        ("/v1/whatever?name=Ann+Lee&postal_code=LS1", "name=<hidden>", "Ann"),
        ("/v1/golden/G00000042?as_of=2026-01-01T00:00:00", "/v1/golden/G00000042?as_of=2026-01-01T00:00:00", "@"),
        ("/v1/privacy/reads?golden_id=G00000042&since=2026-12-01", "golden_id=G00000042&since=2026-12-01", "@"),
    ],
)
def test_the_access_log_keeps_no_emails_or_phones(target, kept, gone):
    line = redact(target)
    assert kept in line and gone not in line
