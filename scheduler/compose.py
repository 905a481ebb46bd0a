"""Messages as emails: pure functions from a message context to an ``EmailMessage``.

``compose`` renders the kind's two templates (``NAME.txt``, ``NAME.html``, Jinja2 with
StrictUndefined; HTML autoescaped) into a multipart/alternative body and sets the headers
every message carries: From, To, Subject, Date, a Message-ID derived from the
idempotency key (a re-send carries the same id), Auto-Submitted, List-Id,
List-Unsubscribe and List-Unsubscribe-Post (RFC 8058 one-click). A reminder becomes
multipart/mixed with the session attached as an ``.ics`` file.

The attachment has no METHOD, like the feeds: it is a calendar object to import, not an
iTIP message. iTIP's PUBLISH (RFC 5546) requires an ORGANIZER, which our events do not
have, and makes some clients treat the mail as an invitation that updates an event
already in a calendar; without METHOD every client offers to import the event, whose
UID, SEQUENCE and DTSTART are the feed's, so calendars that also subscribe see one event.

Bodies are 7-bit safe (quoted-printable or base64 where text is not ASCII), so a relay
without 8BITMIME takes them as they are.
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Callable
from datetime import date, datetime
from email.header import Header
from email.message import EmailMessage, MIMEPart
from email.policy import EmailPolicy
from email.utils import format_datetime
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, TemplateError

from summitcal.core.errors import SummitcalError
from summitcal.core.templating import environment
from summitcal.feeds.cache import LRU, event_version
from summitcal.feeds.calendar import event_calendar
from summitcal.feeds.event import event_bytes
from summitcal.feeds.settings import DEFAULT_PRODID
from summitcal.feeds.vtimezone import vtimezone_bytes
from summitcal.scheduler import change_views, samples, views
from summitcal.scheduler.messages import Context, Reminder
from summitcal.summits.model import Schedule, Session

# Headers whose value must stay as written: CPython's folder turns a URL longer than a
# line into RFC 2047 encoded words, which mail clients then do not read as a
# List-Unsubscribe link (so one-click unsubscribe silently stops working). RFC 8058 links
# are ASCII; folding at the commas between <…> items is allowed (RFC 2369).
_VERBATIM = {"list-unsubscribe", "list-unsubscribe-post", "list-id", "message-id"}


def _verbatim(name: str, value: str, linesep: str) -> str:
    text = str(value)
    if not text.isascii() or "\r" in text or "\n" in text:
        raise ValueError(f"{name} must be one line of ASCII, got {text!r}")
    return f"{name}: {(',' + linesep + ' ').join(p.strip() for p in text.split(','))}{linesep}"


class _Policy(EmailPolicy):
    """``email.policy.default``, with the Subject folded by ``email.header.Header``.

    CPython's own folder (3.11) can put the whole value on a continuation line, which its
    parser then reads back with a leading space, and can break the line just before an
    encoded word keeping a space on both sides ("Dushanbe  — moved" once unfolded).
    ``Header`` folds at spaces, and writes a non-ASCII subject as encoded words only,
    between which folding whitespace does not count (RFC 2047, 6.2).
    """

    def fold(self, name: str, value: str) -> str:
        if name.lower() in _VERBATIM:
            return _verbatim(name, value, self.linesep)
        if name.lower() != "subject":
            return super().fold(name, value)
        text = str(value)
        words = Header(text, None if text.isascii() else "utf-8", header_name=name)
        encoded = words.encode(linesep=self.linesep, maxlinelen=self.max_line_length or 78)
        return f"{name}: {encoded}{self.linesep}"

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() in _VERBATIM:
            return _verbatim(name, value, self.linesep).encode("ascii")
        if name.lower() != "subject":
            return super().fold_binary(name, value)
        return self.fold(name, value).encode("ascii")


POLICY = _Policy(cte_type="7bit")

VarsBuilder = Callable[..., dict[str, Any]]
BUILDERS: dict[str, VarsBuilder] = {
    "confirm": views.confirm_vars,
    "welcome": views.welcome_vars,
    "reminder": views.reminder_vars,
    "attendance_change": change_views.attendance_vars,
    "schedule_change": change_views.schedule_vars,
    "changes": change_views.changes_vars,
}


class TemplateProblem(SummitcalError, ValueError):
    """An email template that does not render: names the file and line."""


def compose(
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
) -> EmailMessage:
    """The email for ``context`` (its ``kind`` picks the templates) to ``recipient``.

    ``key`` is the outbox row's idempotency key; ``date`` (aware) becomes the Date header
    and the instant zone offsets are shown for; ``list_id`` defaults to
    ``summitcal.<host of base_url>``.
    """
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError(f"the Date of a message must be an aware datetime, not {date!r}")
    if not key:
        raise ValueError("a message needs a non-empty idempotency key")
    values = variables(context, recipient=recipient, base_url=base_url,
                       unsubscribe_url=unsubscribe_url, date=date)
    text, html = render(context.kind, values, env)
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = values["subject"]
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id(key, base_url)
    message["Auto-Submitted"] = "auto-generated"
    message["List-Id"] = f"<{list_id or default_list_id(base_url)}>"
    message["List-Unsubscribe"] = f"<{unsubscribe_url}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if isinstance(context, Reminder):
        ics = session_ics(context.session, context.schedule, base_url)
        message.add_attachment(ics.decode("utf-8"), subtype="calendar",
                               filename=views.attachment_name(context.session))
    for part in message.iter_parts():
        _strip_mime_version(part)
    return message


def _strip_mime_version(part: MIMEPart) -> None:
    """MIME-Version belongs on the message only; ``add_alternative`` copies it inward."""
    del part["MIME-Version"]
    if part.is_multipart():
        for inner in part.iter_parts():
            _strip_mime_version(inner)


def variables(context: Context, *, recipient: str, base_url: str, unsubscribe_url: str,
              date: datetime) -> dict[str, Any]:
    """Every variable the kind's templates may use (see ``scheduler.views``)."""
    builder = BUILDERS.get(getattr(context, "kind", ""))
    if builder is None:
        raise TypeError(f"not a message context: {context!r}")
    own = builder(context, recipient=recipient, base_url=base_url, date=date)
    return {"recipient": recipient, "base_url": base_url,
            "unsubscribe_url": unsubscribe_url} | own


def render(kind: str, values: dict[str, Any], env: Environment | None = None) -> tuple[str, str]:
    """The plain text and the HTML of one message."""
    env = env or environment("email")
    text = env.get_template(f"{kind}.txt").render(values)
    html = env.get_template(f"{kind}.html").render(values)
    return text, html


def message_id(key: str, base_url: str) -> str:
    """``<first 32 hex digits of sha256(key)@host>``: the same key gives the same id."""
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@{_host(base_url)}>"


def default_list_id(base_url: str) -> str:
    return f"summitcal.{_host(base_url)}"


def session_ics(session: Session, schedule: Schedule, base_url: str) -> bytes:
    """A calendar with one event: the session's VEVENT exactly as in the feeds, plus the
    VTIMEZONE its times need. No METHOD (see the module doc).

    Built once per session version (``feeds.cache.event_version``) and base URL, then
    recalled: a fan-out attaches the same bytes to every follower's reminder."""
    return _ICS_CACHE.get(session, schedule, base_url)


def _session_ics(session: Session, schedule: Schedule, base_url: str) -> bytes:
    return event_calendar(session, DEFAULT_PRODID,
                          lambda s: event_bytes(s, schedule, base_url), _vtimezone)


@lru_cache(maxsize=256)
def _vtimezone(zone: str, first: date, last: date) -> bytes:
    return vtimezone_bytes(zone, first, last)


class _IcsCache:
    """``session_ics`` per (base URL, summit, session): the entry is current while the
    caller hands in the same session and schedule record objects (a snapshot keeps them),
    or else while ``event_version`` is unchanged. Bounded, least recently used out."""

    def __init__(self, limit: int = 256) -> None:
        self.entries: LRU[tuple[str, str, str]] = LRU(limit)

    def get(self, session: Session, schedule: Schedule, base_url: str) -> bytes:
        key = (base_url, session.summit, session.id)
        records = (id(schedule.summits), id(schedule.participants), id(schedule.organizations))
        entry = self.entries.peek(key)
        if entry is not None and entry[0] is session and entry[1] == records:
            return entry[3]
        version = event_version(session, schedule)
        if entry is not None and entry[2] == version:
            data = entry[3]
        else:
            data = _session_ics(session, schedule, base_url)
        # Keep the objects themselves (not only their ids) so an id is never reused.
        self.entries.put(key, None, (session, records, version, data,
                                     schedule.summits, schedule.participants,
                                     schedule.organizations))
        return data

    def clear(self) -> None:
        self.entries.clear()
        _vtimezone.cache_clear()


_ICS_CACHE = _IcsCache()


def check_templates(base_url: str, env: Environment | None = None) -> int:
    """Compile every email template and compose every sample message; raise
    ``TemplateProblem`` (file, line, what) for the first that fails. Returns how many
    messages were composed. Meant for start-up: a typo stops the boot, not a reminder."""
    env = env or environment("email")
    try:
        for name in env.list_templates():
            env.get_template(name)
        messages = [compose(context, sender="summitcal <summitcal@example.org>",
                            recipient="reader@example.org", key=f"check-templates-{number}",
                            date=datetime.fromisoformat("2021-09-15T09:00:00+00:00"),
                            base_url=base_url, unsubscribe_url=f"{base_url}/unsubscribe/t",
                            env=env)
                    for number, context in enumerate(samples.contexts(base_url))]
    except TemplateError as exc:
        raise TemplateProblem(f"email template {_where(exc)}: {exc.message}") from exc
    return len(messages)


def _where(exc: TemplateError) -> str:
    """'reminder.html, line 12' from a syntax error or from a render's traceback."""
    filename, lineno = getattr(exc, "filename", None), getattr(exc, "lineno", None)
    if not filename:
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if f.filename.endswith((".txt", ".html"))]
        if frames:
            filename, lineno = frames[-1].filename, frames[-1].lineno
    if not filename:
        return "(unknown file)"
    return f"{filename}, line {lineno}" if lineno else str(filename)


def _host(base_url: str) -> str:
    host = urlsplit(base_url).hostname or "localhost"
    return f"[{host}]" if ":" in host else host
