"""HTTP: feed caching semantics, the JSON API, the admin token, one error shape."""

from __future__ import annotations

import gzip
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.app.server import web_app
from summitcal.summits.schedule_file import load_paths
from summitcal.summits.store import Store

ROOT = Path(__file__).resolve().parents[2]
BEFORE = ROOT / "history" / "dushanbe-2021-before-announcement.toml"
TOKEN = "s3cret-token-for-tests"


def make_runtime(tmp_path: Path, database_url: str, admin: bool = True) -> Runtime:
    config_file = tmp_path / "config.toml"
    config_file.write_text(f'[service]\nbase_url = "https://summitcal.test"\n'
                           f'[database]\nurl = "{database_url}"\n')
    env = {"SUMMITCAL_ADMIN_TOKEN": TOKEN} if admin else {}
    return Runtime.open(load_config(config_file, env=env))


@pytest.fixture
def runtime(tmp_path, database_url):
    runtime = make_runtime(tmp_path, database_url)
    runtime.load([ROOT / "schedules"], source="test")
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime):
    with TestClient(web_app(runtime)) as client:
        yield client


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    assert body["error"]["code"] == code, body
    return body["error"]


# --- feeds ------------------------------------------------------------------------------

FEEDS = ["/feeds/all.ics", "/feeds/summits/astana-2024.ics", "/feeds/summits/dushanbe-2021.ics",
         "/feeds/organizations/sco.ics", "/feeds/organizations/csto.ics",
         "/feeds/participants/putin.ics"]


@pytest.mark.parametrize("path", FEEDS)
def test_feed_headers(client, path):
    response = client.get(path, headers={"accept-encoding": "identity"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    etag = response.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"') and not etag.startswith("W/")
    assert parsedate_to_datetime(response.headers["last-modified"]).tzinfo is not None
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.content.startswith(b"BEGIN:VCALENDAR\r\n")
    assert b"METHOD:" not in response.content and b"X-WR-TIMEZONE" not in response.content


def test_no_accept_header_needed(client):
    response = client.get("/feeds/all.ics", headers={"accept": ""})
    assert response.status_code == 200


def test_if_none_match_gives_304_with_the_same_validators(client):
    first = client.get("/feeds/summits/astana-2024.ics", headers={"accept-encoding": "identity"})
    again = client.get("/feeds/summits/astana-2024.ics",
                       headers={"if-none-match": first.headers["etag"],
                                "accept-encoding": "identity"})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    assert again.headers["last-modified"] == first.headers["last-modified"]
    other = client.get("/feeds/summits/astana-2024.ics", headers={"if-none-match": '"nope"'})
    assert other.status_code == 200
    star = client.get("/feeds/summits/astana-2024.ics", headers={"if-none-match": "*"})
    assert star.status_code == 304


def test_if_modified_since(client):
    first = client.get("/feeds/all.ics")
    modified = parsedate_to_datetime(first.headers["last-modified"])
    same = client.get("/feeds/all.ics", headers={"if-modified-since": first.headers["last-modified"]})
    assert same.status_code == 304
    earlier = format_datetime(modified.replace(year=modified.year - 1), usegmt=True)
    assert client.get("/feeds/all.ics", headers={"if-modified-since": earlier}).status_code == 200
    garbage = client.get("/feeds/all.ics", headers={"if-modified-since": "yesterday"})
    assert garbage.status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    both = client.get("/feeds/all.ics", headers={"if-none-match": '"other"',
                                                 "if-modified-since": first.headers["last-modified"]})
    assert both.status_code == 200


def test_head_has_the_headers_and_no_body(client):
    get = client.get("/feeds/participants/putin.ics", headers={"accept-encoding": "identity"})
    head = client.head("/feeds/participants/putin.ics", headers={"accept-encoding": "identity"})
    assert head.status_code == 200 and head.content == b""
    for name in ("etag", "last-modified", "content-type", "cache-control"):
        assert head.headers[name] == get.headers[name]
    assert head.headers["content-length"] == str(len(get.content))


def test_gzip_when_asked(client):
    plain = client.get("/feeds/all.ics", headers={"accept-encoding": "identity"})
    response = client.get("/feeds/all.ics", headers={"accept-encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert response.content == plain.content  # the client decoded it
    assert response.headers["etag"] != plain.headers["etag"]
    raw = client.get("/feeds/all.ics", headers={"accept-encoding": "gzip;q=0"})
    assert "content-encoding" not in raw.headers
    # A cached gzip ETag revalidates too.
    again = client.get("/feeds/all.ics", headers={"accept-encoding": "gzip",
                                                  "if-none-match": response.headers["etag"]})
    assert again.status_code == 304
    assert gzip.decompress(gzip.compress(plain.content)) == plain.content


def test_same_data_same_bytes(client):
    first = client.get("/feeds/all.ics", headers={"accept-encoding": "identity"}).content
    second = client.get("/feeds/all.ics", headers={"accept-encoding": "identity"}).content
    assert first == second


@pytest.mark.parametrize("path, code", [
    ("/feeds/summits/nope.ics", "not_found"), ("/feeds/people/putin.ics", "not_found"),
    ("/feeds/participants/xi.ics", "not_found"), ("/feeds/nothing.ics", "not_found"),
])
def test_unknown_feed_is_404(client, path, code):
    assert_error(client.get(path), 404, code)


def test_change_from_another_process_shows_at_once(client, runtime, database_url):
    """Another Store (as `summitcal load` in another process would use) makes a revision;
    the next GET serves the new bytes without any signal besides the database."""
    before = client.get("/feeds/participants/putin.ics", headers={"accept-encoding": "identity"})
    with Store(database_url) as other:
        other.apply(load_paths([BEFORE]), "other process")
    after = client.get("/feeds/participants/putin.ics", headers={"accept-encoding": "identity"})
    assert after.headers["etag"] != before.headers["etag"]
    assert b"(Putin: in person)" in after.content
    stale = client.get("/feeds/participants/putin.ics",
                       headers={"if-none-match": before.headers["etag"]})
    assert stale.status_code == 200


def test_replay_over_http(tmp_path, database_url):
    runtime = make_runtime(tmp_path, database_url)
    runtime.load([BEFORE], source="test")
    with TestClient(web_app(runtime)) as client:
        before = client.get("/feeds/summits/dushanbe-2021.ics", headers={"accept-encoding": "identity"})
        sequences = {s["id"]: s["sequence"] for s in client.get(
            "/api/sessions", params={"summit": "dushanbe-2021"}).json()}
        result = client.post("/api/admin/schedules", content=(
            ROOT / "schedules" / "dushanbe-2021.toml").read_bytes(),
            headers={"authorization": f"Bearer {TOKEN}"})
        assert result.status_code == 200, result.text
        kinds = [(c["kind"], c["session"], c["old"], c["new"]) for c in result.json()["changes"]]
        assert sorted(kinds) == [("attendance_changed", s, "in_person", "video")
                                 for s in ("csto-council", "csto-sco-joint", "sco-council")]
        after = client.get("/feeds/summits/dushanbe-2021.ics", headers={"if-none-match": before.headers["etag"]})
        assert after.status_code == 200 and after.headers["etag"] != before.headers["etag"]
        for item in client.get("/api/sessions", params={"participant": "putin"}).json():
            if item["summit"] == "dushanbe-2021":
                assert item["sequence"] == sequences[item["id"]] + 1
                assert item["attendance"][0]["mode"] == "video"
        again = client.post("/api/admin/schedules", content=(
            ROOT / "schedules" / "dushanbe-2021.toml").read_bytes(),
            headers={"authorization": f"Bearer {TOKEN}"})
        assert again.json() == {"revision": None, "dry_run": False, "changes": []}
    runtime.close()


# --- JSON API ---------------------------------------------------------------------------

def test_summits_and_sessions(client):
    summits = client.get("/api/summits").json()
    assert [s["id"] for s in summits] == ["dushanbe-2021", "astana-2024"]
    assert summits[1]["feed"] == {"https": "https://summitcal.test/feeds/summits/astana-2024.ics",
                                  "webcal": "webcal://summitcal.test/feeds/summits/astana-2024.ics"}
    astana = client.get("/api/summits/astana-2024").json()
    council = next(s for s in astana["sessions"] if s["id"] == "sco-council")
    # Astana (Asia/Almaty) is UTC+5 since 2024-03-01.
    assert council["start"] == {"local": "2024-07-03T00:00:00+05:00", "utc": "2024-07-02T19:00:00Z"}
    assert council["end_date"] == "2024-07-04" and council["all_day"] is True
    assert council["attendance"] == [{"participant": "putin", "name": "Vladimir Putin",
                                      "mode": "in_person", "delegate": None,
                                      "note": "Arrived in Astana on Wednesday 3 July (Kremlin statement)",
                                      "announced": None}]
    sco = client.get("/api/sessions", params={"organization": "csto"}).json()
    assert {s["id"] for s in sco} == {"csto-council", "csto-sco-joint"}
    assert_error(client.get("/api/summits/nope"), 404, "not_found")
    assert_error(client.get("/api/sessions", params={"participant": "xi"}), 404, "not_found")


def test_openapi_and_health(client):
    spec = client.get("/openapi.json").json()
    for path in ("/api/summits", "/api/summits/{summit_id}", "/api/sessions",
                 "/api/admin/schedules",
                 "/api/admin/sessions/{summit}/{session}/attendance/{participant}",
                 "/feeds/all.ics", "/healthz"):
        assert path in spec["paths"], path
    assert client.get("/healthz").json()["status"] == "ok"
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "summitcal_revision 1" in metrics.text


# --- admin ------------------------------------------------------------------------------

def test_admin_token(client, tmp_path, database_url):
    url = "/api/admin/sessions/astana-2024/sco-council/attendance/putin"
    body = {"mode": "video", "note": "Changed plans"}
    assert_error(client.put(url, json=body), 401, "unauthorized")
    wrong = client.put(url, json=body, headers={"authorization": "Bearer nope"})
    assert_error(wrong, 401, "unauthorized")
    assert wrong.headers["www-authenticate"].startswith("Bearer")
    assert_error(client.put(url, json=body, headers={"authorization": TOKEN}), 401, "unauthorized")
    ok = client.put(url, json=body, headers={"authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200 and ok.json()["changes"][0]["new"] == "video"
    feed = client.get("/feeds/participants/putin.ics").text
    assert "SCO Council of Heads of State (Putin: video link)" in feed


def test_admin_off_without_a_token(tmp_path, database_url):
    runtime = make_runtime(tmp_path, database_url, admin=False)
    with TestClient(web_app(runtime)) as client:
        response = client.post("/api/admin/schedules", content=b"",
                               headers={"authorization": "Bearer anything"})
        assert_error(response, 403, "admin_disabled")
    runtime.close()


AUTH = {"authorization": f"Bearer {TOKEN}"}
URL = "/api/admin/sessions/astana-2024/sco-council/attendance/putin"


@pytest.mark.parametrize("method, path, kwargs, status, code", [
    ("put", URL, {"json": {"mode": "hologram"}}, 422, "invalid"),
    ("put", URL, {"json": {"mode": "video", "extra": 1}}, 422, "invalid"),
    ("put", URL, {"json": {}}, 422, "invalid"),
    ("put", URL, {"json": ["video"]}, 422, "invalid"),
    ("put", URL, {"content": b"{not json", "headers": {"content-type": "application/json"}},
     400, "invalid_json"),
    ("put", URL, {"json": {"mode": "in_person", "delegate": "putin"}}, 400, "invalid"),
    ("put", URL, {"json": {"mode": "delegated", "delegate": "xi"}}, 404, "not_found"),
    ("put", URL.replace("putin", "xi"), {"json": {"mode": "video"}}, 404, "not_found"),
    ("put", URL.replace("sco-council", "nope"), {"json": {"mode": "video"}}, 404, "not_found"),
    ("put", URL, {"json": {"mode": "video", "announced": "yesterday"}}, 422, "invalid"),
    ("post", "/api/admin/schedules", {"content": b"[summit"}, 400, "invalid_schedule"),
    ("post", "/api/admin/schedules", {"content": b"\xff\xfe"}, 400, "invalid"),
    ("post", "/api/admin/schedules", {"content": b""}, 400, "invalid_schedule"),
    ("post", "/api/admin/schedules", {"content": b"x" * 1_000_001}, 413, "too_large"),
    ("get", "/api/admin/schedules", {}, 405, "method_not_allowed"),
    ("delete", "/api/summits", {}, 405, "method_not_allowed"),
    ("get", "/api/nothing", {}, 404, "not_found"),
])
def test_bad_requests_get_4xx_with_the_error_shape(client, method, path, kwargs, status, code):
    kwargs = dict(kwargs)  # the parameters are shared by the SQLite and PostgreSQL runs
    headers = {**AUTH, **kwargs.pop("headers", {})}
    response = getattr(client, method)(path, headers=headers, **kwargs)
    assert_error(response, status, code)


def test_bad_schedule_over_the_api_changes_nothing(client):
    before = client.get("/feeds/all.ics", headers={"accept-encoding": "identity"})
    text = (ROOT / "schedules" / "astana-2024.toml").read_text()
    broken = text.replace('mode = "in_person"', 'mode = "teleport"', 1).replace(
        "date = 2024-07-03", "start = 2024-07-03T10:00:00\nend = 2024-07-03T09:00:00", 1)
    response = client.post("/api/admin/schedules", content=broken.encode(), headers=AUTH)
    error = assert_error(response, 400, "invalid_schedule")
    fields = sorted(p["field"] for p in error["problems"])
    assert fields[0].startswith("sessions[0].") and len(fields) >= 2
    after = client.get("/feeds/all.ics", headers={"accept-encoding": "identity"})
    assert after.content == before.content and after.headers["etag"] == before.headers["etag"]


def test_dry_run_over_the_api(client):
    text = (ROOT / "schedules" / "astana-2024.toml").read_text().replace(
        'mode = "in_person"', 'mode = "video"', 1)
    response = client.post("/api/admin/schedules", params={"dry_run": "true"},
                           content=text.encode(), headers=AUTH)
    assert response.json()["dry_run"] is True and response.json()["revision"] is None
    assert len(response.json()["changes"]) == 1
    assert "(Putin: in person)" in client.get("/feeds/participants/putin.ics").text
