"""The listening socket and the HTTP protocol ``serve`` runs uvicorn with.

``listen`` binds the address before anything else starts, so a busy port or a bad host
stops the start-up at once with one line, before the schedules are loaded or any mail
is sent. uvicorn then serves on that socket.

uvicorn's protocols time out idle keep-alive connections but not a request whose
headers arrive slowly: a client sending a byte now and then holds a connection (and its
memory) for ever, and a few hundred of them exhaust the server ("slowloris").
``protocol(header_timeout)`` is uvicorn's httptools protocol (llhttp, the parser of
Node.js: several times h11's speed per request) with a deadline for every request's
headers, counted from the connection's start or from the end of the previous response;
``HeaderDeadlineProtocol`` is the same on h11.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import urllib.parse
from typing import Any

import httptools
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from summitcal.app.preflight import StartupError

log = logging.getLogger("summitcal.http")
BACKLOG = 2048
#: Request headers that an answer written at once never answers: a request body, an upgrade.
_BODY_OR_UPGRADE = frozenset({b"content-length", b"transfer-encoding", b"expect", b"upgrade"})


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host``:``port`` (for ``uvicorn.Server.run``);
    ``StartupError`` with one line when the address cannot be used."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (OSError, UnicodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise StartupError([f"cannot listen on {where}: {reason}"]) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        raise StartupError([f"cannot listen on {where}: {error.strerror or error}"]) from None
    sock.setblocking(False)
    return sock


class _HeaderDeadline:
    """The deadline for request headers, on top of a uvicorn HTTP protocol (which calls
    ``_headers_done`` once a request's headers are complete).

    One timer per connection, not one per request: a request only notes when its wait
    for headers began (``_waiting_since``; None while a request is being answered), and
    the timer, when it fires, closes the connection if that wait is too long, or sets
    itself again for the time left."""

    header_timeout: float = 10.0
    _deadline: asyncio.TimerHandle | None = None
    _waiting_since: float | None = None
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: Any

    def connection_made(self, transport: asyncio.Transport) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)  # type: ignore[misc]

    def on_response_complete(self) -> None:
        self._arm()  # first: the call below may start a pipelined request (and disarm)
        super().on_response_complete()  # type: ignore[misc]

    def _headers_done(self) -> None:
        self._waiting_since = None

    def _arm(self) -> None:
        self._waiting_since = self.loop.time()
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _too_slow(self) -> None:
        self._deadline = None
        since = self._waiting_since
        if since is None:  # a request is being answered: its response will arm again
            return
        left = since + self.header_timeout - self.loop.time()
        if left > 0:
            self._deadline = self.loop.call_later(left, self._too_slow)
            return
        busy = self.cycle is not None and not self.cycle.response_complete
        if not busy and not self.transport.is_closing():
            log.info("closing a connection from %s: no complete request headers in %g s",
                     self.client, self.header_timeout)
            self.transport.close()


class HeaderDeadlineProtocol(_HeaderDeadline, H11Protocol):  # type: ignore[misc]
    """h11's protocol, closing a connection whose request headers are not complete
    ``header_timeout`` seconds after it opened or after its previous response."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_cycle: object = None

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not self._last_cycle:  # a request's headers are complete
            self._last_cycle = self.cycle
            self._headers_done()


class HttpToolsDeadlineProtocol(_HeaderDeadline, HttpToolsProtocol):  # type: ignore[misc]
    """httptools' protocol with the same deadline for request headers, which writes the
    answers to feed GETs itself when they are at hand.

    Calendar apps poll feeds with If-None-Match or If-Modified-Since, and most polls
    find nothing new; a feed already built is sent as it is. uvicorn answers each request
    through an ASGI request cycle (an ``asyncio.Event``, a task, header checks as the
    response is sent), which costs several times a 304, and a good part of sending a
    large gzipped feed. When the app has ``answer_now`` (``web.feed_answers``) and the
    request is a GET or HEAD without a body, on a connection with no response in progress
    and whose transport is not over its high-water mark, the answer (a 304, or a 200
    whose bytes are made) comes from that method and is written here, with the same
    framing uvicorn gives (status line, its default headers, ``connection: close`` when
    the connection ends). Anything else, and any answer the app would not give at once,
    takes uvicorn's way, which waits for a full transport to drain before sending. With
    uvicorn's access log on, every request takes uvicorn's way, so that each is logged."""

    _answered = False  # the current request was answered in on_headers_complete

    def on_headers_complete(self) -> None:
        self._headers_done()
        if not self._answer_at_once():
            super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if not self._answered:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._answered:
            self._answered = False
            return
        super().on_message_complete()

    def _answer_at_once(self) -> bool:
        """Write the answer to this request, if it is one the app gives at once (see the
        class doc); whether it was written."""
        answer = getattr(self.app, "answer_now", None)
        if answer is None or self.access_log or self.flow.write_paused or (
                self.cycle is not None and not self.cycle.response_complete):
            return False
        for name, _ in self.headers:
            if name in _BODY_OR_UPGRADE:
                return False
        method = self.parser.get_method()
        if method not in (b"GET", b"HEAD") or self.parser.should_upgrade():
            return False
        http_version = self.parser.get_http_version()
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii")
        scope = self.scope
        scope["method"] = method.decode("ascii")
        if http_version != "1.1":
            scope["http_version"] = http_version
        scope["path"] = self.root_path + (urllib.parse.unquote(path) if "%" in path else path)
        scope["raw_path"] = self.root_path.encode("ascii") + url.path
        scope["query_string"] = url.query or b""
        found = answer(scope)
        if found is None:
            return False
        status, headers, body = found
        keep_alive = http_version != "1.0" and self.parser.should_keep_alive()
        out = [STATUS_LINE[status]]
        for name, value in (*self.server_state.default_headers, *headers):
            out += (name, b": ", value, b"\r\n")
        if not keep_alive:
            out.append(b"connection: close\r\n")
        out.append(b"\r\n")
        if body:  # one write of both, the body not copied into a joined buffer
            self.transport.writelines((b"".join(out), body))
        else:
            self.transport.write(b"".join(out))
        self._answered = True
        if not keep_alive:
            self.server_state.total_requests += 1
            self.transport.close()
        else:
            self.on_response_complete()
        return True


def protocol(header_timeout: float) -> type[HttpToolsDeadlineProtocol]:
    """``HttpToolsDeadlineProtocol`` with ``header_timeout`` (seconds), for uvicorn's
    ``http``.

    The class is a module attribute named after its timeout (``…_10000ms``), so it pickles
    by name into the processes of ``summitcal web --workers N`` (``__getattr__`` makes it
    again there)."""
    name = f"HeaderDeadlineProtocol_{round(header_timeout * 1000)}ms"
    made = globals().get(name)
    if made is None:
        made = type(name, (HttpToolsDeadlineProtocol,), {"header_timeout": header_timeout,
                                                         "__module__": __name__,
                                                         "__qualname__": name})
        globals()[name] = made
    return made


def __getattr__(name: str) -> type[HttpToolsDeadlineProtocol]:
    prefix, suffix = "HeaderDeadlineProtocol_", "ms"
    if name.startswith(prefix) and name.endswith(suffix) and \
            name[len(prefix):-len(suffix)].isdigit():
        return protocol(int(name[len(prefix):-len(suffix)]) / 1000)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
