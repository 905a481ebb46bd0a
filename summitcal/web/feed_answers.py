"""Public feed GETs answered before the web framework: the hot path of the service.

Calendar apps poll feeds (mostly with ``If-None-Match``: a 304), so that answer should
cost little more than the version query it needs. This plain ASGI app sits in front of
the FastAPI app (``web.app.serving_app``; FastAPI's own per-request work, its telemetry
checks among it, cost more than the answer) and answers ``GET``/``HEAD`` of ``/feeds/all.ics``,
``/feeds/{kind}/{ident}.ics`` and ``/feeds/sessions/{summit}/{session}.ics`` itself, with
exactly the status, headers and body the routes of ``feeds.routes`` give (``respond``:
ETag, Last-Modified, Cache-Control, Vary, gzip; ``web.hardening``'s security headers; a
HEAD is the GET without its body, as ``web.head`` makes it), counted in the same
``/metrics`` series under the same route names. The headers of each feed version are
made once.

Anything else goes on to the app: other paths and methods, private feeds (their own
route), a feed name the service does not know (the app answers the error shape), and a
feed that must be built first (the app builds it in its thread pool, off the event loop).
The version query runs on the event loop: one indexed query on a kept connection
(``Store.version``), microseconds on SQLite.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from summitcal.core.metrics import HTTP_REQUESTS
from summitcal.feeds.routes import CALENDAR, Conditions, http_date
from summitcal.feeds.service import FeedResponse, FeedService
from summitcal.web.hardening import PAGE_POLICY, date_header

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

ROUTE_ALL = "/feeds/all.ics"
ROUTE_ONE = "/feeds/{kind}/{ident}.ics"
ROUTE_SESSION = "/feeds/sessions/{summit}/{session}.ics"
#: What ``web.hardening.security_headers`` adds to every answer of these routes.
SECURITY = [(b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"),
            (b"content-security-policy", PAGE_POLICY.encode("latin-1"))]
#: Paths whose feed route is remembered (``feed_route``); all are forgotten past that.
MAX_PATHS = 4096


def feed_route(path: str) -> tuple[str, str] | None:
    """The feed name and route that the public feed routes give ``path`` (as the app
    matches it: percent-decoded), or None for any other path (private feeds included)."""
    if not path.startswith("/feeds/") or not path.endswith(".ics"):
        return None
    parts = path[len("/feeds/"):-len(".ics")].split("/")
    if not all(parts):
        return None
    if parts == ["all"]:
        return "all", ROUTE_ALL
    if len(parts) == 2 and parts[0] != "private":
        return f"{parts[0]}/{parts[1]}", ROUTE_ONE
    if len(parts) == 3 and parts[0] == "sessions":
        return f"sessions/{parts[1]}/{parts[2]}", ROUTE_SESSION
    return None


def headers_of(feed: FeedResponse, compress: bool, max_age: int, now: datetime) -> Headers:
    """The 304 headers of ``feed`` (``feeds.routes.respond``'s, plus the security headers),
    made once per feed version and encoding. Last-Modified is never later than now."""
    key = (compress, max_age)
    made = feed.headers.get(key)
    if made is None or feed.last_modified > now:
        made = [(b"etag", (feed.gzip_etag if compress else feed.etag).encode("latin-1")),
                (b"last-modified", http_date(min(feed.last_modified, now)).encode("latin-1")),
                (b"cache-control", f"public, max-age={max_age}".encode("latin-1")),
                (b"vary", b"Accept-Encoding"), *SECURITY]
        if feed.last_modified <= now:
            feed.headers[key] = made
    return made  # type: ignore[return-value]


class FeedAnswers:
    """The ASGI middleware (see the module doc) in front of ``app``."""

    def __init__(self, app: ASGIApp, service: FeedService, max_age: int) -> None:
        self.app = app
        self.service = service
        self.max_age = max_age
        self.answered = 0  # requests answered here rather than by the app
        self._counted: dict[tuple[str, str, int], Any] = {}  # the metric's children
        self._routes: dict[str, tuple[str, str] | None] = {}  # path → feed_route(path)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return await self.app(scope, receive, send)
        found = self._found(scope)
        if found is None:  # another path, an unknown feed, or one to build first
            return await self.app(scope, receive, send)
        route, feed, now, compress, current = found
        if not current and not feed.made(compress):  # bytes are made off the loop, by the app
            return await self.app(scope, receive, send)
        status = await self._answer(scope["method"], send, feed, compress, now, current)
        self._count(scope["method"], route, status)

    def answer_now(self, scope: dict[str, Any]) -> tuple[int, Headers, bytes] | None:
        """The answer to the GET or HEAD request ``scope`` (an ASGI HTTP scope with its
        method, path and headers) as (status, headers, body), counted as answered, when
        this middleware would answer it with bytes already made: a 304 (empty body), or a
        200 whose body (gzipped or plain, as asked) is made. Else None, and nothing is
        counted. A HEAD's body is empty and its Content-Length the GET's.

        Synchronous, for ``app.http_server``, which writes the answer itself without
        starting an ASGI request cycle (for the polls of calendar apps, and the GETs of
        feeds already built); the same status, headers and metrics as the ASGI path
        (``__call__``)."""
        found = self._found(scope)
        if found is None:
            return None
        route, feed, now, compress, current = found
        if not current and not feed.made(compress):
            return None
        answer = self._response(scope["method"], feed, compress, now, current)
        self._count(scope["method"], route, answer[0])
        return answer

    def _found(self, scope: dict[str, Any]) -> tuple[str, FeedResponse, datetime, bool,
                                                     bool] | None:
        """For a public feed whose response for the current version is at hand: its
        route, the response, now, whether it is sent gzipped, and whether the client's
        copy is current (a 304), both as the feed routes decide them
        (``feeds.routes.Conditions``); None for anything else."""
        path = scope["path"]
        try:
            found = self._routes[path]
        except KeyError:
            found = feed_route(path)
            if len(self._routes) >= MAX_PATHS:
                self._routes.clear()
            self._routes[path] = found
        if found is None:
            return None
        now = self.service.clock()
        try:
            feed = self.service.cached(found[0], now)
        except Exception:  # the database is gone: the app answers with its error shape
            return None
        if feed is None:
            return None
        asked = Conditions.of(scope["headers"])
        return found[1], feed, now, asked.gzip, asked.fresh(feed, now)

    def _count(self, method: str, route: str, status: int) -> None:
        self.answered += 1
        key = (method, route, status)
        counter = self._counted.get(key)
        if counter is None:
            counter = self._counted[key] = HTTP_REQUESTS.labels(method, route, str(status))
        counter.inc()

    async def _answer(self, method: str, send: Any, feed: FeedResponse,
                      compress: bool, now: datetime, current: bool) -> int:
        status, headers, body = self._response(method, feed, compress, now, current)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
        return status

    def _response(self, method: str, feed: FeedResponse, compress: bool, now: datetime,
                  current: bool) -> tuple[int, Headers, bytes]:
        """(status, headers, body) of the answer: a 304 when the client's copy is
        ``current``, else a 200 with the feed's bytes (none for a HEAD)."""
        headers = [(b"date", date_header()), *headers_of(feed, compress, self.max_age, now)]
        if current:
            return 304, headers, b""
        body = feed.gzipped if compress else feed.body
        extra = [(b"content-encoding", b"gzip")] if compress else []
        return 200, [*headers, *extra, (b"content-length", str(len(body)).encode("latin-1")),
                     (b"content-type", CALENDAR_TYPE)], b"" if method == "HEAD" else body


CALENDAR_TYPE = CALENDAR.encode("latin-1")
