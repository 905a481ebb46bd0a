"""Sending written messages: to files, or over one reused SMTP connection.

Every transport has ``send(email)`` for a ``RawEmail`` (the envelope,
the Message-ID and the bytes), which returns once the message is delivered (written, or
accepted by the SMTP server) and otherwise raises

* ``TemporaryFailure``: worth retrying later (connection refused, reset or timed out,
  a 4xx reply, 421 at connect or mid-session, a failed login or TLS handshake);
* ``PermanentFailure``: this message will never go (a 5xx reply to its sender,
  recipient or content); the connection stays usable for the next one. A refusal of
  the recipient (5xx to RCPT or DATA) is a ``RecipientRefused``: a bounce.

Both carry the server's reply in their message and ``code``/``reply`` attributes.
Messages have one recipient each (the outbox has one row per message and recipient).
``FileTransport`` is here, the SMTP one in ``mail.smtp``; ``mail.configured.transport_from_config``
picks one as ``[mail]`` says.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Self

from summitcal.core.errors import SummitcalError
from summitcal.core.files import sync_directory


@dataclass(frozen=True, slots=True)
class RawEmail:
    """A message ready to send: ``sender``/``recipients`` are the SMTP envelope
    (MAIL FROM, RCPT TO), ``message_id`` its Message-ID (with the angle brackets) and
    ``data`` the whole message, CRLF line ends."""

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    data: bytes

    @property
    def smtputf8(self) -> bool:
        """An envelope address is not ASCII: the message needs SMTPUTF8 (RFC 6531), and
        its address headers are UTF-8 (RFC 6532)."""
        return not (self.sender.isascii() and all(r.isascii() for r in self.recipients))


class DeliveryError(SummitcalError):
    """A message that was not delivered; ``code``/``reply`` are the server's, if any."""

    def __init__(self, message: str, code: int | None = None, reply: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply


class TemporaryFailure(DeliveryError):
    """Not delivered this time; sending the same message later may work."""


class PermanentFailure(DeliveryError):
    """This message cannot be delivered (a 5xx for its recipient or content)."""


class RecipientRefused(PermanentFailure):
    """The server refused the recipient for good: a 5xx reply to RCPT TO, or to the
    message's DATA (a one-recipient message: some servers check the mailbox only
    then). A bounce: delivery counts these per address (``mail.bounce_threshold``). A 5xx
    to MAIL FROM (the sender) is not one."""


class Transport(Protocol):
    """Where messages go: ``send`` delivers one or raises ``TemporaryFailure`` or
    ``PermanentFailure``; ``send_many`` delivers several in order and gives an outcome
    per message (None: delivered, else what ``send`` would raise; once the destination
    is unreachable the rest are ``TemporaryFailure`` without trying); ``close`` lets go
    of any connection (the next send reopens)."""

    def send(self, email: RawEmail) -> None: ...

    def send_many(self, emails: Sequence[RawEmail]) -> list[DeliveryError | None]: ...

    def close(self) -> None: ...


def send_each(emails: Sequence[RawEmail], send: Callable[[RawEmail], None],
              give_up: Callable[[DeliveryError], DeliveryError | None]
              ) -> list[DeliveryError | None]:
    """``send(email)`` for each of ``emails`` in order: one outcome each (None: sent, or
    the ``DeliveryError`` raised). After a failure, ``give_up(failure)`` says whether the
    rest are not tried: the outcome to record for the next one (None: go on sending)."""
    outcomes: list[DeliveryError | None] = []
    for email in emails:
        last = outcomes[-1] if outcomes else None
        skipped = give_up(last) if last is not None else None
        if skipped is not None:
            outcomes.append(skipped)
            continue
        try:
            send(email)
            outcomes.append(None)
        except DeliveryError as failure:
            outcomes.append(failure)
    return outcomes


class FileTransport:
    """One ``.eml`` file per message in ``directory``, named after its Message-ID.

    Files are written to a temporary name and renamed into place, so a reader never sees
    half a message; a re-send of the same Message-ID replaces the file.
    """

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)

    def path_for(self, message_id: str) -> Path:
        name = re.sub(r"[^A-Za-z0-9._@+-]", "_", message_id.strip().strip("<>"))[:200]
        if not name or name.startswith("."):
            name = "_" + name
        return self.directory / f"{name}.eml"

    def send(self, email: RawEmail) -> None:
        """Write ``email.data`` as it is (the envelope is not recorded)."""
        self._write(email.message_id, email.data)

    def send_many(self, emails: Sequence[RawEmail]) -> list[DeliveryError | None]:
        """``send`` each; after a failure (the folder cannot be written) the rest are
        not tried."""
        return send_each(emails, self.send,
                         lambda failure: TemporaryFailure(f"not tried: {failure}"))

    def _write(self, message_id: str, data: bytes) -> None:
        target = self.path_for(message_id)
        temporary = None
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd, temporary = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.directory)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, target)
            temporary = None
            sync_directory(self.directory)
        except OSError as exc:
            raise TemporaryFailure(f"cannot write {target}: {exc.strerror or exc}") from exc
        finally:
            if temporary is not None:
                Path(temporary).unlink(missing_ok=True)

    def close(self) -> None:
        """Nothing to close; here so that every transport can be closed alike."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
