"""Template variables and subject lines: a message context turned into plain values.

Templates get strings, lists and dicts only (no domain objects), so what a template may
use is fixed here and ``check_templates`` can prove every template renders. Each
``*_vars`` function gives a kind's own variables, ``subject``, ``manage_url`` (None for
``confirm``) and ``reason`` (why the reader gets the message) among them; ``compose``
adds ``recipient``, ``base_url`` and ``unsubscribe_url``. The notices' variables are in
``scheduler.change_views``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from summitcal.feeds import wording as event_wording
from summitcal.feeds.links import ics_url, session_url
from summitcal.scheduler import wording
from summitcal.scheduler.messages import Confirm, Reminder, Welcome
from summitcal.summits.model import Attendance, Schedule, Session, SessionStatus

Vars = dict[str, Any]


def one_line(text: str) -> str:
    """Text fit for a header: whitespace (line breaks included) collapsed to single spaces."""
    return " ".join(text.split())


def place(session: Session, schedule: Schedule) -> str:
    """The venue's city: the summit's when the session keeps the summit's zone."""
    summit = schedule.summits.get(session.summit)
    if summit is not None and summit.city and summit.timezone == session.timezone:
        return summit.city
    return wording.city_of(session.timezone)


def session_view(session: Session, schedule: Schedule, zone: str, base_url: str) -> Vars:
    """A session as templates show it (reminders in full, notices in part)."""
    summit = schedule.summits.get(session.summit)
    notes = {SessionStatus.CANCELLED: "This session has been cancelled.",
             SessionStatus.TENTATIVE: "This session is tentative: its time may still change."}
    return {
        "title": session.title,
        "summit": summit.name if summit is not None else session.summit,
        "when": wording.when(session, zone, place(session, schedule)),
        "venue": event_wording.location(session, schedule),
        "status": session.status,
        "status_note": notes.get(session.status),
        "description": (session.description or "").strip() or None,
        "video_url": session.video_url,
        "url": session_url(session, base_url),
        "ics_url": ics_url(session, base_url),
        "attendance": [attendance_view(item, schedule) for item in session.attendance],
    }


def attendance_view(item: Attendance, schedule: Schedule) -> Vars:
    known = schedule.participants.get(item.participant)
    return {
        "name": known.name if known is not None else item.participant,
        "role": known.role if known is not None and known.role else None,
        "mode": event_wording.mode_phrase(schedule, item),
        "note": item.note,
        "announced": wording.long_date(item.announced) if item.announced else None,
    }


def confirm_vars(context: Confirm, *, recipient: str, base_url: str, date: datetime) -> Vars:
    return {
        "subject": "Confirm your summitcal subscription",
        "confirm_url": context.confirm_url,
        "manage_url": None,
        "reason": f"Someone asked summitcal to send reminders and notices to {recipient}. "
                  "Nothing more is sent unless the subscription is confirmed.",
    }


def welcome_vars(context: Welcome, *, recipient: str, base_url: str, date: datetime) -> Vars:
    https = context.feed_url
    webcal = "webcal://" + https.split("://", 1)[1] if "://" in https else https
    notices = {"attendance": "attendance changes", "schedule": "schedule changes"}
    intro, reason = _WELCOME[context.how]
    return {
        "subject": "Your summitcal links" if context.how == "again" else "Welcome to summitcal",
        "intro": intro.format(recipient=recipient),
        "feed_url": https,
        "webcal_url": webcal,
        "manage_url": context.manage_url,
        "follows": [follow_label(spec, context.schedule) for spec in context.follows],
        "zone": context.zone,
        "zone_offset": wording.offset_now(context.zone, date),
        "reminders": [wording.duration(offset) for offset in sorted(context.reminders,
                                                                    reverse=True)],
        "notices": [notices.get(kind, kind) for kind in context.notices],
        "reason": reason.format(recipient=recipient, base_url=base_url),
    }


#: The welcome mail's first line and reason, by ``Welcome.how``: each says what happened.
_WELCOME = {
    "confirmed": ("Your subscription for {recipient} is confirmed.",
                  "You confirmed a summitcal subscription for {recipient}."),
    "operator": (("An operator of this summitcal service subscribed {recipient}; you were "
                  "not asked to confirm. If you do not want these emails, unsubscribe with "
                  "the link below."),
                 "An operator of summitcal at {base_url} subscribed {recipient}."),
    "again": (("Someone, hopefully you, signed up {recipient} again. It is already "
               "subscribed, so nothing changed: here are its links."),
              ("Someone asked summitcal at {base_url} to sign up {recipient}, which is "
               "already subscribed.")),
}


def reminder_vars(context: Reminder, *, recipient: str, base_url: str, date: datetime) -> Vars:
    """A reminder's variables. On time it says "In 1 hour"; sent late (``context.late``)
    it gives the start as a date and time in both zones, which stays true whenever it
    is read. An all-day session read in another zone also says when its day begins at
    the venue in the reader's time (``day_begins``): the instant the reminder counts from.
    """
    session = context.session
    city = place(session, context.schedule)
    view = session_view(session, context.schedule, context.zone, base_url)
    reason = ("You follow this session and asked for a reminder "
              f"{wording.duration(context.offset)} before it starts.")
    if context.late:
        starts = wording.starts(session, context.zone, city)
        starts_in = f"Starts {starts}"
        subject = f"Reminder: {session.title} starts {starts}"
        reason += " This one comes late: it could not be delivered on time."
    else:
        starts_in = wording.relative(context.offset)
        subject = f"{starts_in}: {session.title}, {city}"
    return {
        "subject": one_line(subject),
        "session": view,
        "starts_in": starts_in,
        "day_begins": wording.day_begins(session, context.zone, city),
        "manage_url": context.manage_url,
        "attachment": attachment_name(session),
        "reason": reason,
    }


def attachment_name(session: Session) -> str:
    """The attached file's name: the session's event key (unique, like its UID)."""
    return f"{session.event_key}.ics"


def follow_label(spec: str, schedule: Schedule) -> str:
    """A follow spec in words: 'summit:astana-2024' → 'SCO summit, Astana 2024'."""
    kind, _, ident = spec.partition(":")
    if kind == "all":
        return "Every session of every summit"
    if kind == "summit":
        summit = schedule.summits.get(ident)
        return f"All sessions of {summit.name if summit else ident}"
    if kind == "organization":
        org = schedule.organizations.get(ident)
        return f"Sessions of the {org.name if org else ident}"
    if kind == "participant":
        person = schedule.participants.get(ident)
        return f"Sessions with {person.name if person else ident}"
    if kind == "session":
        summit_id, _, session_id = ident.partition("/")
        session = schedule.sessions.get((summit_id, session_id))
        return session.title if session is not None else ident
    return spec
