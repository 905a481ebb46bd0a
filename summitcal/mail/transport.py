"""Sending composed messages: to files, or over one reused SMTP connection.

Every transport has ``send(message)`` (and ``send_bytes(envelope_from, recipients,
data)`` for a message already serialised), which returns once the message is delivered
(written, or accepted by the SMTP server) and otherwise raises

* ``TemporaryFailure``: worth retrying later (connection refused, reset or timed out,
  a 4xx reply, 421 at connect or mid-session, a failed login or TLS handshake);
* ``PermanentFailure``: this message will never go (a 5xx reply to its sender,
  recipient or content); the connection stays usable for the next one. A refusal of
  the recipient (5xx to RCPT or DATA) is a ``RecipientRefused``: a bounce.

Both carry the server's reply in their message and ``code``/``reply`` attributes.
Messages are expected to have one recipient each (the outbox has one row per message
and recipient); the envelope comes from From and To/Cc/Bcc. ``FileTransport`` is here,
the SMTP one in ``mail.smtp``; ``transport_from_config`` picks one as ``[mail]`` says.
"""

from __future__ import annotations

import os
import re
import tempfile
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from pathlib import Path
from typing import Protocol, Self

from summitcal.core.errors import SummitcalError
from summitcal.core.files import sync_directory


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
    def send(self, message: EmailMessage) -> None: ...

    def close(self) -> None: ...


class BytesTransport(Transport, Protocol):
    """A transport that also takes a message already serialised (CRLF line ends, 7-bit):
    ``send_bytes(envelope_from, recipients, data)``, with the same outcomes as ``send``."""

    def send_bytes(self, envelope_from: str, recipients: list[str], data: bytes) -> None: ...

def envelope(message: EmailMessage) -> tuple[str, list[str]]:
    """(MAIL FROM, RCPT TO list) from the message's Sender or From, and To, Cc, Bcc."""
    senders = getaddresses(message.get_all("Sender", []) or message.get_all("From", []))
    recipients = [addr for field in ("To", "Cc", "Bcc")
                  for _, addr in getaddresses(message.get_all(field, [])) if addr]
    if not senders or not senders[0][1]:
        raise ValueError("the message has no From address")
    if not recipients:
        raise ValueError("the message has no recipient (To, Cc or Bcc)")
    return senders[0][1], recipients


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

    def send(self, message: EmailMessage) -> None:
        message_id = message["Message-ID"]
        if not message_id:
            raise ValueError("the file transport names files after the Message-ID; "
                             "the message has none")
        self._write(str(message_id),
                    message.as_bytes(policy=message.policy.clone(linesep="\r\n")))

    def send_bytes(self, envelope_from: str, recipients: list[str], data: bytes) -> None:
        """Write ``data`` as it is (the envelope is not recorded, as with ``send``)."""
        message_id = BytesHeaderParser(policy=compat32).parsebytes(data)["Message-ID"]
        if not message_id:
            raise ValueError("the file transport names files after the Message-ID; "
                             "the message has none")
        self._write(str(message_id), data)

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
