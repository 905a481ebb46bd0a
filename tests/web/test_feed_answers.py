"""Public feed GETs answered before the framework (``web.feed_answers``) give exactly the
answers of the feed routes behind it: same status, headers and body, for plain, gzip,
HEAD and conditional requests; and they are really answered there once a feed is made
(counted, not timed)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from summitcal.web.app import serving_app
from summitcal.web.feed_answers import FeedAnswers, feed_route
from tests.web.test_http import ROOT, make_runtime

PATHS = ["/feeds/all.ics", "/feeds/summits/astana-2024.ics",
         "/feeds/participants/putin.ics", "/feeds/sessions/astana-2024/sco-council.ics"]


def call(app: Any, method: str, path: str, headers: dict[str, str]) -> tuple[int, dict, bytes]:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "root_path": "", "query_string": b"", "client": ("127.0.0.1", 5000),
             "server": ("127.0.0.1", 8080),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict((k.decode(), v.decode()) for k, v in start["headers"]), body


def undated(answer: tuple[int, dict, bytes]) -> tuple[int, dict, bytes]:
    """``answer`` without its Date field: two answers a moment apart may straddle a second."""
    status, headers, body = answer
    return status, {k: v for k, v in headers.items() if k != "date"}, body


def test_answers_equal_the_routes_answers(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        runtime.load([ROOT / "schedules"], source="test")
        app = front = serving_app(runtime)
        assert isinstance(front, FeedAnswers)
        for path in PATHS:
            _, plain, _ = call(app, "GET", path, {})  # made (plain and gzip) by the app
            _, zipped, _ = call(app, "GET", path, {"Accept-Encoding": "gzip"})
            for method, headers in [
                    ("GET", {}), ("GET", {"Accept-Encoding": "gzip"}),
                    ("HEAD", {"Accept-Encoding": "gzip, deflate"}), ("HEAD", {}),
                    ("GET", {"If-None-Match": plain["etag"]}),
                    ("GET", {"If-None-Match": zipped["etag"], "Accept-Encoding": "gzip"}),
                    ("GET", {"If-None-Match": '"other"'}),
                    ("GET", {"If-Modified-Since": plain["last-modified"]}),
                    ("GET", {"Accept-Encoding": "gzip;q=0"})]:
                answered = front.answered
                fast = call(app, method, path, headers)
                assert front.answered == answered + 1, (method, path, headers)
                assert undated(fast) == undated(call(front.app, method, path, headers)), (
                    method, path, headers)
    finally:
        runtime.close()


def test_an_answer_given_at_once_is_the_asgi_answer(tmp_path: Path) -> None:
    """``answer_now`` (what the HTTP protocol writes without an ASGI cycle) gives the
    status, headers and body of the ASGI path, and nothing for bytes not made yet."""
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        runtime.load([ROOT / "schedules"], source="test")
        front = serving_app(runtime)
        assert isinstance(front, FeedAnswers)
        path = "/feeds/summits/astana-2024.ics"
        call(front, "HEAD", path, {})  # built, not gzipped
        assert not runtime.feeds.cached("summits/astana-2024").made(True)
        assert front.answer_now(_scope("GET", path, {"Accept-Encoding": "gzip"})) is None
        _, plain, _ = call(front, "GET", path, {})
        call(front, "GET", path, {"Accept-Encoding": "gzip"})
        for method, headers in [("GET", {}), ("GET", {"Accept-Encoding": "gzip"}),
                                ("HEAD", {"Accept-Encoding": "gzip"}),
                                ("GET", {"If-None-Match": plain["etag"]}),
                                ("GET", {"If-None-Match": '"other"'})]:
            answered = front.answered
            status, fields, body = front.answer_now(_scope(method, path, headers))
            assert front.answered == answered + 1
            at_once = (status, {k.decode(): v.decode() for k, v in fields}, body)
            assert undated(at_once) == undated(call(front, method, path, headers)), (
                method, headers)
        assert front.answer_now(_scope("GET", "/feeds/summits/nowhere.ics", {})) is None
    finally:
        runtime.close()


def _scope(method: str, path: str, headers: dict[str, str]) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path,
            "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}


def test_other_paths_go_on_to_the_app() -> None:
    assert feed_route("/feeds/all.ics") == ("all", "/feeds/all.ics")
    assert feed_route("/feeds/summits/a.ics") == ("summits/a", "/feeds/{kind}/{ident}.ics")
    assert feed_route("/feeds/sessions/a/b.ics") == (
        "sessions/a/b", "/feeds/sessions/{summit}/{session}.ics")
    for path in ["/feeds/private/token.ics", "/feeds/all.ics/", "/feeds/summits/.ics",
                 "/feeds/a/b/c.ics", "/feeds/all", "/", "/feeds/summits//x.ics"]:
        assert feed_route(path) is None, path


def test_unknown_feeds_and_first_builds_are_left_to_the_app(tmp_path: Path) -> None:
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        runtime.load([ROOT / "schedules"], source="test")
        app = front = serving_app(runtime)
        assert isinstance(front, FeedAnswers)
        status, headers, body = call(app, "GET", "/feeds/summits/nowhere.ics", {})
        assert status == 404 and b'"error"' in body
        assert call(app, "GET", "/feeds/all.ics", {"Accept-Encoding": "gzip"})[0] == 200
        assert front.answered == 0  # built by the app, off the event loop
    finally:
        runtime.close()


def test_regression_a_304_is_answered_in_front_before_the_bytes_are_made(tmp_path: Path) -> None:
    """A 304 needs neither the feed's bytes nor their gzip form, but the front answered
    only once the bytes asked for were made: a calendar app that always sends
    If-None-Match (and gzip) never had them made, so every one of its polls went through
    FastAPI (about 30 times the cost)."""
    runtime = make_runtime(tmp_path, f"sqlite:///{tmp_path / 'db.sqlite3'}")
    try:
        runtime.load([ROOT / "schedules"], source="test")
        app = front = serving_app(runtime)
        assert isinstance(front, FeedAnswers)
        path = "/feeds/summits/astana-2024.ics"
        _, first, _ = call(app, "HEAD", path, {})  # built, not gzipped
        assert not runtime.feeds.cached("summits/astana-2024").made(True)
        headers = {"If-None-Match": first["etag"], "Accept-Encoding": "gzip"}
        answered = front.answered
        fast = call(app, "GET", path, headers)
        assert fast[0] == 304 and front.answered == answered + 1
        assert undated(fast) == undated(call(front.app, "GET", path, headers))
        assert not runtime.feeds.cached("summits/astana-2024").made(True)  # still not needed
    finally:
        runtime.close()
