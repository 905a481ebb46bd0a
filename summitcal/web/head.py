"""HEAD for every GET route, in one place.

RFC 9110 (9.3.2): HEAD is GET without the content, and a server SHOULD send the same
header fields. FastAPI registers a route for exactly the methods it is given, so every
``@routes.get`` page answered HEAD with 405 (``/``, ``/summits/{id}``, ``/changes``,
``/changes.atom``, the subscription pages) unless someone remembered to add HEAD by hand.
This wrapper answers a HEAD request by running the app as for GET and sending the
status and headers (``Content-Length``, ``ETag``, ``Last-Modified`` included) without
the body. A path without a GET route still answers HEAD with 405, as it answers GET.

For the same reason a 405 listed the route's methods without HEAD (``Allow: GET``);
RFC 9110 (15.5.6) has the Allow field list the methods the resource supports, so HEAD is
added wherever GET is listed.
"""

from __future__ import annotations

from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


class HeadAsGet:
    """ASGI middleware: HEAD → the GET response without its body."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] != "HEAD":

            async def allowing_head(message: Message) -> None:
                if message["type"] == "http.response.start" and message["status"] == 405:
                    message = {**message, "headers": with_head(message.get("headers", []))}
                await send(message)

            await self.app(scope, receive, allowing_head)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        as_get = {**scope, "method": "GET"}
        try:
            await self.app(as_get, receive, headers_only)
        finally:
            if "route" in as_get:  # the route matched, for the metrics outside
                scope["route"] = as_get["route"]


def with_head(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """``headers`` (an ASGI response's) with HEAD added to an Allow field that lists GET
    without it."""
    found = []
    for name, value in headers:
        if name.lower() == b"allow":
            methods = [method.strip() for method in value.split(b",")]
            if b"GET" in methods and b"HEAD" not in methods:
                value = b", ".join([*methods, b"HEAD"])
        found.append((name, value))
    return found
