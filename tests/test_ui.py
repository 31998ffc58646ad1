"""The steward web UI (/ui) through FastAPI's TestClient: sign-in, every page, every form and their
errors, on the 300-person demo of the steward tests after one pipeline run."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from hub import store
from hub.api import keys, throttle, ui
from hub.api import sessions as ui_sessions
from hub.store import schema
from tests import test_steward

hub = test_steward.hub  # its module-scoped fixture: a demo of its own in this module


class Browser:
    """A TestClient signed in with one key (its cookie jar is the session), not following redirects."""

    def __init__(self, hub: test_steward.Hub, raw_key: str | None):
        self.client = TestClient(hub.client.app, follow_redirects=False)
        self.csrf = ""
        if raw_key:
            r = self.client.post("/ui/login", data={"api_key": raw_key})
            assert r.status_code == 303 and r.headers["location"] == "/ui/review", r.text
            self.csrf = ui.csrf_token(self.client.cookies[ui.COOKIE])

    def get(self, url: str, **params) -> httpx.Response:
        return self.client.get(url, params=params)

    def post(self, url: str, data: dict, csrf: str | None = None) -> httpx.Response:
        return self.client.post(url, data={"csrf": self.csrf if csrf is None else csrf, **data})


@pytest.fixture(scope="module")
def steward(hub):
    b = Browser(hub, hub.steward_key)
    yield b
    b.client.close()


@pytest.fixture(scope="module")
def reader(hub):
    b = Browser(hub, hub.reader_key)
    yield b
    b.client.close()


def queue(hub: test_steward.Hub, **filters) -> tuple[int, list[sa.Row]]:
    with hub.engine.connect() as conn:
        return store.review_page(conn, limit=500, **filters)


@pytest.fixture(scope="module")
def goldens(hub):
    """A golden record of three or more records (to split) and two single-record ones (to pin, to merge),
    none with a queued record."""
    with hub.engine.connect() as conn:
        x = store.current_xref(conn)
    taken = {g for r in queue(hub)[1] for g in (r.golden_id_l, r.golden_id_r)}
    sizes = x[~x.golden_id.isin(taken)].groupby("golden_id").size()
    singles = list(sizes[sizes == 1].index)
    return {"big": sizes[sizes >= 3].index[0], "pin": singles[0], "merge": singles[1:3]}


def text(r: httpx.Response) -> str:
    """The page's text without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", r.text).split())


# -------------------------------------------------------------------------------------------- sign-in


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/ui/review"),
        ("GET", "/ui/review/crm:1/web:2"),
        ("GET", "/ui/golden/G00000001"),
        ("POST", "/ui/review/crm:1/web:2"),
        ("POST", "/ui/golden/G00000001/pin"),
    ],
)
def test_without_a_session_every_page_sends_the_browser_to_sign_in(hub, method, url):
    anonymous = Browser(hub, None)
    r = anonymous.client.request(method, url)
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    anonymous.client.cookies.set(ui.COOKIE, "hub_000000000000_notavalidkeyatallxxxxxx", path="/ui")
    assert anonymous.client.request(method, url).headers["location"] == "/ui/login"


def test_sign_in_sets_a_strict_http_only_cookie_and_sign_out_clears_it(hub):
    client = TestClient(hub.client.app, follow_redirects=False)
    assert client.get("/ui").headers["location"] == "/ui/review"
    form = client.get("/ui/login")
    assert form.status_code == 200 and 'name="api_key"' in form.text
    r = client.post("/ui/login", data={"api_key": hub.steward_key})
    assert r.status_code == 303 and r.headers["location"] == "/ui/review"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "secure" not in cookie
    session = client.cookies[ui.COOKIE]
    assert hub.steward_key not in r.headers["set-cookie"] and len(session) >= 40  # a random id, not the key
    assert client.get("/ui/review").status_code == 200
    assert client.post("/ui/logout", data={}).status_code == 403  # no CSRF token: still signed in
    r = client.post("/ui/logout", data={"csrf": ui.csrf_token(session)})
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"
    assert client.get("/ui/review").headers["location"] == "/ui/login"
    replay = TestClient(hub.client.app, follow_redirects=False, cookies={ui.COOKIE: session})
    r = replay.get("/ui/review")  # the cookie of an ended session opens nothing
    assert r.status_code == 303 and r.headers["location"] == "/ui/login"

    https = TestClient(hub.client.app, base_url="https://testserver", follow_redirects=False)
    assert "secure" in https.post("/ui/login", data={"api_key": hub.steward_key}).headers["set-cookie"].lower()


def test_a_session_ends_at_its_expiry_and_when_its_key_is_revoked(hub):
    clock = [0.0]
    sessions = ui_sessions.Sessions(hours=1, clock=lambda: clock[0])
    sid = sessions.start("k1")
    assert sessions.key_id(sid) == "k1" and sessions.key_id("forged") is None
    clock[0] = 3599.0
    assert sessions.key_id(sid) == "k1"
    clock[0] = 3600.0
    assert sessions.key_id(sid) is None

    raw = keys.create_key(hub.engine, "steward to revoke", "steward")[1]
    browser = Browser(hub, raw)
    assert browser.get("/ui/review").status_code == 200
    keys.revoke_key(hub.engine, raw.split("_")[1])
    assert browser.get("/ui/review").headers["location"] == "/ui/login"


def test_failed_sign_ins_are_throttled_per_address_and_per_key_id(hub):
    limit = hub.cfg.api.max_failures
    wrong = "hub_00000000beef_thisisnotarealsecretxxxxxxxx"  # a key id of its own: the throttle remembers it
    attacker = TestClient(hub.client.app, follow_redirects=False, client=("203.0.113.7", 40000))
    for _ in range(limit):
        assert attacker.post("/ui/login", data={"api_key": wrong}).status_code == 401
    r = attacker.post("/ui/login", data={"api_key": hub.steward_key})  # even the right key waits now
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "set-cookie" not in r.headers
    assert "Too many failed sign-ins" in r.text
    elsewhere = TestClient(hub.client.app, follow_redirects=False, client=("203.0.113.8", 40000))
    assert elsewhere.post("/ui/login", data={"api_key": hub.steward_key}).status_code == 303
    # the same key id guessed from another address is throttled too (per key id)
    assert elsewhere.post("/ui/login", data={"api_key": wrong}).status_code == 429
    # API key checks count and answer the same way
    api = TestClient(hub.client.app, client=("203.0.113.9", 40000))
    guesses = [
        api.get("/v1/review", headers={"X-API-Key": f"hub_{i:012x}_wrongsecretwrong"}) for i in range(1, limit + 1)
    ]
    assert {g.status_code for g in guesses} == {401}
    r = api.get("/v1/review", headers={"X-API-Key": hub.reader_key})
    assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "too many failed" in r.json()["detail"]


def test_the_throttle_forgets_failures_once_the_window_has_passed():
    clock = [0.0]
    t = throttle.Throttle(max_failures=3, window_seconds=60, clock=lambda: clock[0])
    who = throttle.subjects("192.0.2.1", "hub_abcdefabcdef_x")
    assert who == ["addr:192.0.2.1", "key:abcdefabcdef"]
    for second in (0.0, 10.0, 20.0):
        clock[0] = second
        assert t.retry_after(who) is None
        t.failed(who)
    assert t.retry_after(who) == 40 and t.retry_after(["addr:192.0.2.1"]) == 40
    assert t.retry_after(["addr:192.0.2.2"]) is None
    clock[0] = 60.0  # the first failure left the window
    assert t.retry_after(who) is None


@pytest.mark.parametrize("bad", ["", "not a key", "hub_000000000000_thisisnotarealsecretxxxxxxxx"])
def test_a_bad_key_shows_the_form_again_with_the_reason(hub, bad):
    r = TestClient(hub.client.app, follow_redirects=False).post("/ui/login", data={"api_key": bad})
    assert r.status_code == 401 and "set-cookie" not in r.headers
    assert "That key is not valid" in r.text and 'name="api_key"' in r.text


# ------------------------------------------------------------------------------------------ the queue


def test_the_queue_shows_the_same_pairs_as_the_api(hub, reader):
    total, rows = queue(hub)
    r = reader.get("/ui/review")
    assert r.status_code == 200
    assert f'id="queue-size">{total:,}<' in r.text
    assert total == hub.get("/v1/review").json()["total"]
    first = rows[0]
    assert f"{first.match_probability:.3f}" in r.text and first.id_l in r.text and first.golden_id_l in r.text
    assert f"{total:,}" in text(r) and "Page 1 of" in text(r)

    source = first.source_system_l
    n, filtered = queue(hub, source=source, descending=False)
    page = reader.get("/ui/review", source=source, sort="probability_asc")
    listed = re.findall(r'href="/ui/review/([^/"]+)/([^?"]+)\?', page.text)
    assert listed == [(p.id_l, p.id_r) for p in filtered[: ui.PAGE_SIZE]]
    assert f"{n:,} match these filters" in text(page) or n == total

    low = rows[len(rows) // 2].match_probability
    band = reader.get("/ui/review", min_probability=low, max_probability=1)
    assert f"{queue(hub, min_probability=low)[0]:,} match these filters" in text(band)
    assert reader.get("/ui/review", page=2).status_code == 200
    bad = reader.get("/ui/review", min_probability=0.9, max_probability=0.5)
    assert bad.status_code == 422 and "must not exceed max_probability" in bad.text
    assert reader.get("/ui/review", sort="random").status_code == 422


# ------------------------------------------------------------------------------------------ a pair


def test_the_pair_view_shows_both_records_the_explanation_and_no_history(hub, reader):
    pair = queue(hub)[1][0]
    r = reader.get(f"/ui/review/{pair.id_l}/{pair.id_r}")
    assert r.status_code == 200
    body = text(r)
    assert f"{pair.match_probability:.3f}" in body and "first_name" in body and "date_of_birth" in body
    api = hub.get(f"/v1/review/{pair.id_l}/{pair.id_r}").json()
    left, right = api["record_l"], api["record_r"]
    differing = [f for f in {*left, *right} if left.get(f) != right.get(f)]
    assert r.text.count('<tr class="diff">') == len(differing) > 0  # each differing field highlighted
    for name in api["item"]["explanation"]:
        assert f'aria-label="{name}:' in r.text
    assert "No decisions yet." in body
    assert r.text.count("disabled") >= 3 and "needs a steward key" in body  # a reader sees no live buttons


def test_an_unknown_pair_or_golden_record_is_a_404_page(reader):
    for url in ("/ui/review/crm:nope/web:nope", "/ui/golden/G99999999"):
        r = reader.get(url)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
        assert "Not found" in r.text and "Back to the review queue" in r.text


def test_positions_past_the_deepest_page_are_a_422_page_not_a_500(hub, steward):
    pair = queue(hub)[1][0]
    huge = "9223372036854775808"
    for r in (
        steward.get("/ui/review", page=huge),
        steward.get(f"/ui/review/{pair.id_l}/{pair.id_r}", pos=huge),
        steward.post(f"/ui/review/{pair.id_l}/{pair.id_r}", {"decision": "skip", "pos": huge}),
    ):
        assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), r.text
        assert "less than or equal to" in r.text


def test_a_reader_may_look_but_not_decide(hub, reader, goldens):
    pair = queue(hub)[1][0]
    r = reader.post(f"/ui/review/{pair.id_l}/{pair.id_r}", {"decision": "match"})
    assert r.status_code == 403 and "needs the steward role" in r.text and "reader rita" in r.text
    r = reader.post(f"/ui/golden/{goldens['pin']}/pin", {"field": "first_name", "value": "X"})
    assert r.status_code == 403
    assert reader.get(f"/ui/golden/{goldens['pin']}").status_code == 200
    assert queue(hub)[0] == hub.get("/v1/review").json()["total"]
    with hub.engine.connect() as conn:
        assert store.decision_history(conn, pair.id_l, pair.id_r) == []


@pytest.mark.parametrize("csrf", ["", "0" * 64, "ü"])
def test_a_form_without_the_right_csrf_token_is_refused(hub, steward, goldens, csrf):
    pair = queue(hub)[1][0]
    r = steward.post(f"/ui/review/{pair.id_l}/{pair.id_r}", {"decision": "match"}, csrf=csrf)
    assert r.status_code == 403 and "security token is missing or out of date" in r.text
    r = steward.post(f"/ui/golden/{goldens['pin']}/pin", {"field": "first_name", "value": "X"}, csrf=csrf)
    assert r.status_code == 403
    with hub.engine.connect() as conn:
        assert store.decision_history(conn, pair.id_l, pair.id_r) == [] and store.overrides(conn).empty


def test_deciding_through_the_form_stores_who_and_when_and_moves_on(hub, steward):
    total, rows = queue(hub)
    first, second, third = rows[:3]
    r = steward.post(f"/ui/review/{first.id_l}/{first.id_r}", {"decision": "skip", "pos": 0})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/ui/review/{second.id_l}/{second.id_r}?")
    assert "pos=1" in r.headers["location"] and queue(hub)[0] == total

    r = steward.post(f"/ui/review/{first.id_l}/{first.id_r}", {"decision": "match", "note": "same phone", "pos": 0})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/ui/review/{second.id_l}/{second.id_r}?")
    assert "notice=match" in r.headers["location"]
    landed = steward.client.get(r.headers["location"])
    assert "Stored: match" in landed.text and f"{second.match_probability:.3f}" in landed.text
    after, left = queue(hub)
    assert after == total - 1 and (first.id_l, first.id_r) not in {(p.id_l, p.id_r) for p in left}
    with hub.engine.connect() as conn:
        [d] = store.decision_history(conn, first.id_l, first.id_r)
    assert (d["decision"], d["decided_by"], d["note"]) == ("match", "steward sam", "same phone")
    assert abs(d["decided_at"] - datetime.now(UTC).replace(tzinfo=None)) < timedelta(minutes=1)
    page = steward.get(f"/ui/review/{first.id_l}/{first.id_r}")
    assert "no longer in the review queue" in page.text and "steward sam" in page.text and "same phone" in page.text

    r = steward.post(
        f"/ui/review/{third.id_l}/{third.id_r}", {"decision": "not_match", "pos": 1, "sort": "probability_desc"}
    )
    assert r.status_code == 303 and "notice=not_match" in r.headers["location"]
    assert queue(hub)[0] == total - 2
    r = steward.post(f"/ui/review/{second.id_l}/{second.id_r}", {"decision": "maybe"})
    assert r.status_code == 422 and "decision: Input should be" in r.text


def test_a_contradictory_decision_shows_the_message(hub, steward, goldens):
    pair = queue(hub)[1][-1]
    a, b = pair.id_l, pair.id_r
    c = next(r for r in hub.golden_of_members(goldens["merge"][1]))
    for x, y in ((a, c), (c, b)):
        assert steward.post(f"/ui/review/{x}/{y}", {"decision": "match"}).status_code == 303
    r = steward.post(f"/ui/review/{a}/{b}", {"decision": "not_match", "note": "no"})
    assert r.status_code == 409 and "change one of those decisions first" in text(r)
    assert f"{pair.match_probability:.3f}" in r.text  # the pair page again, with the message
    r = steward.post(f"/ui/review/{a}/crm:no-such-record", {"decision": "match"})
    assert r.status_code == 422 and "no source record" in r.text


# ------------------------------------------------------------------------------------ a golden record


def test_the_golden_record_page_shows_values_lineage_and_members(hub, reader, goldens):
    gid = goldens["big"]
    r = reader.get(f"/ui/golden/{gid}")
    assert r.status_code == 200
    rec = hub.get(f"/v1/golden/{gid}").json()
    body = text(r)
    assert f"Golden record {gid}" in body and rec["attributes"]["last_name"] in body
    lineage = rec["lineage"]["last_name"]
    assert f"{lineage['source_system']}:{lineage['source_key']}" in body and lineage["rule"] in body
    members = hub.golden_of_members(gid)
    assert r.text.count('class="member"') == len(members) and r.text.count(">Split out<") == len(members)


def test_pin_and_unpin_through_the_form(hub, steward, goldens):
    gid = goldens["pin"]
    r = steward.post(f"/ui/golden/{gid}/pin", {"field": "date_of_birth", "value": "the fifth of May"})
    assert r.status_code == 422 and "cannot be read as date" in r.text and f"Golden record {gid}" in r.text
    assert steward.post(f"/ui/golden/{gid}/pin", {"field": "email", "value": " "}).status_code == 422
    with hub.engine.connect() as conn:
        assert store.overrides(conn).empty

    r = steward.post(f"/ui/golden/{gid}/pin", {"field": "first_name", "value": "Zebulon"})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/golden/{gid}?notice=pin&applies=next_run"
    page = steward.client.get(r.headers["location"])
    assert "Pin stored" in page.text and "pinned to “Zebulon”" in page.text and "pending" in page.text
    with hub.engine.connect() as conn:
        pins = store.overrides(conn)
    assert pins[["golden_id", "field", "value", "pinned_by"]].values.tolist() == [
        [gid, "first_name", "Zebulon", "steward sam"]
    ]
    r = steward.post(f"/ui/golden/{gid}/unpin", {"field": "first_name"})
    assert r.status_code == 303
    with hub.engine.connect() as conn:
        assert store.overrides(conn).empty
    r = steward.post(f"/ui/golden/{gid}/unpin", {"field": "first_name"})
    assert r.status_code == 404 and "has no pin" in r.text


def test_split_and_merge_through_the_form_are_pending_until_the_next_run(hub, steward, goldens):
    big = goldens["big"]
    members = hub.golden_of_members(big)
    system, key = members[-1].split(":", 1)
    r = steward.post(f"/ui/golden/{big}/split", {"source_system": system, "source_key": key})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/golden/{big}?notice=split&applies=next_run"
    page = steward.client.get(r.headers["location"])
    assert "Split stored" in page.text and "Pending steward decisions" in page.text
    assert text(page).count("not a match") == len(members) - 1
    r = steward.post(f"/ui/golden/{big}/split", {"source_system": system, "source_key": "no-such-key"})
    assert r.status_code == 422 and "is not a record of golden record" in r.text

    g1, g2 = goldens["merge"]
    r = steward.post(f"/ui/golden/{g1}/merge", {"other": g2})
    assert r.status_code == 303 and r.headers["location"] == f"/ui/golden/{g1}?notice=merge&applies=next_run"
    with hub.engine.connect() as conn:
        [d] = store.decision_history(conn, hub.golden_of_members(g1)[0], hub.golden_of_members(g2)[0])
    assert (d["decision"], d["decided_by"]) == ("match", "steward sam")
    assert "Pending steward decisions" in steward.get(f"/ui/golden/{g2}").text
    assert steward.post(f"/ui/golden/{g1}/merge", {"other": "G99999999"}).status_code == 404
    r = steward.post(f"/ui/golden/{g1}/merge", {"other": g1})
    assert r.status_code == 422 and "are one golden record" in r.text
    assert steward.post(f"/ui/golden/{g1}/merge", {"other": ""}).status_code == 422


def test_a_retired_id_redirects_to_its_survivor_with_a_notice(hub, reader, goldens):
    live = goldens["pin"]
    with store.write_transaction(hub.engine) as conn:  # as a merge of an earlier run leaves it
        conn.execute(
            schema.id_redirects.insert().values(
                retired_id="G99999990",
                surviving_id=live,
                retired_into=live,
                reason="merge",
                retired_at=datetime(2026, 1, 1),
                run_id="test",
            )
        )
    r = reader.get("/ui/golden/G99999990")
    assert r.status_code == 303 and r.headers["location"] == f"/ui/golden/{live}?retired=G99999990"
    page = reader.client.get(r.headers["location"])
    assert "Golden record G99999990 was retired and redirects here" in page.text
    assert "was retired" not in reader.get(f"/ui/golden/{live}", retired=goldens["big"]).text
