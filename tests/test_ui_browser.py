"""The steward UI in a real browser: Debian's Chromium driven by playwright against the app served by
uvicorn on a free loopback port, as `hub serve` makes it (applying steward actions at once). A
steward signs in, decides a pair, sees the queue shrink and, once the apply_decisions job is done,
both records in one golden record. Screenshots go to /tmp/ui_*.png.

Without /usr/bin/chromium the test skips (`apt-get install chromium`), except where
HUB_REQUIRE_SERVERS=1 (CI sets it; .ci/run installs chromium): there it fails."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import unquote

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Page, sync_playwright

from hub import store
from pipelines.entry import create_app
from tests import test_steward

pytestmark = pytest.mark.browser
hub = test_steward.hub  # its module-scoped fixture: a demo of its own in this module
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's Chromium; first in the test's fixtures, so a machine without it skips before the demo is built."""
    if not os.access(CHROMIUM, os.X_OK):
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium"
        if os.environ.get("HUB_REQUIRE_SERVERS") == "1":
            pytest.fail(f"{message} — HUB_REQUIRE_SERVERS=1, so the browser test must not be skipped")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def app(hub) -> Iterator[FastAPI]:
    """The app as `hub serve` makes it: given its hub.yaml, it applies steward actions at once."""
    served = create_app(hub.cfg, hub.engine, config_path=str(hub.config))
    yield served
    served.state.applier.close()


@pytest.fixture(scope="module")
def base_url(app) -> Iterator[str]:
    """The app served by uvicorn in a background thread on a free 127.0.0.1 port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(chromium) -> Iterator[Page]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield browser.new_page(viewport={"width": 1280, "height": 900})
        browser.close()


def queue_size(page: Page) -> int:
    return int(page.inner_text("#queue-size").replace(",", ""))


def test_a_steward_decides_a_pair_and_sees_the_queue_and_the_golden_record_change(chromium, hub, app, base_url, page):
    page.goto(f"{base_url}/ui/review")
    assert page.url == f"{base_url}/ui/login"
    page.fill("#api_key", hub.steward_key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base_url}/ui/review")
    size = queue_size(page)
    assert size == hub.get("/v1/review").json()["total"] > 0
    page.screenshot(path="/tmp/ui_queue.png", full_page=True)

    with hub.engine.connect() as conn:
        _, queued = store.review_page(conn, limit=50)
    n, pair = next((i, r) for i, r in enumerate(queued) if r.golden_id_l != r.golden_id_r)  # two golden records
    link = page.locator("a.review").nth(n)
    assert [unquote(p) for p in link.get_attribute("href").split("?")[0].split("/")[3:]] == [pair.id_l, pair.id_r]
    link.click()
    page.wait_for_url(f"{base_url}/ui/review/**")
    assert page.get_by_role("heading", name="Is this the same customer?").is_visible()
    assert page.get_by_text(f"{pair.match_probability:.3f}").is_visible()
    page.screenshot(path="/tmp/ui_pair.png", full_page=True)

    page.get_by_role("button", name="Match", exact=True).click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text().startswith("Stored: match. Golden records are being updated now")
    page.goto(f"{base_url}/ui/review")
    assert queue_size(page) == size - 1
    assert page.locator(f'a.review[href^="/ui/review/{pair.id_l}/{pair.id_r}?"]').count() == 0

    assert app.state.applier.wait_idle(120), "the apply_decisions job did not finish"
    assert app.state.applier.status().last.success
    page.goto(f"{base_url}/ui/golden/{pair.golden_id_l}")  # its golden record then: live, or redirecting
    page.screenshot(path="/tmp/ui_golden.png", full_page=True)
    rows = page.locator("tr.member")  # source, key, ...
    members = {":".join(rows.nth(i).locator("td").all_inner_texts()[:2]) for i in range(rows.count())}
    assert {pair.id_l, pair.id_r} <= members
    ids = hub.golden_of()
    assert ids[pair.id_l] == ids[pair.id_r] and page.url.startswith(f"{base_url}/ui/golden/{ids[pair.id_l]}")
    if ids[pair.id_l] != pair.golden_id_l:
        assert page.get_by_text(f"Golden record {pair.golden_id_l} was retired").is_visible()
