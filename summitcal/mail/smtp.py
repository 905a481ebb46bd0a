"""The SMTP transport: one connection, opened on first use and reused for every message.

A connection that the server dropped (an idle timeout, a 421 "closing", a reset) is
noticed on the next send: when nothing of the message reached the server yet (the
failure came before DATA) it is sent once more on a fresh connection, otherwise the send
fails with ``TemporaryFailure`` and the outbox retries later. So a message is never
submitted twice by this class, and one the server may have taken is never re-sent here.

``send_many`` sends a batch in order on the connection. When the server offers
PIPELINING (RFC 2920; Postfix, Exim, Gmail do) each message then costs one round trip
instead of four: its content and final "." go in one write with the next message's MAIL,
RCPT and DATA, and the replies are read in order. A refused sender or recipient costs a
RSET; DATA accepted after a refused recipient gets the lone "." RFC 2920 3.1 asks for.

One instance holds one connection and serialises its callers with a lock; run several
instances (one per delivery thread) for parallel connections.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any, Self

from summitcal.mail.transport import (
    DeliveryError,
    PermanentFailure,
    RawEmail,
    RecipientRefused,
    TemporaryFailure,
    send_each,
)

SECURITY = ("none", "starttls", "tls")


class _Dropped(Exception):
    """Internal: the connection is gone; ``before_data`` if the message never reached DATA."""

    def __init__(self, failure: DeliveryError, before_data: bool) -> None:
        super().__init__(str(failure))
        self.failure = failure
        self.before_data = before_data


class _Tracking(smtplib.SMTP):
    """smtplib.SMTP remembering which commands a send issued (was DATA reached?)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.commands: list[str] = []
        super().__init__(*args, **kwargs)

    def putcmd(self, cmd: str, args: str = "") -> None:
        self.commands.append(cmd.lower())
        super().putcmd(cmd, args)


class _Plain(_Tracking):
    pass


class _Tls(_Tracking, smtplib.SMTP_SSL):
    pass


class SmtpTransport:
    """Sends over SMTP with ``security`` none, starttls or tls (implicit TLS, port 465).

    ``username`` (with ``password``) logs in after EHLO (and STARTTLS). ``timeout``, in
    seconds, bounds connecting and every command. ``ssl_context`` defaults to the system's
    trust store with hostname checking.
    """

    def __init__(
        self,
        host: str,
        port: int,
        security: str = "none",
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        *,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        if security not in SECURITY:
            raise ValueError(f"SMTP security {security!r}: expected one of {', '.join(SECURITY)}")
        self.host, self.port, self.security = host, port, security
        self.username, self.password, self.timeout = username, password, timeout
        self._ssl_context = ssl_context
        self._local_hostname = local_hostname
        self._smtp: _Tracking | None = None
        self._lock = threading.Lock()
        #: How many connections this transport has opened (for logs and metrics).
        self.connections = 0

    def send(self, email: RawEmail) -> None:
        """Deliver ``email`` or raise ``TemporaryFailure``/``PermanentFailure``. A message
        whose envelope is not ASCII goes with SMTPUTF8 (RFC 6531), which the server must
        offer (else ``PermanentFailure``)."""
        with self._lock:
            self._submit_again_if_idle(email)

    def send_many(self, emails: Sequence[RawEmail]) -> list[DeliveryError | None]:
        """Deliver ``emails`` in order: an outcome per message, None when the server took
        it, else the ``TemporaryFailure``/``PermanentFailure`` that ``send`` would raise.
        Pipelined when the server offers PIPELINING (see the module doc). Once the
        connection is lost, or the server is closing it (421), the messages after the one
        in flight are not tried: each gets a ``TemporaryFailure`` (the code 421 or none)."""
        with self._lock:
            reused = self._smtp is not None
            try:
                smtp = self._open()
            except TemporaryFailure as failure:
                return [failure] * len(emails)
            if not smtp.has_extn("pipelining") or any(len(e.recipients) != 1 for e in emails):
                return self._one_by_one(emails)
            try:
                return self._pipelined(smtp, emails)
            except _Dropped as dropped:
                if not (reused and dropped.before_data):
                    return [dropped.failure] * len(emails)
            # The server had closed the idle connection before it read anything of these
            # messages: once more, on a fresh connection.
            try:
                return self._pipelined(self._open(), emails)
            except _Dropped as again:
                return [again.failure] * len(emails)
            except TemporaryFailure as failure:
                return [failure] * len(emails)

    def _one_by_one(self, emails: Sequence[RawEmail]) -> list[DeliveryError | None]:
        """Each on its own; once the server cannot be reached, the rest are not tried."""
        return send_each(emails, self._submit_again_if_idle, lambda failure: (
            _not_tried(self._where, failure) if _unreachable(failure) else None))

    def _submit_again_if_idle(self, email: RawEmail) -> None:
        reused = self._smtp is not None
        try:
            self._submit(email)
        except _Dropped as dropped:
            if not (reused and dropped.before_data):
                raise dropped.failure from dropped.failure.__cause__
            # The server had closed the connection while it was idle, and nothing of
            # this message reached it: once more, on a fresh connection.
            try:
                self._submit(email)
            except _Dropped as again:
                raise again.failure from again.failure.__cause__

    def _pipelined(self, smtp: _Tracking, emails: Sequence[RawEmail]
                   ) -> list[DeliveryError | None]:
        """One round trip per message (RFC 2920). Raises ``_Dropped`` only when the
        connection is lost, or the server closing it, before any content was sent."""
        outcomes: list[DeliveryError | None] = [None] * len(emails)
        order = []
        for index, email in enumerate(emails):
            if email.smtputf8 and not smtp.has_extn("smtputf8"):
                outcomes[index] = PermanentFailure(
                    f"{self._where}: the server does not offer SMTPUTF8, needed for "
                    f"{', '.join(email.recipients)}")
            else:
                order.append(index)
        if not order:
            return outcomes
        content_sent = False
        position = 0
        try:
            smtp.send(self._envelope(smtp, emails[order[0]]))
            for position, index in enumerate(order):
                email = emails[index]
                following = (self._envelope(smtp, emails[order[position + 1]])
                             if position + 1 < len(order) else b"")
                failure, closing, content = self._transaction(smtp, email, following)
                content_sent = content_sent or content
                outcomes[index] = failure
                if closing is not None:
                    self._drop()
                    if position == 0 and not content_sent:
                        raise _Dropped(closing, before_data=True)
                    for rest in order[position + 1:]:
                        outcomes[rest] = _not_tried(self._where, closing)
                    return outcomes
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            lost = TemporaryFailure(f"{self._where}: connection lost: {exc}")
            lost.__cause__ = exc
            if not content_sent and position == 0:
                raise _Dropped(lost, before_data=True) from exc
            for rest in order[position:]:
                outcomes[rest] = lost
        return outcomes

    def _transaction(self, smtp: _Tracking, email: RawEmail, following: bytes
                     ) -> tuple[DeliveryError | None, DeliveryError | None, bool]:
        """Read the replies to one message's envelope (already sent); send its content
        (with ``following``, the next envelope) or end the failed transaction.
        Returns (this message's failure, the failure that closes the connection or None,
        whether content was sent)."""
        replies: list[tuple[int, bytes]] = []
        while len(replies) < 3 and (not replies or replies[-1][0] != 421):
            replies.append(smtp.getreply())  # after a 421 the server closes: read no more
        if replies[-1][0] == 421:
            stage = ("command refused", f"sender <{email.sender}> refused", "recipient refused",
                     "message refused")[len(replies)]
            closing = _failure(421, replies[-1][1], self._where, stage)
            return closing, closing, False
        mail, rcpt, data = replies
        if mail[0] == 250 and rcpt[0] in (250, 251) and data[0] == 354:
            smtp.send(_dot_stuffed(email.data) + following)
            end = smtp.getreply()
            if end[0] == 250:
                return None, None, True
            failure = _failure(end[0], end[1], self._where, "message refused", refused=True)
            return failure, failure if end[0] == 421 else None, True
        if mail[0] != 250:
            failure = _failure(mail[0], mail[1], self._where,
                               f"sender <{email.sender}> refused")
        elif rcpt[0] not in (250, 251):
            failure = _refused({email.recipients[0]: rcpt}, self._where)
        else:
            failure = _failure(data[0], data[1], self._where, "message refused", refused=True)
        # RFC 2920 3.1: DATA accepted although the transaction failed: a lone ".".
        lone_dot = b".\r\n" if data[0] == 354 else b""
        smtp.send(lone_dot + b"RSET\r\n" + following)
        if lone_dot:
            smtp.getreply()
        smtp.getreply()  # RSET
        return failure, None, False

    def _envelope(self, smtp: _Tracking, email: RawEmail) -> bytes:
        options = f" SIZE={len(email.data)}" if smtp.has_extn("size") else ""
        if email.smtputf8:
            options += " SMTPUTF8 BODY=8BITMIME"
        return (f"MAIL FROM:<{email.sender}>{options}\r\nRCPT TO:<{email.recipients[0]}>\r\n"
                "DATA\r\n").encode()

    def _submit(self, email: RawEmail) -> None:
        smtp = self._open()
        smtp.commands = []
        try:
            options: tuple[str, ...] = ()
            if email.smtputf8:
                if not smtp.has_extn("smtputf8"):
                    raise PermanentFailure(f"{self._where}: the server does not offer "
                                           f"SMTPUTF8, needed for {', '.join(email.recipients)}")
                options = ("SMTPUTF8", "BODY=8BITMIME")
            refused = smtp.sendmail(email.sender, list(email.recipients), email.data, options)
        except smtplib.SMTPRecipientsRefused as exc:
            failure, lost = _refused(exc.recipients, self._where), False
            failure.__cause__ = exc
        except smtplib.SMTPResponseException as exc:
            failure, lost = _failure(exc.smtp_code, exc.smtp_error, self._where, _stage(exc),
                                     isinstance(exc, smtplib.SMTPDataError)), False
            failure.__cause__ = exc
        except smtplib.SMTPServerDisconnected as exc:
            failure, lost = TemporaryFailure(f"{self._where}: connection lost: {exc}"), True
            failure.__cause__ = exc
        except smtplib.SMTPException as exc:
            raise PermanentFailure(f"{self._where}: {exc}") from exc
        except OSError as exc:  # reset, timeout, TLS error while sending
            failure, lost = TemporaryFailure(f"{self._where}: connection lost: {exc}"), True
            failure.__cause__ = exc
        else:
            if refused:
                raise _refused(refused, self._where, partial=True)
            return
        if lost or smtp.sock is None:  # smtplib closes the socket after a 421
            self._drop()
            raise _Dropped(failure, before_data="data" not in smtp.commands)
        raise failure

    def close(self) -> None:
        """QUIT and close the connection, if one is open; the next send reconnects."""
        with self._lock:
            smtp, self._smtp = self._smtp, None
            if smtp is None:
                return
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            finally:
                smtp.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _where(self) -> str:
        return f"SMTP {self.host}:{self.port}"

    def _open(self) -> _Tracking:
        if self._smtp is not None:
            return self._smtp
        name = self._local_hostname or local_hostname()
        try:
            # Constructed with the host, smtplib connects at once (and knows the name that
            # STARTTLS checks the certificate against).
            smtp: _Tracking
            if self.security == "tls":
                smtp = _Tls(self.host, self.port, name, timeout=self.timeout,
                            context=self._context())
            else:
                smtp = _Plain(self.host, self.port, name, timeout=self.timeout)
            try:
                self._start(smtp)
            except BaseException:
                smtp.close()
                raise
        except (smtplib.SMTPException, OSError) as exc:
            raise TemporaryFailure(f"{self._where}: cannot open a session: {_describe(exc)}",
                                   getattr(exc, "smtp_code", None),
                                   _text(getattr(exc, "smtp_error", b""))) from exc
        self._smtp = smtp
        self.connections += 1
        return smtp

    def _start(self, smtp: _Tracking) -> None:
        smtp.ehlo_or_helo_if_needed()
        if self.security == "starttls":
            smtp.starttls(context=self._context())
            smtp.ehlo_or_helo_if_needed()
        if self.username:
            smtp.login(self.username, self.password or "")

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _dot_stuffed(data: bytes) -> bytes:
    """Message content for DATA: a leading "." doubled (RFC 5321 4.5.2), CRLF at the end,
    then the "." line that ends it."""
    data = _LEADING_DOT.sub(b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _unreachable(failure: DeliveryError | None) -> bool:
    """The server cannot be reached or is closing the connection: no use trying more."""
    return isinstance(failure, TemporaryFailure) and failure.code in (None, 421)


def _not_tried(where: str, cause: DeliveryError | None) -> TemporaryFailure:
    code = cause.code if cause is not None else None
    return TemporaryFailure(f"{where}: not tried: {cause}", code,
                            cause.reply if cause is not None else None)


@lru_cache(maxsize=1)
def local_hostname() -> str:
    """The name given in EHLO, looked up once (``getfqdn`` can be slow)."""
    return socket.getfqdn() or "localhost"


def _failure(code: int, reply: bytes | str, where: str, what: str,
             refused: bool = False) -> DeliveryError:
    """``refused``: a permanent failure is the recipient's (``RecipientRefused``)."""
    text = _text(reply)
    kind: type[DeliveryError] = TemporaryFailure
    if 500 <= code < 600:
        kind = RecipientRefused if refused else PermanentFailure
    return kind(f"{where}: {what}: {code} {text}", code, text)


def _refused(recipients: dict[str, tuple[int, bytes]], where: str,
             partial: bool = False) -> DeliveryError:
    """One failure for the refused recipients: temporary if any refusal was 4xx.

    ``partial``: others took the message, so a retry would send it to them again.
    """
    codes = [code for code, _ in recipients.values()]
    text = "; ".join(f"<{rcpt}> {code} {_text(reply)}"
                     for rcpt, (code, reply) in recipients.items())
    first_code, first_reply = next(iter(recipients.values()))
    if partial:
        return PermanentFailure(f"{where}: some recipients refused (the others accepted the "
                                f"message): {text}", first_code, _text(first_reply))
    temporary = any(not 500 <= code < 600 for code in codes)
    kind = TemporaryFailure if temporary else RecipientRefused
    return kind(f"{where}: recipient refused: {text}", first_code, _text(first_reply))


def _stage(exc: smtplib.SMTPResponseException) -> str:
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"sender <{exc.sender}> refused"
    if isinstance(exc, smtplib.SMTPDataError):
        return "message refused"
    return "command refused"


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    return str(exc) or type(exc).__name__


def _text(reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return " ".join(reply.split())
