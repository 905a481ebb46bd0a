"""``/docs`` works offline: Swagger UI's page names only URLs of this site, and this site
serves each of them (the right content type) from the fastapi-offline package's files.

Before: FastAPI's default page loaded Swagger UI from cdn.jsdelivr.net and its favicon
from fastapi.tiangolo.com, so without internet access /docs was blank."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest

from tests.web.test_http import client, runtime  # noqa: F401  (fixtures)

CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",),
                 ".png": ("image/png",)}


class Links(HTMLParser):
    """Every URL an element of the page loads or links to (src and href)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def page_urls(html: str) -> list[str]:
    parser = Links()
    parser.feed(html)
    # The inline set-up script names the OpenAPI document: url: '/openapi.json'.
    return parser.urls + re.findall(r"url:\s*'([^']*)'", html)


def test_docs_page_names_only_same_origin_urls(client):  # noqa: F811
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    urls = page_urls(response.text)
    assert len(urls) >= 4, urls  # stylesheet, favicon, script, OpenAPI document
    for url in urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/"), url
    assert "http://" not in response.text and "https://" not in response.text


def test_docs_assets_are_served(client):  # noqa: F811
    urls = page_urls(client.get("/docs").text)
    assets = [url for url in urls if url.startswith("/static/swagger-ui/")]
    assert {url.rsplit(".", 1)[1] for url in assets} == {"js", "css", "png"}
    for url in assets:
        response = client.get(url)
        assert response.status_code == 200, url
        kind = response.headers["content-type"].split(";")[0].strip()
        assert kind in CONTENT_TYPES["." + url.rsplit(".", 1)[1]], (url, kind)
        assert len(response.content) > 1000, url
    assert b"SwaggerUIBundle" in client.get("/static/swagger-ui/swagger-ui-bundle.js").content
    document = client.get("/openapi.json")
    assert document.status_code == 200 and document.json()["info"]["title"] == "summitcal"


def test_docs_policy_names_no_other_origin(client):  # noqa: F811
    policy = client.get("/docs").headers["content-security-policy"]
    assert "http" not in policy and "frame-ancestors 'none'" in policy


@pytest.mark.parametrize("path", ["/docs/oauth2-redirect"])
def test_oauth2_redirect_page(client, path):  # noqa: F811
    response = client.get(path)
    assert response.status_code == 200 and "oauth2" in response.text.lower()
    assert "https://" not in response.text.split("<script")[0]
