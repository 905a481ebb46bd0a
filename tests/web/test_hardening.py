"""Web hardening: security headers on every answer, slash redirects built from
``service.base_url`` (never the request's Host), an HTML 404 page for unknown pages (JSON
under /api), canonical tokens only, and connections that trickle their headers closed."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.core import database
from summitcal.subscriptions import subscribers as subs
from summitcal.subscriptions.tokens import make_token
from summitcal.web.app import create_app
from tests.serving import Server
from tests.web.test_http import AUTH, ROOT, assert_error, make_runtime

SECRET = "a-secret-key-for-the-hardening-tests"


@pytest.fixture
def client(runtime):
    with TestClient(create_app(runtime), base_url="http://attacker.example") as client:
        yield client


@pytest.fixture
def runtime(tmp_path, database_url):
    runtime = make_runtime(tmp_path, database_url)
    runtime.load([ROOT / "schedules"], source="test")
    yield runtime
    runtime.close()


@pytest.mark.parametrize("path", ["/", "/summits/astana-2024", "/changes", "/subscribe",
                                  "/api/summits", "/feeds/all.ics", "/changes.atom",
                                  "/healthz", "/static/summitcal.js", "/nope", "/api/nope"])
def test_regression_every_answer_carries_the_security_headers(client, path):
    response = client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    policy = response.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and "script-src 'self';" in policy
    assert "unsafe-inline" not in policy


def test_the_pages_need_nothing_the_policy_forbids(client):
    """No inline script, inline style or foreign source in the pages (the browser tests
    check that the pages still work under the policy)."""
    for path in ("/", "/summits/astana-2024", "/summits/dushanbe-2021", "/changes",
                 "/subscribe"):
        page = client.get(path).text
        assert "<script>" not in page and "style=" not in page, path
        assert "<script src=\"/static/" in page and "http://" not in page.split("<body")[0]


def test_the_api_docs_page_gets_the_policy_it_needs(client):
    response = client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" in policy and "frame-ancestors 'none'" in policy
    assert "http" not in policy  # every asset is served from here (web.docs)


@pytest.mark.parametrize("sent, location", [
    ("/changes/", "https://summitcal.test/changes"),
    ("/summits/astana-2024/?view=all", "https://summitcal.test/summits/astana-2024?view=all"),
    ("/api/summits/", "https://summitcal.test/api/summits"),
])
def test_regression_slash_redirects_go_to_base_url_not_the_host_header(client, sent, location):
    response = client.get(sent, headers={"host": "attacker.example"}, follow_redirects=False)
    assert response.status_code == 308
    assert response.headers["location"] == location


def test_regression_an_unknown_page_is_an_html_404(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<h1>Not found</h1>" in response.text and "/no-such-page" in response.text
    assert_error(client.get("/api/no-such-thing"), 404, "not_found")
    assert_error(client.get("/feeds/no/such.ics"), 404, "not_found")


def test_regression_a_private_feed_token_in_another_spelling_is_refused(tmp_path, database_url):
    config = tmp_path / "config.toml"
    config.write_text(f'[service]\nbase_url = "https://summitcal.test"\n'
                      f'[database]\nurl = "{database_url}"\n')
    runtime = Runtime.open(load_config(config, env={"SUMMITCAL_SECRET_KEY": SECRET}))
    runtime.load([ROOT / "schedules"], source="test")
    prefs = subs.check_preferences(runtime.store.schedule(), timezone="UTC", follow=["all"])
    with database.writing(runtime.store.engine) as connection:
        found = subs.add(connection, "reader@example.org", prefs, datetime.now(UTC),
                         confirmed=True)
    token = make_token(SECRET, "feed", found.id, 1)
    with TestClient(create_app(runtime)) as client:
        assert client.get(f"/feeds/private/{token}.ics").status_code == 200
        for spelling in (f"0{token}", f"{token}=", token.replace(".1.", ".01.")):
            assert client.get(f"/feeds/private/{spelling}.ics").status_code == 404, spelling
    runtime.close()


@pytest.mark.parametrize("body", [  # these used to be a 500 (RecursionError)
    ("a = " + "[" * 1000 + "]" * 1000).encode(),
    ("a = " + "{b = " * 1000 + "1" + "}" * 1000).encode(),
])
def test_regression_a_deeply_nested_upload_is_a_400(client, body):
    error = assert_error(client.post("/api/admin/schedules", content=body, headers=AUTH),
                         400, "invalid_schedule")
    assert "nested too deeply" in error["message"]


def test_regression_delegated_without_a_delegate_is_refused_by_the_api(client):
    url = "/api/admin/sessions/astana-2024/sco-council/attendance/putin"
    error = assert_error(client.put(url, json={"mode": "delegated"}, headers=AUTH), 400,
                         "invalid")
    assert error["field"] == "delegate"
    assert "(Putin: in person)" in client.get("/feeds/participants/putin.ics").text


def test_regression_a_note_only_change_says_so_over_the_api(client):
    url = "/api/admin/sessions/astana-2024/sco-council/attendance/putin"
    client.put(url, json={"mode": "video", "note": "First"}, headers=AUTH)
    answer = client.put(url, json={"mode": "video", "note": "Second"}, headers=AUTH).json()
    (change,) = answer["changes"]
    assert change["field"] == "attendance.note"
    assert change["text"] == ("astana-2024/sco-council: attendance changed putin video: note "
                              "changed (Second)")


def _config(folder: Path, timeout: str) -> Path:
    config = folder / "config.toml"
    config.write_text(f'[service]\ndata_dir = "data"\n[http]\nheader_timeout = "{timeout}"\n'
                      f'[schedules]\nload_on_start = false\n')
    return config


def _closed_after(sock: socket.socket, trickle: bytes, pause: float, limit: float) -> float:
    """Send ``trickle`` a byte at a time; seconds until the server closed the connection."""
    began = time.monotonic()
    sock.settimeout(pause)
    for index in range(10_000):
        if time.monotonic() - began > limit:
            break
        try:
            sock.sendall(trickle[index % len(trickle):index % len(trickle) + 1])
            if sock.recv(1) == b"":
                return time.monotonic() - began
        except TimeoutError:
            continue
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - began
    raise AssertionError(f"the connection was still open after {limit} s")


def test_regression_a_client_trickling_its_headers_is_cut_off(tmp_path):
    headers = b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Slow: " + b"a" * 200
    with Server(_config(tmp_path, "PT1S")) as server:
        with socket.create_connection(("127.0.0.1", server.port)) as slow:
            took = _closed_after(slow, headers, pause=0.1, limit=10)
        assert 0.9 <= took < 3, took
        # After a complete request on a kept-alive connection, the next one's headers
        # have the same deadline.
        with socket.create_connection(("127.0.0.1", server.port)) as kept:
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            assert kept.recv(4096).startswith(b"HTTP/1.1 200")
            took = _closed_after(kept, headers, pause=0.1, limit=10)
        assert 0.9 <= took < 3, took
        # A prompt client is served as usual.
        assert server.get("/healthz")[0] == 200
