"""Emails as bytes: the one writer of every message summitcal sends.

``write`` takes what a message says (addresses, subject, date, ids, the two bodies, an
attachment part) and gives a ``RawEmail``: the SMTP envelope, the Message-ID and the
message as CRLF bytes, ready for SMTP DATA or a file. Every kind goes through it: the
reminders, notices, confirmations and welcomes (``scheduler.compose``) and ``send-test``
(``scheduler.renderers``). The ``email`` package does not build messages here; tests use
it as the independent parser that checks what this module writes.

Why bytes and not an ``email.message.EmailMessage``: a fan-out sends the same message
to thousands of readers with a few per-reader lines (To, Date, Message-ID, links). Put
together as bytes, what does not depend on the reader is encoded once and recalled (From,
Subject and the ``.ics`` part), and bodies are encoded by ``binascii`` (C). A sample
reminder took 3 ms as a tree built and flattened by ``email``, 0.1 ms this way with its
render shared (``compose._Renders``), on the 2-core test machine. One writer, so there
is no second implementation to keep equal to it.

What is written (RFC 5322, MIME RFC 2045-2046):

* headers From, To, Subject, Date, Message-ID, ``Auto-Submitted: auto-generated``
  (RFC 3834), List-Id (RFC 2919), List-Unsubscribe with List-Unsubscribe-Post
  ``List-Unsubscribe=One-Click`` (RFC 2369, RFC 8058: one-click unsubscribe; left out
  for a message to an address that subscribed to nothing) and ``MIME-Version: 1.0``.
  Message-ID, List-Id and List-Unsubscribe are written as given, on one line (folding
  or encoding a URL breaks one-click unsubscribe in mail clients); they must be ASCII
  without line breaks (``ValueError``). A non-ASCII display name or subject becomes
  RFC 2047 encoded words, folded at 78 (``email.header.Header``: the encoding is the
  standard library's, not ours). An address that is not ASCII is written in UTF-8
  (RFC 6532); such a message needs SMTPUTF8 (RFC 6531, ``RawEmail.smtputf8``).
* a ``multipart/alternative`` body (``text/plain``, then ``text/html``), inside a
  ``multipart/mixed`` with the attachment after it when there is one. Boundaries are
  random and checked not to occur in the parts.
* 7-bit bodies: a text part is ``7bit`` when it is ASCII with lines of at most 78
  octets, else quoted-printable or base64, whichever is shorter on its first ten lines
  (the rule of ``email``'s ``set_content``: readable QP for mostly Latin text, base64
  for, say, Cyrillic). The encoded text has CRLF line ends, its canonical form (RFC
  2046 4.1.1; ``email`` base64-encodes LF line ends), and quoted-printable lines are at
  most 76 characters (RFC 2045 6.7; ``email`` writes up to 78).
"""

from __future__ import annotations

import binascii
import re
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr, getaddresses
from functools import lru_cache
from secrets import token_hex
from urllib.parse import quote

from summitcal.mail.transport import RawEmail

CRLF = "\r\n"
_MAX_LINE = 78  # RFC 5322 2.1.1: SHOULD; what email's default policy folds at
_MAX_OCTETS = 998  # RFC 5322 2.1.1: MUST
_SIMPLE_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")


def write(*, sender: str, recipient: str, subject: str, date: datetime, message_id: str,
          list_id: str, unsubscribe_url: str | None, text: str, html: str,
          attachment: bytes | None = None) -> RawEmail:
    """The message, as the module doc describes.

    ``sender`` is a From value (``name <address>``); ``date`` an aware datetime (its own
    offset is kept in the Date header); ``list_id`` the List-Id value with its angle
    brackets; ``unsubscribe_url`` None leaves out List-Unsubscribe(-Post); ``attachment``
    a part made by ``text_part`` (with a filename). Raises ``ValueError`` for a naive
    date or a header that must stay one line of ASCII and is not.
    """
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError(f"the Date of a message must be an aware datetime, not {date!r}")
    head = [
        _constant("From", sender),
        _constant("To", recipient),
        _constant("Subject", subject),
        _verbatim("Date", format_datetime(date)),
        _verbatim("Message-ID", message_id),
        b"Auto-Submitted: auto-generated\r\n",
        _verbatim("List-Id", list_id),
    ]
    if unsubscribe_url is not None:
        head += [_verbatim("List-Unsubscribe", f"<{unsubscribe_url}>"),
                 b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"]
    head.append(b"MIME-Version: 1.0\r\n")
    body = multipart("alternative", [text_part(text, "plain"), text_part(html, "html")])
    if attachment is not None:
        body = multipart("mixed", [body, attachment])
    return RawEmail(envelope_sender(sender), (recipient,), message_id, b"".join(head) + body)


# --- headers ------------------------------------------------------------------------------

def _verbatim(name: str, value: str) -> bytes:
    """A header written as given: one line of ASCII (ids, dates, List-* links)."""
    line = f"{name}: {value}{CRLF}"
    if not value.isascii() or "\r" in value or "\n" in value or len(line) > _MAX_OCTETS:
        raise ValueError(f"{name} must be one line of ASCII, got {value!r}")
    return line.encode("ascii")


@lru_cache(maxsize=1024)
def _constant(name: str, value: str) -> bytes:
    """A header whose value repeats across messages (From, Subject): written once."""
    return _address(name, value) if name in ("From", "To") else _unstructured(name, value)


def _unstructured(name: str, text: str) -> bytes:
    """Text (the Subject), folded at spaces by ``email.header.Header``: ASCII as it is,
    anything else (or ASCII that would read as an encoded word) as UTF-8 encoded words
    only, between which folding whitespace does not count (RFC 2047 6.2). Not
    ``email.policy``'s folder: CPython 3.11's can put the whole value on a continuation
    line, or keep a space on both sides of a break before an encoded word."""
    if "\r" in text or "\n" in text:
        raise ValueError(f"{name} must be one line, got {text!r}")
    charset = None if text.isascii() and "=?" not in text else "utf-8"
    words = Header(text, charset, header_name=name)
    return f"{name}: {words.encode(linesep=CRLF, maxlinelen=_MAX_LINE)}{CRLF}".encode("ascii")


def _address(name: str, value: str) -> bytes:
    """A header of one mailbox (``address`` or ``name <address>``). A plain address is
    written as it is; a display name quoted where needed (``email.utils.formataddr``), or
    as encoded words when not ASCII; an address that is not ASCII in UTF-8 (RFC 6532:
    encoded words are not allowed in an address, RFC 2047 5)."""
    if _SIMPLE_ADDRESS.fullmatch(value) and len(name) + 2 + len(value) <= _MAX_LINE:
        return f"{name}: {value}{CRLF}".encode("ascii")
    [(display, address)] = getaddresses([value]) or [("", "")]
    if not address or "\r" in value or "\n" in value:
        raise ValueError(f"{name} must be one address, got {value!r}")
    if not display:
        text = address
    elif display.isascii() and "=?" not in display:
        text = formataddr((display, address))
    else:
        words = Header(display, "utf-8", header_name=name).encode(linesep=CRLF,
                                                                  maxlinelen=_MAX_LINE)
        text = f"{words} <{address}>"
    line = f"{name}: {text}{CRLF}"
    return line.encode("ascii" if address.isascii() else "utf-8")


@lru_cache(maxsize=64)
def envelope_sender(sender: str) -> str:
    """The address of a From value (``summitcal <a@b>`` → ``a@b``), for MAIL FROM."""
    found = [address for _, address in getaddresses([sender]) if address]
    if not found:
        raise ValueError(f"the sender {sender!r} has no address")
    return found[0]


# --- bodies -------------------------------------------------------------------------------

def text_part(text: str, subtype: str, *, filename: str | None = None) -> bytes:
    """A ``text/SUBTYPE; charset="utf-8"`` part (headers, blank line, body): line ends
    normalised, a final line break, the transfer encoding as the module doc says. With
    ``filename``, an attachment (``Content-Disposition``, RFC 2183; a name that is not a
    plain ASCII string is written as RFC 2231 ``filename*``)."""
    lines = text.encode("utf-8").splitlines()
    cte, data = _encoded(lines)
    head = (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: {cte}{CRLF}")
    if filename is not None:
        head += f"Content-Disposition: attachment; {_filename(filename)}{CRLF}"
    return (head + CRLF).encode("ascii") + data


def _encoded(lines: list[bytes]) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body) for the text's lines (the text in canonical
    form, CRLF line ends, RFC 2046 4.1.1)."""
    data = b"\r\n".join(lines) + b"\r\n"
    if data.isascii() and max((len(line) for line in lines), default=0) <= _MAX_LINE:
        return "7bit", data
    sniff = b"\r\n".join(lines[:10]) + b"\r\n"
    if len(binascii.b2a_qp(sniff, istext=True)) > len(binascii.b2a_base64(sniff)):
        return "base64", _base64(data)
    return "quoted-printable", binascii.b2a_qp(data, istext=True)


def _base64(data: bytes) -> bytes:
    """Lines of 76 characters (57 octets each), CRLF after each."""
    step = _MAX_LINE // 4 * 3
    return b"".join(binascii.b2a_base64(data[i:i + step], newline=False) + b"\r\n"
                    for i in range(0, len(data), step))


def _filename(name: str) -> str:
    if name.isascii() and '"' not in name and "\\" not in name and name.isprintable():
        return f'filename="{name}"'
    return f"filename*=utf-8''{quote(name, safe='')}"


def multipart(subtype: str, parts: list[bytes]) -> bytes:
    """A ``multipart/SUBTYPE`` entity: its Content-Type header, a blank line, the parts
    between boundaries (RFC 2046 5.1.1)."""
    while True:
        boundary = f"==============={token_hex(12)}=="
        marker = b"--" + boundary.encode("ascii")
        if not any(marker in part for part in parts):
            break
    out = [f'Content-Type: multipart/{subtype};{CRLF} boundary="{boundary}"{CRLF}{CRLF}'
           .encode("ascii")]
    for part in parts:
        out += [marker, b"\r\n", part, b"\r\n"]
    out += [marker, b"--\r\n"]
    return b"".join(out)
