"""Feed GETs answered by the HTTP protocol itself (``app.http_server``), over a real
``summitcal serve`` and raw sockets: the 304 of a poll, and the 200 of a feed whose bytes
are made, written at once are byte for byte what uvicorn's ASGI cycle writes (Date
aside), keep HTTP/1.1's framing (keep-alive, ``connection: close``, HTTP/1.0, pipelined
requests answered in order), are counted in ``/metrics``, and leave everything else to
the app (other paths, feeds still to build, a transport over its high-water mark)."""

from __future__ import annotations

import asyncio
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from uvicorn.server import ServerState

from summitcal.app.http_server import protocol
from summitcal.web.app import serving_app
from tests.conftest import sqlite_url
from tests.serving import Server
from tests.test_restart import write_config
from tests.web.test_http import ROOT, make_runtime

FEED = "/feeds/summits/astana-2024.ics"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("polls")
    with Server(write_config(folder, sqlite_url(folder))) as running:
        yield running


def exchange(server: Server, raw: bytes, answers: int = 1, timeout: float = 10) -> bytes:
    """Send ``raw`` on one connection; what came back once ``answers`` responses (or the
    connection's end) arrived."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=timeout) as sock:
        sock.sendall(raw)
        return read_answers(sock, answers)


def read_answers(sock: socket.socket, answers: int) -> bytes:
    got = b""
    while len(split(got)) < answers:
        chunk = sock.recv(65536)
        if not chunk:
            break
        got += chunk
    return got


def split(raw: bytes) -> list[tuple[bytes, bytes]]:
    """Complete responses in ``raw`` as (head, body); bodies framed by Content-Length."""
    found = []
    while b"\r\n\r\n" in raw:
        head, rest = raw.split(b"\r\n\r\n", 1)
        length = re.search(rb"(?im)^content-length: (\d+)", head)
        size = int(length.group(1)) if length else 0
        if len(rest) < size:
            break
        found.append((head, rest[:size]))
        raw = rest[size:]
    return found


def request(path: str, *headers: str, method: str = "GET", version: str = "1.1") -> bytes:
    lines = [f"{method} {path} HTTP/{version}", "Host: summitcal.test", *headers, "", ""]
    return "\r\n".join(lines).encode("latin-1")


def etag(server: Server, path: str = FEED) -> str:
    return server.get(path)[1]["etag"]


def undated(head: bytes) -> bytes:
    return re.sub(rb"(?im)^date: [^\r]*\r\n", b"", head + b"\r\n")


def test_a_poll_answered_at_once_equals_the_asgi_answer(server: Server) -> None:
    tag = etag(server)
    for extra in ([f"If-None-Match: {tag}"], [f"If-None-Match: {tag}", "Accept-Encoding: gzip"],
                  ["If-Modified-Since: " + server.get(FEED)[1]["last-modified"]]):
        (fast, body), = split(exchange(server, request(FEED, *extra)))
        # A body (even an empty one) is uvicorn's to read: this request takes the ASGI way.
        (slow, _), = split(exchange(server, request(FEED, *extra, "Content-Length: 0")))
        assert fast.startswith(b"HTTP/1.1 304 Not Modified\r\n"), fast
        assert undated(fast) == undated(slow) and body == b"", (extra, fast, slow)
        assert len(re.findall(rb"(?im)^date: ", fast)) == 1


def test_a_feed_sent_at_once_equals_the_asgi_answer(server: Server) -> None:
    server.get(FEED)  # both forms made: what is not made yet is the app's to make
    server.get(FEED, {"Accept-Encoding": "gzip"})
    for extra in ([], ["Accept-Encoding: gzip"],
                  ['If-None-Match: "other"', "Accept-Encoding: gzip"]):
        (fast, body), = split(exchange(server, request(FEED, *extra)))
        # A body (even an empty one) is uvicorn's to read: this request takes the ASGI way.
        (slow, asgi_body), = split(exchange(server, request(FEED, *extra, "Content-Length: 0")))
        assert fast.startswith(b"HTTP/1.1 200 OK\r\n"), fast
        assert undated(fast) == undated(slow), (extra, fast, slow)
        assert body == asgi_body and body.startswith(
            b"\x1f\x8b" if "Accept-Encoding: gzip" in extra else b"BEGIN:VCALENDAR")
        assert len(re.findall(rb"(?im)^date: ", fast)) == 1
        # A HEAD: the same head, and no body.
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request(FEED, *extra, method="HEAD") + request("/healthz"))
            got = b""
            while got.count(b"HTTP/1.1 ") < 2 or not got.endswith(b"}"):
                got += sock.recv(65536)
        head, _, after = got.partition(b"\r\n\r\n")
        assert undated(head) == undated(fast) and after.startswith(b"HTTP/1.1 200 OK"), got


def test_polls_keep_the_connection_and_its_order(server: Server) -> None:
    tag = etag(server)
    poll = request(FEED, f"If-None-Match: {tag}")
    pipelined = poll + request("/healthz") + poll + request(FEED) + poll
    answers = split(exchange(server, pipelined, answers=5))
    assert [head.split(b"\r\n", 1)[0] for head, _ in answers] == [
        b"HTTP/1.1 304 Not Modified", b"HTTP/1.1 200 OK", b"HTTP/1.1 304 Not Modified",
        b"HTTP/1.1 200 OK", b"HTTP/1.1 304 Not Modified"]
    assert answers[3][1].startswith(b"BEGIN:VCALENDAR")
    # One poll after another on a kept connection, each answered.
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(poll)
            (head, _), = split(read_answers(sock, 1))
            assert head.startswith(b"HTTP/1.1 304") and b"connection: close" not in head


@pytest.mark.parametrize("raw", [
    request(FEED, "If-None-Match: {tag}", "Connection: close"),
    request(FEED, "If-None-Match: {tag}", version="1.0"),
], ids=["connection-close", "http-1.0"])
def test_a_poll_that_ends_its_connection_is_closed_after_the_304(server: Server,
                                                                  raw: bytes) -> None:
    raw = raw.replace(b"{tag}", etag(server).encode())
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(raw)
        got = b""
        while chunk := sock.recv(65536):  # until the server closes
            got += chunk
    (head, _), = split(got)
    assert head.startswith(b"HTTP/1.1 304") and b"\r\nconnection: close" in head, head


def test_what_is_not_a_fresh_poll_goes_on_to_the_app(server: Server) -> None:
    tag = etag(server)
    cases = {
        request(FEED, 'If-None-Match: "other"'): b"HTTP/1.1 200",
        request("/feeds/summits/nowhere.ics", f"If-None-Match: {tag}"): b"HTTP/1.1 404",
        request(FEED, f"If-None-Match: {tag}", method="POST"): b"HTTP/1.1 405",
        request("/healthz", f"If-None-Match: {tag}"): b"HTTP/1.1 200",
    }
    for raw, status in cases.items():
        (head, _), = split(exchange(server, raw))
        assert head.startswith(status), (raw, head)


def test_polls_answered_at_once_are_counted(server: Server) -> None:
    series = re.compile(r'^summitcal_http_requests_total\{method="GET",'
                        r'route="/feeds/\{kind\}/\{ident\}.ics",status="304"\} ([0-9.e+]+)$',
                        re.M)

    def counted() -> float:
        found = series.search(server.get("/metrics")[2].decode())
        return float(found.group(1)) if found else 0.0

    tag = etag(server)
    before = counted()
    exchange(server, request(FEED, f"If-None-Match: {tag}") * 3, answers=3)
    assert counted() == before + 3


def test_a_kept_connection_after_a_poll_still_has_a_header_deadline(tmp_path: Path) -> None:
    config = write_config(tmp_path, sqlite_url(tmp_path))
    config.write_text(config.read_text() + '[http]\nheader_timeout = "PT1S"\n')
    with Server(config) as server:
        tag = etag(server)
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request(FEED, f"If-None-Match: {tag}"))
            assert split(read_answers(sock, 1))[0][0].startswith(b"HTTP/1.1 304")
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # and no more
            began = time.monotonic()
            assert sock.recv(1) == b""  # closed by the server
        assert 0.9 <= time.monotonic() - began < 5


class Transport(asyncio.Transport):
    """What a protocol writes, kept (the socket side of ``asyncio.Transport``)."""

    def __init__(self) -> None:
        super().__init__()
        self.written = b""
        self.closed = False

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 5000)}.get(
            name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += bytes(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def test_a_poll_is_answered_without_an_asgi_request_cycle(tmp_path: Path) -> None:
    """The point of the protocol's own 304: no ASGI cycle, no task. The 304 is written
    before the event loop runs at all, while any other request waits for its task."""
    runtime = make_runtime(tmp_path, sqlite_url(tmp_path))
    loop = asyncio.new_event_loop()
    try:
        runtime.load([ROOT / "schedules"], source="test")
        runtime.feeds.get("summits/astana-2024")
        tag = runtime.feeds.cached("summits/astana-2024").etag
        config = uvicorn.Config(serving_app(runtime), http=protocol(10), access_log=False,
                                proxy_headers=False, server_header=False, date_header=False)
        config.load()
        state = ServerState()
        made = config.http_protocol_class(config=config, server_state=state, app_state={},
                                          _loop=loop)
        transport = Transport()
        made.connection_made(transport)
        made.data_received(request(FEED, f"If-None-Match: {tag}") * 2)
        (first, _), (second, _) = split(transport.written)
        assert first.startswith(b"HTTP/1.1 304") and second.startswith(b"HTTP/1.1 304")
        assert not state.tasks and made.cycle is None and state.total_requests == 2
        # A feed whose gzip form is made is sent at once too, but not while the
        # transport is over its high-water mark: uvicorn's cycle waits for it to drain.
        runtime.feeds.cached("summits/astana-2024").gzipped  # noqa: B018  (made now)
        transport.written = b""
        made.data_received(request(FEED, "Accept-Encoding: gzip"))
        (head, body), = split(transport.written)
        assert head.startswith(b"HTTP/1.1 200 OK") and body.startswith(b"\x1f\x8b")
        assert not state.tasks and state.total_requests == 3
        made.pause_writing()
        made.data_received(request(FEED, "Accept-Encoding: gzip"))
        assert len(state.tasks) == 1 and len(split(transport.written)) == 1  # not yet
        made.connection_lost(None)
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.close()
        runtime.close()
