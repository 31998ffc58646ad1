"""Consent end to end on a small published demo (SQLite sources): a choice recorded through the API or the steward
UI is on the golden record at once (reads, change feed), survives the next run, reaches every source that accepts
the field with the next write-back, and is never overwritten by an older opt-in; do-not-contact; history with
source and legal basis; roles; `hub consent show|record`; PostgreSQL as the serving store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from connectors import pull_source
from connectors.demo import init_demo
from connectors.writeback import published_run, write_back
from golden_record.run import build, build_and_publish, publish_build
from hub import store
from hub.api import keys, ui
from hub.catalogue import GOLDEN_CONSENT
from hub.config import HubConfig, load_config
from hub.errors import NotReady
from hub.workspace import Workspace
from matching.run import match
from pipelines.entry import create_app, main

pytestmark = pytest.mark.slow(seconds=30)


class Hub:
    """The demo after one published run, with a reader and a steward key and the API over its store."""

    def __init__(self, base: Path, serving_store: str | None = None, customers: int = 150):
        init_demo(base, customers=customers, seed=5)
        self.config = base / "hub.yaml"
        if serving_store:
            text = self.config.read_text().replace("sqlite:///.hub/serving.db", serving_store)
            self.config.write_text(text)
        self.cfg: HubConfig = load_config(self.config)
        self.engine = store.open_store(self.cfg.serving_store)
        self.run()
        self.reader_key = keys.create_key(self.engine, "reader", "reader")[1]
        self.steward_key = keys.create_key(self.engine, "agent 7", "steward")[1]
        self.client = TestClient(create_app(self.cfg, self.engine))

    def run(self, write_back_to: tuple[str, ...] = ()) -> None:
        """Pull, match, build and publish (the next run), then write back into `write_back_to`."""
        ws = Workspace.for_config(self.cfg)
        try:
            for name in self.cfg.sources:
                pull_source(self.cfg, name, ws)
            match(ws, self.cfg)
            build_and_publish(ws, self.cfg, self.engine)
            for name in write_back_to:
                write_back(ws, self.cfg, self.engine, name, published_run(self.engine))
        finally:
            ws.close()

    def headers(self, key: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"} if key else {}

    def get(self, url: str, key: str | None = "reader", **params) -> httpx.Response:
        return self.client.get(url, params=params, headers=self.headers(self.reader_key if key == "reader" else key))

    def post(self, url: str, body: dict, key: str | None = "steward") -> httpx.Response:
        return self.client.post(url, json=body, headers=self.headers(self.steward_key if key == "steward" else key))

    def golden(self, golden_id: str) -> dict:
        with self.engine.connect() as conn:
            rec = store.golden_by_id(conn, golden_id)
        assert rec is not None
        return rec

    def members(self, golden_id: str) -> dict[str, str]:
        """source system -> source key of a golden record's members (one per system is enough here)."""
        with self.engine.connect() as conn:
            return {r["source_system"]: r["source_key"] for r in store.source_records(conn, golden_id)}

    def with_systems(self, *systems: str, exclude: set[str] | None = None) -> list[str]:
        with self.engine.connect() as conn:
            x = store.current_xref(conn)
        held = x.groupby("golden_id")["source_system"].agg(set)
        return sorted(g for g, s in held.items() if set(systems) <= s and g not in (exclude or set()))

    def source_value(self, system: str, column: str, key: str) -> object:
        src = self.cfg.sources[system]
        path = src.url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as con:
            row = con.execute(f'SELECT "{column}" FROM "{src.table}" WHERE "{src.primary_key}" = ?', [key]).fetchone()
        return row[0]

    def source_update(self, system: str, key: str, **values: object) -> None:
        src = self.cfg.sources[system]
        sets = ", ".join(f'"{c}" = ?' for c in values)
        with sqlite3.connect(src.url.removeprefix("sqlite:///")) as con:
            con.execute(f'UPDATE "{src.table}" SET {sets} WHERE "{src.primary_key}" = ?', [*values.values(), key])


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("consent") / "demo")
    yield h
    h.client.close()
    h.engine.dispose()


def web_time(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S")


def opted_in(hub: Hub, candidates: list[str], channel: str = "email") -> list[str]:
    return [g for g in candidates if hub.golden(g)[f"consent_{channel}"] == "granted"]


def test_consent_recorded_through_the_api_is_effective_at_once_and_reaches_every_accepting_source(hub):
    gid = opted_in(hub, hub.with_systems("web", "crm"))[0]
    before = hub.golden(gid)
    r = hub.post(f"/v1/golden/{gid}/consent", {"channel": "email", "purpose": "marketing", "value": "denied",
                                               "legal_basis": "consent", "note": "called: no more e-mail"})  # fmt: skip
    assert r.status_code == 200, r.text
    made = r.json()
    event = made["event"]
    assert (event["source"], event["recorded_by"], event["legal_basis"]) == ("api", "agent 7", "consent")
    assert made["version"] == before["version"] + 1

    # at once: the golden record, its lineage and the change feed
    rec = hub.get(f"/v1/golden/{gid}").json()
    assert rec["attributes"]["consent_email"] == "denied"
    assert rec["lineage"]["consent_email"]["source_system"] == "api"
    assert rec["lineage"]["consent_email"]["rule"] == "consent_most_recent"
    feed = hub.get("/v1/changes", since=(datetime.now(UTC) - timedelta(minutes=5)).isoformat()).json()["changes"]
    mine = [c for c in feed if c["golden_id"] == gid and c["version"] == made["version"]]
    assert mine and "consent_email" in mine[0]["changed_fields"]
    assert mine[0]["run_id"] == f"consent:{event['event_id']}"  # the version names the choice that made it
    state = hub.get(f"/v1/golden/{gid}/consent").json()
    email = next(c for c in state["choices"] if (c["channel"], c["purpose"]) == ("email", "marketing"))
    assert (email["value"], email["effective"], email["source"]) == ("denied", "denied", "api")

    # the next run keeps it, and write-back carries it into web (newsletter) and crm (opt-out flag)
    keys_ = hub.members(gid)
    hub.run(write_back_to=("web", "crm"))
    assert hub.golden(gid)["consent_email"] == "denied"
    assert str(hub.source_value("web", "newsletter", keys_["web"])) == "0"
    assert str(hub.source_value("crm", "HasOptedOutOfEmail", keys_["crm"])) == "1"

    # history: the sources' choices seen at publish, then the API's, each with its source and legal basis
    events = hub.get(f"/v1/golden/{gid}/consent/history").json()["events"]
    sources = {e["source"] for e in events}
    assert "api" in sources and sources & set(hub.cfg.sources)
    assert all(e["legal_basis"] for e in events)
    from_sources = [e for e in events if e["source"] in hub.cfg.sources]
    assert all(e["source_key"] and e["run_id"] for e in from_sources)
    api = [e for e in events if e["source"] == "api"]
    assert api[0]["note"] == "called: no more e-mail" and api[0]["event_id"] == event["event_id"]


def test_an_older_opt_in_in_a_source_never_overwrites_the_opt_out_but_a_newer_one_does(hub):
    gid = opted_in(hub, hub.with_systems("web", "crm"))[1]
    r = hub.post(f"/v1/golden/{gid}/consent",
                 {"channel": "email", "purpose": "marketing", "value": "denied", "legal_basis": "consent"})  # fmt: skip
    assert r.status_code == 200, r.text
    opted_out = datetime.fromisoformat(r.json()["event"]["recorded_at"])
    web = hub.members(gid)["web"]
    now = datetime.now(UTC).replace(tzinfo=None)

    # the person's older opt-in arrives late in web (the row itself changed just now)
    hub.source_update("web", web, newsletter=1, newsletter_changed_at=web_time(opted_out - timedelta(days=30)),
                      updated_at=web_time(now))  # fmt: skip
    hub.run(write_back_to=("web",))
    assert hub.golden(gid)["consent_email"] == "denied"
    assert str(hub.source_value("web", "newsletter", web)) == "0"  # corrected: it lost to the newer opt-out

    # a newer opt-in in web is the person changing their mind again: it wins
    later = opted_out + timedelta(seconds=2)
    hub.source_update("web", web, newsletter=1, newsletter_changed_at=web_time(later),
                      updated_at=web_time(now + timedelta(seconds=3)))  # fmt: skip
    hub.run()
    assert hub.golden(gid)["consent_email"] == "granted"
    events = hub.get(f"/v1/golden/{gid}/consent/history").json()["events"]
    assert [e["value"] for e in events if e["source"] == "web" and e["channel"] == "email"][-1] == "granted"


def test_an_old_opt_in_resent_with_an_unrelated_edit_does_not_overwrite_a_newer_opt_out(hub):
    """billing has no consent-time column and does not accept consent back: its post consent counts from the row's
    updated-at. The opt-in it held before the opt-out stays older than it when the row is edited for another
    reason: the choice counts from when the hub first saw it (its consent event)."""
    candidates = [g for g in hub.with_systems("billing") if hub.golden(g)["consent_post"] == "granted"]
    gid = next(g for g in candidates if hub.golden(g)["lineage"]["consent_post"]["source_system"] == "billing")
    billing = hub.members(gid)["billing"]
    assert hub.source_value("billing", "paperless", billing) == "N"  # post granted
    r = hub.post(f"/v1/golden/{gid}/consent",
                 {"channel": "post", "purpose": "marketing", "value": "denied", "legal_basis": "consent"})  # fmt: skip
    assert r.status_code == 200 and hub.golden(gid)["consent_post"] == "denied"
    later = datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=2)
    hub.source_update("billing", billing, billing_city="Elsewhere", modified_on=later.strftime("%Y-%m-%d %H:%M:%S"))
    hub.run()
    assert hub.golden(gid)["consent_post"] == "denied"


def test_do_not_contact_denies_every_channel_at_once_and_is_kept_in_history(hub):
    gid = hub.with_systems("app")[0]
    own = {ch: hub.golden(gid)[f"consent_{ch}"] for ch in ("email", "sms", "phone", "post")}
    r = hub.post(f"/v1/golden/{gid}/do-not-contact", {"set": True, "note": "complaint"})
    assert r.status_code == 200, r.text
    rec = hub.golden(gid)
    assert all(rec[f"consent_{ch}"] == "denied" for ch in ("email", "sms", "phone", "post"))
    assert rec["preferred_channel"] is None
    state = hub.get(f"/v1/golden/{gid}/consent").json()
    assert state["do_not_contact"] is True and state["do_not_contact_since"]
    for c in state["choices"]:
        assert c["effective"] == ("denied" if c["purpose"] == "marketing" else c["value"]), c
    hub.run()
    assert hub.golden(gid)["consent_sms"] == "denied"  # a run keeps it set

    r = hub.post(f"/v1/golden/{gid}/do-not-contact", {"set": False})
    assert r.status_code == 200
    assert hub.get(f"/v1/golden/{gid}/consent").json()["do_not_contact"] is False
    flags = [e for e in hub.get(f"/v1/golden/{gid}/consent/history").json()["events"] if e["channel"] == "all"]
    assert [(e["value"], e["note"]) for e in flags] == [("denied", "complaint"), ("granted", None)]
    assert {ch: hub.golden(gid)[f"consent_{ch}"] for ch in own} == own  # at once
    hub.run()
    assert {ch: hub.golden(gid)[f"consent_{ch}"] for ch in own} == own


def test_lifting_do_not_contact_takes_effect_at_once_and_is_written_back(hub):
    """Symmetric with setting it: a new version at once (reads, the change feed) with each channel's own choice and
    the preferred channel back; the next build agrees (no further version); write-back restores the sources."""
    gid = next(g for g in opted_in(hub, hub.with_systems("web", "crm"))[::-1] if hub.golden(g)["preferred_channel"])
    keys_ = hub.members(gid)
    before = hub.golden(gid)
    own = {f: before[f] for f in ("consent_email", "consent_sms", "consent_phone", "consent_post", "preferred_channel")}
    assert hub.post(f"/v1/golden/{gid}/do-not-contact", {"set": True}).status_code == 200
    hub.run(write_back_to=("web", "crm"))
    assert str(hub.source_value("web", "newsletter", keys_["web"])) == "0"
    assert str(hub.source_value("crm", "HasOptedOutOfEmail", keys_["crm"])) == "1"
    flagged = hub.golden(gid)

    since = datetime.now(UTC) - timedelta(seconds=1)
    r = hub.post(f"/v1/golden/{gid}/do-not-contact", {"set": False})
    assert r.status_code == 200, r.text
    lifted = r.json()
    assert lifted["version"] == flagged["version"] + 1
    rec = hub.get(f"/v1/golden/{gid}").json()
    assert {f: rec["attributes"][f] for f in own} == own
    assert rec["lineage"]["consent_email"]["rule"] != "do_not_contact"
    feed = hub.get("/v1/changes", since=since.isoformat()).json()["changes"]
    mine = [c for c in feed if c["golden_id"] == gid and c["version"] == lifted["version"]]
    assert mine and mine[0]["run_id"] == f"consent:{lifted['event']['event_id']}"
    assert "consent_email" in mine[0]["changed_fields"]

    hub.run(write_back_to=("web", "crm"))  # the build agrees, and write-back gives the sources their choice back
    after = hub.golden(gid)
    assert after["version"] == lifted["version"] and {f: after[f] for f in own} == own
    assert str(hub.source_value("web", "newsletter", keys_["web"])) == "1"
    assert str(hub.source_value("crm", "HasOptedOutOfEmail", keys_["crm"])) == "0"


def test_a_purpose_the_sources_do_not_record_lives_in_the_hub_only(hub):
    gid = hub.with_systems("billing")[0]
    before = hub.golden(gid)
    r = hub.post(f"/v1/golden/{gid}/consent", {"channel": "sms", "purpose": "profiling", "value": "denied",
                                               "legal_basis": "legitimate_interest"})  # fmt: skip
    assert r.status_code == 200 and r.json()["version"] == before["version"]
    profiling = [c for c in hub.get(f"/v1/golden/{gid}/consent").json()["choices"] if c["purpose"] == "profiling"]
    assert {(c["channel"], c["value"]) for c in profiling if c["value"] != "unknown"} == {("sms", "denied")}
    assert next(c for c in profiling if c["channel"] == "sms")["legal_basis"] == "legitimate_interest"


def test_roles_and_refusals(hub):
    gid = hub.with_systems("crm")[0]
    body = {"channel": "sms", "purpose": "marketing", "value": "denied", "legal_basis": "consent"}
    assert hub.post(f"/v1/golden/{gid}/consent", body, key=None).status_code == 401
    r = hub.post(f"/v1/golden/{gid}/consent", body, key=hub.reader_key)
    assert r.status_code == 403 and "steward role" in r.json()["detail"]
    assert hub.post(f"/v1/golden/{gid}/do-not-contact", {"set": True}, key=hub.reader_key).status_code == 403
    assert hub.get(f"/v1/golden/{gid}/consent", key=None).status_code == 401
    assert hub.get(f"/v1/golden/{gid}/consent").status_code == 200
    assert hub.get(f"/v1/golden/{gid}/consent/history").status_code == 200

    r = hub.post(f"/v1/golden/{gid}/consent", {**body, "purpose": "sales"})
    assert r.status_code == 422 and "purpose" in r.json()["message"]
    r = hub.post(f"/v1/golden/{gid}/consent", {**body, "legal_basis": "whim"})
    assert r.status_code == 422 and "legal_basis" in r.json()["message"]
    r = hub.post(f"/v1/golden/{gid}/consent", {**body, "channel": "pigeon"})
    assert r.status_code == 422 and "channel" in r.json()["message"]
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    assert hub.post(f"/v1/golden/{gid}/consent", {**body, "recorded_at": future}).status_code == 422
    assert hub.post("/v1/golden/G99999999/consent", body).status_code == 404
    assert hub.get("/v1/golden/G99999999/consent").status_code == 404


def test_a_steward_records_no_more_sms_in_the_ui(hub):
    gid = hub.with_systems("app")[-1]
    browser = TestClient(hub.client.app, follow_redirects=False)
    assert browser.post("/ui/login", data={"api_key": hub.steward_key}).status_code == 303
    csrf = ui.csrf_token(browser.cookies[ui.COOKIE])
    form = {"csrf": csrf, "channel": "sms", "purpose": "marketing", "value": "denied", "legal_basis": "consent",
            "note": "no more SMS"}  # fmt: skip
    r = browser.post(f"/ui/golden/{gid}/consent", data=form)
    assert r.status_code == 303 and "notice=consent" in r.headers["location"]
    assert hub.golden(gid)["consent_sms"] == "denied"
    page = browser.get(f"/ui/golden/{gid}").text
    assert "Consent and preferences" in page and "no more SMS" in page and "agent 7" in page
    last = hub.get(f"/v1/golden/{gid}/consent/history").json()["events"][-1]
    assert (last["source"], last["note"]) == ("steward", "no more SMS")

    reader = TestClient(hub.client.app, follow_redirects=False)
    assert reader.post("/ui/login", data={"api_key": hub.reader_key}).status_code == 303
    form["csrf"] = ui.csrf_token(reader.cookies[ui.COOKIE])
    assert reader.post(f"/ui/golden/{gid}/consent", data=form).status_code == 403


def test_cli_record_and_show(hub, capsys):
    gid = hub.with_systems("billing")[-1]
    args = ["--config", str(hub.config)]
    assert main(["consent", "record", gid, "--channel", "post", "--value", "denied", "--by", "desk 3",
                 "--note", "letter returned", *args]) == 0  # fmt: skip
    assert "recorded for" in capsys.readouterr().out
    assert hub.golden(gid)["consent_post"] == "denied"
    assert main(["consent", "show", gid, "--history", *args]) == 0
    out = capsys.readouterr().out
    assert "post" in out and "steward" in out and "desk 3" in out and "letter returned" in out
    assert main(["consent", "record", gid, "--channel", "post", "--value", "denied", "--purpose", "sales",
                 "--by", "x", *args]) == 1  # fmt: skip
    assert "purpose 'sales'" in capsys.readouterr().err


def test_a_build_without_its_consent_news_is_built_again_not_published(hub):
    """The build diffs the run's consent values against the consent state it read and leaves the news for its publish
    (golden_consent_news); a workspace built before builds did is refused with a clear message."""
    ws = Workspace.for_config(hub.cfg)
    try:
        build(ws, hub.cfg, hub.engine)
        ws.con.execute(f"DROP TABLE {GOLDEN_CONSENT}")
        with pytest.raises(NotReady, match=f"without {GOLDEN_CONSENT}: build them again"):
            publish_build(ws, hub.cfg, hub.engine)
    finally:
        ws.close()


def test_postgresql_serving_store(tmp_path, postgres_url):
    h = Hub(tmp_path / "demo", serving_store=postgres_url, customers=60)
    try:
        gid = h.with_systems("web")[0]
        body = {"channel": "email", "purpose": "marketing", "value": "denied", "legal_basis": "consent"}
        r = h.post(f"/v1/golden/{gid}/consent", body)
        assert r.status_code == 200, r.text
        assert h.golden(gid)["consent_email"] == "denied"
        h.run()
        assert h.golden(gid)["consent_email"] == "denied"
        assert any(e["source"] == "web" for e in h.get(f"/v1/golden/{gid}/consent/history").json()["events"])
        other = h.with_systems("app", exclude={gid})[0]  # do-not-contact set and lifted, each at once
        own = {f: h.golden(other)[f] for f in ("consent_email", "consent_sms", "preferred_channel")}
        assert h.post(f"/v1/golden/{other}/do-not-contact", {"set": True}).status_code == 200
        assert h.golden(other)["consent_sms"] == "denied"
        assert h.post(f"/v1/golden/{other}/do-not-contact", {"set": False}).status_code == 200
        assert {f: h.golden(other)[f] for f in own} == own
    finally:
        h.client.close()
        h.engine.dispose()
