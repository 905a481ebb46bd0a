"""Messages as emails: from a message context to the bytes ``scheduler.rawmail`` writes.

``compose`` renders the kind's two templates (``NAME.txt``, ``NAME.html``, Jinja2 with
StrictUndefined; HTML autoescaped) and hands them, with the headers every message
carries, to ``rawmail.write``, the one writer of messages: From, To, Subject, Date, a
Message-ID derived from the idempotency key (a re-send carries the same id),
Auto-Submitted, List-Id, List-Unsubscribe and List-Unsubscribe-Post (RFC 8058
one-click). A reminder has the session attached as an ``.ics`` file.

The attachment has no METHOD, like the feeds: it is a calendar object to import, not an
iTIP message. iTIP's PUBLISH (RFC 5546) requires an ORGANIZER, which our events do not
have, and makes some clients treat the mail as an invitation that updates an event
already in a calendar; without METHOD every client offers to import the event, whose
UID, SEQUENCE and DTSTART are the feed's, so calendars that also subscribe see one event.

What does not depend on the reader is made once and recalled: the ``.ics`` part (per
session version), and a reminder's bodies, rendered once per group of readers who get
the same text but for their own address and links (``_Renders``).
"""

from __future__ import annotations

import hashlib
import traceback
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime
from functools import lru_cache
from secrets import token_hex
from threading import Lock
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, TemplateError
from markupsafe import escape as _markup_escape

from summitcal.core.errors import SummitcalError
from summitcal.core.templating import environment
from summitcal.feeds.cache import LRU, event_version
from summitcal.feeds.calendar import event_calendar
from summitcal.feeds.event import event_bytes
from summitcal.feeds.settings import DEFAULT_PRODID
from summitcal.feeds.vtimezone import vtimezone_bytes
from summitcal.mail.transport import RawEmail
from summitcal.scheduler import change_views, samples, views
from summitcal.scheduler.messages import KINDS, Context, MessageKind, Reminder
from summitcal.scheduler.rawmail import text_part, write
from summitcal.summits.model import Schedule, Session

VarsBuilder = Callable[..., dict[str, Any]]
#: Each templated kind's variables (``scheduler.views``, ``scheduler.change_views``).
BUILDERS: dict[MessageKind, VarsBuilder] = {
    MessageKind.CONFIRM: views.confirm_vars,
    MessageKind.WELCOME: views.welcome_vars,
    MessageKind.REMINDER: views.reminder_vars,
    MessageKind.ATTENDANCE_CHANGE: change_views.attendance_vars,
    MessageKind.SCHEDULE_CHANGE: change_views.schedule_vars,
    MessageKind.CHANGES: change_views.changes_vars,
}


_CONTEXTS = tuple(KINDS.values())


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
) -> RawEmail:
    """The email for ``context`` (its ``kind`` picks the templates) to ``recipient``, as
    ``scheduler.rawmail`` writes every message.

    ``key`` is the outbox row's idempotency key (the Message-ID derives from it);
    ``date`` (aware) becomes the Date header and the instant zone offsets are shown for;
    ``list_id`` defaults to ``summitcal.<host of base_url>``. Raises ``ValueError`` for a
    naive date or an empty key, Jinja2's ``TemplateError`` for a template that fails.
    """
    if date.tzinfo is None or date.utcoffset() is None:
        raise ValueError(f"the Date of a message must be an aware datetime, not {date!r}")
    if not key:
        raise ValueError("a message needs a non-empty idempotency key")
    links = {"recipient": recipient, "unsubscribe_url": unsubscribe_url,
             "manage_url": getattr(context, "manage_url", None)}
    cached = _RENDERS.get(context, base_url, env, links) if isinstance(context, Reminder) \
        else None
    if cached is not None:
        subject, text, html = cached
    else:
        values = variables(context, recipient=recipient, base_url=base_url,
                           unsubscribe_url=unsubscribe_url, date=date)
        subject, (text, html) = values["subject"], render(context.kind, values, env)
    attachment = None
    if isinstance(context, Reminder):
        attachment = _attachment(session_ics(context.session, context.schedule, base_url),
                                 views.attachment_name(context.session))
    return write(sender=sender, recipient=recipient, subject=subject, date=date,
                 message_id=message_id(key, base_url),
                 list_id=f"<{list_id or default_list_id(base_url)}>",
                 unsubscribe_url=unsubscribe_url, text=text, html=html, attachment=attachment)


@lru_cache(maxsize=256)
def _attachment(ics: bytes, filename: str) -> bytes:
    """The ``.ics`` part, made once per session version (``session_ics`` recalls the
    bytes, so the cache finds them)."""
    return text_part(ics.decode("utf-8"), "calendar", filename=filename)


def variables(context: Context, *, recipient: str, base_url: str, unsubscribe_url: str,
              date: datetime) -> dict[str, Any]:
    """Every variable the kind's templates may use (see ``scheduler.views``)."""
    if not isinstance(context, _CONTEXTS):
        raise TypeError(f"not a message context: {context!r}")
    builder = BUILDERS[context.kind]
    own = builder(context, recipient=recipient, base_url=base_url, date=date)
    return {"recipient": recipient, "base_url": base_url,
            "unsubscribe_url": unsubscribe_url} | own


def render(kind: MessageKind, values: dict[str, Any],
           env: Environment | None = None) -> tuple[str, str]:
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


# --- one render per group -----------------------------------------------------------------

class _Renders:
    """Reminder bodies rendered once per (session version, schedule, zone, offset, on time
    or late, base URL, templates) with stand-ins for the recipient and their links, which
    each message then puts in (HTML-escaped in the HTML). ``views.reminder_vars`` depends
    on nothing else (not on the Date). A group is checked when first seen: the stand-in
    render with the real values put in must equal a direct render, or the group is
    always rendered directly (a template that transforms a link, say)."""

    def __init__(self, limit: int = 512) -> None:
        self.limit = limit
        self.entries: dict[tuple, tuple] = {}
        self.lock = Lock()

    def get(self, context: Reminder, base_url: str, env: Environment | None,
            links: dict[str, str | None]) -> tuple[str, str, str] | None:
        """(subject, text, html) for these links, or None: render this one directly."""
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
        subject, text, html = template
        for name, value in links.items():
            if value is None:
                continue
            stand_in = _STAND_INS[name]
            text = text.replace(stand_in, value)
            html = html.replace(stand_in, escape(value))
        return subject, text, html

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
        template: tuple | None = (real["subject"], text, html)
        got_text, got_html = text, html
        for name, value in links.items():
            if value is not None:
                got_text = got_text.replace(_STAND_INS[name], value)
                got_html = got_html.replace(_STAND_INS[name], escape(value))
        if (got_text, got_html) != expected or values["subject"] != real["subject"]:
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
