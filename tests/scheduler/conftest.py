"""A real SMTP server on loopback (aiosmtpd), with knobs to make it misbehave.

``smtp_server`` is a running server on a free port whose ``handler`` records every
accepted message, can offer PIPELINING (``pipelining``; aiosmtpd reads commands from a
stream, so it takes pipelined ones, but does not say so itself; ``pipelined`` then says
for each MAIL whether the client had sent its RCPT and DATA without waiting), and can be
told to refuse: ``refuse_connections`` (421 greetings),
``mail_replies`` (replies to the next MAIL commands, e.g. 421 then closing; "250 OK" takes it),
``rcpt_replies`` (per recipient), ``data_replies`` and ``drop_after_data``. ``connections``
counts client connections (not the controller's own start-up probe).
``make_smtp_server(**options)`` starts more, e.g. with STARTTLS, implicit TLS or AUTH;
``tls_files`` makes a self-signed certificate for 127.0.0.1 with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.tools import require_module


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool


@dataclass
class Recorder:
    """The aiosmtpd handler: stores what it accepts, answers what it is told to."""

    messages: list[Delivered] = field(default_factory=list)
    mail_replies: list[str] = field(default_factory=list)
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    drop_after_data: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)
    pipelining: bool = False
    pipelined: list[bool] = field(default_factory=list)

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, mail_options: list[str]) -> str:
        self.pipelined.append(b"DATA\r\n" in bytes(server._reader._buffer))
        reply = self.mail_replies.pop(0) if self.mail_replies else "250 OK"
        if not reply.startswith("250"):
            if reply.startswith("421"):
                _close_soon(server)
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_replies:
            return self.data_replies.pop(0)
        content = envelope.original_content or b""
        self.messages.append(Delivered(str(envelope.mail_from), list(envelope.rcpt_tos),
                                       content, session.ssl is not None))
        if self.drop_after_data > 0:
            # Took the message but the connection dies before the client hears "250".
            self.drop_after_data -= 1
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
        return "250 2.0.0 Accepted"


def _close_soon(server: SMTP) -> None:
    transport = server.transport
    if transport is not None:
        server.loop.call_soon(transport.close)


class _Busy(asyncio.Protocol):
    """A connection answered with 421 at once, as an overloaded server does."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(b"421 4.3.2 Too busy, try again later\r\n")
        transport.close()


class SmtpServer(Controller):
    """aiosmtpd's threaded controller on 127.0.0.1, port 0 (a free port)."""

    handler: Recorder

    def __init__(self, handler: Recorder, **options: Any) -> None:
        options.setdefault("server_hostname", "mx.test")
        super().__init__(handler, hostname="127.0.0.1", port=0, **options)
        self.connections = 0
        self.refuse_connections = 0
        self._live: list[SMTP] = []

    def _trigger_server(self) -> None:
        # Port 0 picked a free port: connect the start-up probe to it, then count afresh.
        assert self.server is not None
        sockets = self.server.sockets  # type: ignore[attr-defined]
        self.port = sockets[0].getsockname()[1]
        super()._trigger_server()

    def start(self) -> None:
        super().start()
        self.connections = 0

    def factory(self) -> Any:
        self.connections += 1
        if self.refuse_connections > 0:
            self.refuse_connections -= 1
            return _Busy()
        server = SMTP(self.handler, **self.SMTP_kwargs)
        self._live.append(server)
        return server

    def drop_connections(self, reply: str | None = None) -> None:
        """Close every open connection from the server side (after ``reply``, if given)."""
        done = threading.Event()

        def drop() -> None:
            for server in self._live:
                if server.transport is not None:
                    if reply is not None:
                        server._writer.write(reply.encode("ascii") + b"\r\n")
                    server.transport.close()
            done.set()

        self.loop.call_soon_threadsafe(drop)
        assert done.wait(5)


@pytest.fixture
def make_smtp_server() -> Iterator[Callable[..., SmtpServer]]:
    started: list[SmtpServer] = []

    def make(**options: Any) -> SmtpServer:
        server = SmtpServer(Recorder(), **options)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def smtp_server(make_smtp_server: Callable[..., SmtpServer]) -> SmtpServer:
    return make_smtp_server()


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 and localhost, made for this test run."""
    require_module("cryptography", "makes the test certificate; pip install -e '.[test]'")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "summitcal test SMTP")])
    now = dt.datetime.now(dt.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=False,
            content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return files


def authenticator(accounts: dict[str, str]) -> Callable[..., AuthResult]:
    """An aiosmtpd authenticator accepting ``accounts`` (login → password)."""

    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
              auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        handler = server.event_handler
        assert isinstance(handler, Recorder)
        handler.logins.append((mechanism, login))
        return AuthResult(success=accounts.get(login) == password, handled=False)

    return check
