"""HEAD answers like GET on every GET route (RFC 9110 9.3.2): the same status and header
fields, no content. The routes come from the app's own route table, so a route added
later is checked too. Before ``web.head``, ``/``, ``/summits/{id}``, ``/changes``,
``/changes.atom`` and the subscription pages answered HEAD with 405."""

from __future__ import annotations

import re

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from summitcal.web.app import create_app
from tests.web.test_http import ROOT, make_runtime

# A value for each path parameter, so that most routes answer 200.
SAMPLES = {"summit_id": "astana-2024", "kind": "summits", "ident": "astana-2024",
           "summit": "astana-2024", "session": "sco-council", "token": "not-a-token"}
SKIPPED_HEADERS = {"date"}
DYNAMIC = {"/metrics"}  # counts every request, so its length changes between two


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    runtime = make_runtime(tmp_path_factory.mktemp("head"), "sqlite:///"
                           + str(tmp_path_factory.mktemp("db") / "db.sqlite3"))
    runtime.load([ROOT / "schedules"], source="test")
    with TestClient(create_app(runtime)) as client:
        yield client
    runtime.close()


def get_paths(app) -> list[str]:
    """A concrete path for every GET route of the app (FastAPI's own walk of the route
    table, as it makes /openapi.json), and one file under each static mount."""
    paths = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount) and route.path == "/static":
            paths.append("/static/summitcal.css")
        elif "GET" in (route.methods or ()):
            paths.append(re.sub(r"\{(\w+)(:\w+)?\}", lambda m: SAMPLES.get(m[1], "x"), route.path))
    return paths


def test_head_route_table_covers_the_pages(client):
    paths = get_paths(client.app)
    for path in ("/", "/summits/astana-2024", "/changes", "/changes.atom", "/subscribe",
                 "/feeds/all.ics", "/feeds/sessions/astana-2024/sco-council.ics"):
        assert path in paths


def test_head_on_every_get_route(client):
    for path in get_paths(client.app):
        get = client.get(path, headers={"accept-encoding": "identity"})
        head = client.head(path, headers={"accept-encoding": "identity"})
        assert head.status_code == get.status_code != 405, path
        assert head.content == b"", path
        skipped = SKIPPED_HEADERS | ({"content-length"} if path in DYNAMIC else set())
        same = {k: v for k, v in get.headers.items() if k not in skipped}
        assert {k: v for k, v in head.headers.items() if k not in skipped} == same, path
        if "content-length" in get.headers:
            assert int(get.headers["content-length"]) == len(get.content), path


def test_head_without_a_get_route_is_still_405(client):
    response = client.head("/api/admin/schedules")
    assert response.status_code == 405 and response.content == b""


def test_regression_every_route_is_counted_under_its_own_route_label(client):
    """``/metrics`` counted every HEAD request, ``/openapi.json`` and ``/static/…`` under
    ``route="unmatched"`` (HEAD was answered on a copy of the scope, so the route the
    router found never reached the counting middleware; Starlette's own routes and mounts
    leave no route in the scope)."""
    from prometheus_client.parser import text_string_to_metric_families

    def counted() -> dict[tuple[str, str], float]:
        body = client.get("/metrics").text
        found: dict[tuple[str, str], float] = {}
        for family in text_string_to_metric_families(body):
            for sample in family.samples:
                if sample.name == "summitcal_http_requests_total":
                    key = (sample.labels["method"], sample.labels["route"])
                    found[key] = found.get(key, 0) + sample.value
        return found

    for path in get_paths(client.app):
        for method in ("GET", "HEAD"):
            before = counted().get((method, "unmatched"), 0)
            client.request(method, path)
            assert counted().get((method, "unmatched"), 0) == before, (method, path)
    before = counted().get(("HEAD", "unmatched"), 0)
    client.head("/no/such/page")
    assert counted().get(("HEAD", "unmatched"), 0) == before + 1


@pytest.mark.parametrize("path", ["/feeds/all.ics", "/", "/summits/astana-2024", "/healthz"])
def test_regression_a_405_allows_head_wherever_it_allows_get(client, path):
    """Every route that answers GET answers HEAD, but a 405 said ``Allow: GET``."""
    answer = client.post(path)
    assert answer.status_code == 405
    assert [m.strip() for m in answer.headers["allow"].split(",")] == ["GET", "HEAD"]
