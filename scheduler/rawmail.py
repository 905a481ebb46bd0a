"""Emails as bytes, without building a MIME tree: the fast path of fan-out delivery.

``compose_bytes`` takes the arguments of ``scheduler.compose.compose`` and gives a
``RawEmail``: the envelope, the Message-ID and the message as CRLF bytes, ready for SMTP
DATA. Parsed with ``email`` (policy default) it is the same message as ``compose`` makes:
the same headers in the same order with the same values, the same MIME structure, the
same decoded parts. Only the bytes may differ (boundaries; a long header written on one
line instead of as encoded words; quoted-printable where ``email`` might pick base64).

What does not depend on the recipient is encoded once and recalled: the From, Subject,
List-Id and constant headers, and the ``.ics`` attachment part (one per session
version, see ``compose.session_ics``). Per message remain the Jinja2 render (links in
the bodies), the To, Date, Message-ID and List-Unsubscribe headers, and encoding the
two bodies with ``binascii`` (C). ``compose`` stays the reference implementation.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import EmailMessage, MIMEPart
from email.utils import format_datetime
from functools import lru_cache
from secrets import token_hex
from threading import Lock

from jinja2 import Environment
from markupsafe import escape as _markup_escape

from summitcal.scheduler import views
from summitcal.scheduler.compose import (
    POLICY,
    default_list_id,
    message_id,
    render,
    session_ics,
    variables,
)
from summitcal.scheduler.messages import Context, Reminder

CRLF = "\r\n"
WIRE = POLICY.clone(linesep=CRLF)
_SIMPLE_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9.-]+")
_MAX_LINE = 78


@dataclass(frozen=True, slots=True)
class RawEmail:
    """A rendered message as bytes: ``sender``/``recipients`` are the SMTP envelope."""

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    data: bytes

    def to_message(self) -> EmailMessage:
        """The message parsed back (for transports that only take ``EmailMessage``)."""
        parsed = message_from_bytes(self.data, policy=POLICY)
        assert isinstance(parsed, EmailMessage)
        return parsed


def compose_bytes(
    context: Context,
    *,
    sender: str,
    recipient: str,
    key: str,
    date: datetime,
    base_url: str,
    unsubscribe_url: str,
    list_id: str | None = None,
    env: Environment | None = None,
) -> RawEmail:
    """``compose(...)`` as a ``RawEmail`` (same arguments, same message once parsed)."""
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError(f"the Date of a message must be an aware datetime, not {date!r}")
    if not key:
        raise ValueError("a message needs a non-empty idempotency key")
    links = {"recipient": recipient, "unsubscribe_url": unsubscribe_url,
             "manage_url": getattr(context, "manage_url", None)}
    cached = _RENDERS.get(context, base_url, env, links) if isinstance(context, Reminder) \
        else None
    if cached is not None:
        values, text, html = cached
    else:
        values = variables(context, recipient=recipient, base_url=base_url,
                           unsubscribe_url=unsubscribe_url, date=date)
        text, html = render(context.kind, values, env)
    ident = message_id(key, base_url)
    head = [
        _constant("From", sender),
        _header("To", recipient, simple=bool(_SIMPLE_ADDRESS.fullmatch(recipient))),
        _constant("Subject", values["subject"]),
        _header("Date", format_datetime(date)),
        _header("Message-ID", ident),
        _constant("Auto-Submitted", "auto-generated"),
        _constant("List-Id", f"<{list_id or default_list_id(base_url)}>"),
        _header("List-Unsubscribe", f"<{unsubscribe_url}>", long_ok=True),
        _constant("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        b"MIME-Version: 1.0\r\n",
    ]
    parts = [_text_part(text, "plain"), _text_part(html, "html")]
    body = _multipart("alternative", parts)
    if isinstance(context, Reminder):
        ics = session_ics(context.session, context.schedule, base_url)
        attachment = _attachment(ics, views.attachment_name(context.session))
        body = _multipart("mixed", [body, attachment])
    data = b"".join(head) + body
    sender_address = _envelope_sender(sender)
    return RawEmail(sender_address, (recipient,), ident, data)


# --- headers ------------------------------------------------------------------------------

def _header(name: str, value: str, *, simple: bool = True, long_ok: bool = False) -> bytes:
    """One header line. Plain ASCII values without line breaks that fit (or, for
    ``long_ok``, cannot be folded anyway: no spaces) are written as they are;
    anything else goes through the policy, as ``compose`` does."""
    if (simple and value.isascii() and "\r" not in value and "\n" not in value
            and (len(name) + 2 + len(value) <= _MAX_LINE
                 or (long_ok and " " not in value and len(value) < 900))
            and value.strip() == value):
        return f"{name}: {value}{CRLF}".encode("ascii")
    return _folded(name, value)


@lru_cache(maxsize=1024)
def _constant(name: str, value: str) -> bytes:
    """A header whose value repeats across messages (From, Subject, List-Id, …)."""
    return _folded(name, value)


def _folded(name: str, value: str) -> bytes:
    return WIRE.fold_binary(*WIRE.header_store_parse(name, value))


@lru_cache(maxsize=64)
def _envelope_sender(sender: str) -> str:
    from summitcal.mail.transport import envelope

    probe = EmailMessage(policy=POLICY)
    probe["From"] = sender
    probe["To"] = "probe@example.invalid"
    return envelope(probe)[0]


# --- bodies -------------------------------------------------------------------------------

def _text_part(text: str, subtype: str) -> bytes:
    """A text part as ``set_content`` makes it: lines normalised, a final line break,
    UTF-8, 7bit when ASCII with short lines, else quoted-printable."""
    lines = text.encode("utf-8").splitlines()
    data = b"\r\n".join(lines) + b"\r\n"
    if data.isascii() and max((len(line) for line in lines), default=0) <= _MAX_LINE:
        cte = "7bit"
    else:
        cte = "quoted-printable"
        data = binascii.b2a_qp(data, istext=True)
    head = (f'Content-Type: text/{subtype}; charset="utf-8"{CRLF}'
            f"Content-Transfer-Encoding: {cte}{CRLF}{CRLF}")
    return head.encode("ascii") + data


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    """A multipart entity (its Content-Type header, a blank line, the parts)."""
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


@lru_cache(maxsize=256)
def _attachment(ics: bytes, filename: str) -> bytes:
    """The ``.ics`` part exactly as ``add_attachment`` encodes it (built once per version)."""
    part = MIMEPart(policy=POLICY)
    part.set_content(ics.decode("utf-8"), subtype="calendar", disposition="attachment",
                     filename=filename)
    return part.as_bytes(policy=WIRE)


# --- one render per group -----------------------------------------------------------------

class _Renders:
    """Reminder bodies rendered once per (session version, schedule, zone, offset, on time
    or late, base URL, templates) with stand-ins for the recipient and their links, which
    each message then puts in (HTML-escaped in the HTML). ``views.reminder_vars`` depends on nothing
    else (not on the Date). A group is checked when first seen: the stand-in render with
    the real values put in must equal a direct render, or the group is always rendered
    directly (a template that transforms a link, say)."""

    def __init__(self, limit: int = 512) -> None:
        self.limit = limit
        self.entries: dict[tuple, tuple] = {}
        self.lock = Lock()

    def get(self, context: Reminder, base_url: str, env: Environment | None,
            links: dict[str, str | None]) -> tuple[dict, str, str] | None:
        schedule = context.schedule
        key = (id(context.session), id(schedule.summits), id(schedule.participants),
               id(schedule.organizations), context.zone, context.offset, context.late,
               base_url, id(env), links["manage_url"] is None)
        entry = self.entries.get(key)
        if entry is None or entry[0] is not context.session or entry[1] is not schedule:
            entry = self._fill(key, context, base_url, env, links)
        template = entry[2]
        if template is None:
            return None
        values, text, html = template
        for name, value in links.items():
            if value is None:
                continue
            stand_in = _STAND_INS[name]
            text = text.replace(stand_in, value)
            html = html.replace(stand_in, escape(value))
        return values | {k: v for k, v in links.items() if k in values}, text, html

    def _fill(self, key: tuple, context: Reminder, base_url: str, env: Environment | None,
              links: dict[str, str | None]) -> tuple:
        stand_in = replace(context, manage_url=_STAND_INS["manage_url"]) \
            if links["manage_url"] is not None else context
        values = variables(stand_in, recipient=_STAND_INS["recipient"], base_url=base_url,
                           unsubscribe_url=_STAND_INS["unsubscribe_url"], date=_EPOCH)
        text, html = render(context.kind, values, env)
        real = variables(context, recipient=str(links["recipient"]), base_url=base_url,
                         unsubscribe_url=str(links["unsubscribe_url"]), date=_EPOCH)
        expected = render(context.kind, real, env)
        template: tuple | None = (real, text, html)
        got_text, got_html = text, html
        for name, value in links.items():
            if value is not None:
                got_text = got_text.replace(_STAND_INS[name], value)
                got_html = got_html.replace(_STAND_INS[name], escape(value))
        if (got_text, got_html) != expected or any(
                _STAND_INS[name] in str(v) for name in links for v in (values["subject"],)):
            template = None
        entry = (context.session, context.schedule, template)
        with self.lock:
            if len(self.entries) >= self.limit:
                self.entries.clear()
            self.entries[key] = entry
        return entry


_STAND_INS = {name: f"zz{token_hex(16)}{name.replace('_', '')}zz"
              for name in ("recipient", "unsubscribe_url", "manage_url")}
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_RENDERS = _Renders()


def escape(value: str) -> str:
    """As Jinja2's autoescape writes a value into HTML."""
    return str(_markup_escape(value))
