"""/docs and /redoc work offline: their pages load Swagger UI and ReDoc from the hub itself, never from a CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

import tests.source_fixture as fx
from pipelines.entry import create_app


class Links(HTMLParser):
    """Every URL a page loads: src, href and ReDoc's spec-url attributes, and URLs in inline scripts (Swagger UI's
    `url: '/openapi.json'`)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_script = tag == "script"
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v]

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.urls += re.findall(r"""\burl\s*:\s*['"]([^'"]+)['"]""", data)
            self.urls += re.findall(r"""['"]((?:https?:)?//[^'"]+)['"]""", data)


@pytest.fixture
def client(tmp_path):
    cfg = fx.hub_config(f"sqlite:///{tmp_path / 'crm.db'}", tmp_path)
    cfg = cfg.model_copy(update={"serving_store": f"sqlite:///{tmp_path / 'serving.db'}"})
    with TestClient(create_app(cfg)) as c:
        yield c


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_api_docs_load_only_local_files_and_each_answers(client, page):
    r = client.get(page)
    assert r.status_code == 200
    parser = Links()
    parser.feed(r.text)
    urls = parser.urls
    assert any(u.endswith(".js") for u in urls) and "/openapi.json" in urls, urls
    for url in urls:
        assert not urlsplit(url).netloc, f"{page} loads {url} from another host"
        assert client.get(url).status_code == 200, url
