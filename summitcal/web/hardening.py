"""What every answer carries to keep browsers safe, and the answers to paths no route has.

* Headers on every response (a route's own value stands): ``X-Content-Type-Options:
  nosniff`` (a feed or JSON error is never run as a script or page), ``X-Frame-Options:
  DENY`` and CSP ``frame-ancestors 'none'`` (no page inside another site's frame:
  clickjacking of the sign-up and manage buttons), and a ``Content-Security-Policy``
  allowing only the site's own scripts, styles and form targets — the pages have no
  inline script or style (W3C CSP Level 3). ``/docs`` (Swagger UI, served from here by
  ``web.docs``) gets the policy that page needs: its inline set-up script and inline
  styles, and still nothing from another origin.
* A path with or without a trailing slash that a route has the other way is redirected
  (308) to ``service.base_url`` plus that path — never to the request's ``Host`` header,
  which anybody can set (the answer may be cached and shown to others).
* Any other unknown path is a 404: an HTML page for people, the JSON error shape under
  ``/api/`` and for the service's machine paths.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from email.utils import formatdate
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import RedirectResponse, Response
from starlette.routing import Match
from starlette.types import Receive, Send

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Any, Any], Awaitable[None]]

PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
               "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
               "base-uri 'none'; object-src 'none'")
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; "
               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
DOCS_PATHS = frozenset({"/docs", "/docs/oauth2-redirect"})
#: Paths whose 404 stays JSON: the API, feeds and the service's machine endpoints.
MACHINE_PREFIXES = ("/api/", "/feeds/", "/static/", "/openapi.json", "/healthz", "/metrics")


_date_cache: tuple[int, bytes] = (0, b"")


def date_header() -> bytes:
    """The ``Date`` of a response made now (RFC 9110 §6.6.1, IMF-fixdate), formatted once
    per second. The app writes it rather than uvicorn, whose Date is refreshed by its
    main loop about once a second and so can lag the clock: a feed changed within that
    second would then show a Last-Modified later than the Date, which §8.8.2.1 forbids."""
    global _date_cache
    second = int(time.time())
    if _date_cache[0] != second:
        _date_cache = (second, formatdate(second, usegmt=True).encode("latin-1"))
    return _date_cache[1]


def security_headers(app: ASGIApp) -> ASGIApp:
    """A plain ASGI middleware adding the headers above to every HTTP response, and its
    ``Date`` (``date_header``)."""

    async def middleware(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope["path"] in DOCS_PATHS else PAGE_POLICY

        async def add_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("content-security-policy", policy)
                headers.setdefault("date", date_header().decode("latin-1"))
            await send(message)

        await app(scope, receive, add_headers)

    return middleware


def wants_page(path: str) -> bool:
    """Whether an error for ``path`` is answered as an HTML page (else the JSON shape)."""
    return not path.startswith(MACHINE_PREFIXES)


def install_unknown_paths(app: FastAPI, base_url: str) -> None:
    """Replace Starlette's slash redirect (built from the ``Host`` header) with one built
    from ``base_url``; other unmatched paths raise the 404 the error handlers answer."""
    router = app.router
    router.redirect_slashes = False

    async def unmatched(scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            target = _slash_twin(router.routes, scope)
            if target is not None:
                query = scope.get("query_string", b"").decode("latin-1")
                location = base_url + target + (f"?{query}" if query else "")
                if any(ord(c) < 0x21 or ord(c) > 0x7e for c in location):
                    raise HTTPException(status_code=404)
                response: Response = RedirectResponse(location, status_code=308)
                await response(scope, receive, send)
                return
        raise HTTPException(status_code=404)

    router.default = unmatched


def _slash_twin(routes: list[Any], scope: MutableMapping[str, Any]) -> str | None:
    """The request's path as sent (percent-encoded), with the trailing slash toggled, when
    a route matches that; else None."""
    path = scope["path"]
    if path == "/" or not path.rstrip("/"):
        return None
    twin = path.rstrip("/") if path.endswith("/") else path + "/"
    changed = {**scope, "path": twin}
    if not any(route.matches(changed)[0] is not Match.NONE for route in routes):
        return None
    raw = scope.get("raw_path") or path.encode("utf-8")
    raw_text = raw.decode("latin-1").partition("?")[0]
    return raw_text.rstrip("/") if raw_text.endswith("/") else raw_text + "/"

