"""The words of an event: summary, location and description, as plain text.

Pure functions of a session and the schedule around it. Escaping and folding are
``feeds.event``'s; this module only makes text that iCalendar can carry (see :func:`clean`).
"""

from __future__ import annotations

from summitcal.summits import text as texts
from summitcal.summits.model import (
    Attendance,
    AttendanceMode,
    Schedule,
    Session,
    SessionStatus,
    mode_label,
)

CANCELLED_PREFIX = "Cancelled: "


def clean(text: str) -> str:
    """``text`` as iCalendar can carry it: the one rule for text (``summits.text``),
    applied again here for anything that did not come through it."""
    return texts.multi_line(text)


def short_name(name: str) -> str:
    """The short form used in summaries: the last word ("Vladimir Putin" → "Putin")."""
    words = name.split()
    return words[-1] if words else name


def participant_name(schedule: Schedule, participant: str) -> str:
    known = schedule.participants.get(participant)
    return known.name if known is not None else participant


def mode_phrase(schedule: Schedule, attendance: Attendance) -> str:
    """How someone takes part: "video link", "delegated to Sergei Lavrov", …"""
    if attendance.mode == AttendanceMode.DELEGATED and attendance.delegate:
        return f"delegated to {participant_name(schedule, attendance.delegate)}"
    return mode_label(attendance.mode)


def summary(session: Session, schedule: Schedule, participant: str | None = None) -> str:
    """The SUMMARY: title, the participant's mode in a participant feed, cancellation."""
    text = session.title
    attendance = session.attendance_of(participant) if participant else None
    if participant and attendance is not None:
        who = short_name(participant_name(schedule, participant))
        text = f"{text} ({who}: {mode_phrase(schedule, attendance)})"
    if session.status == SessionStatus.CANCELLED:
        text = CANCELLED_PREFIX + text
    return clean(text)


def location(session: Session, schedule: Schedule) -> str:
    """The venue, else "City, Country" of the summit."""
    venue = clean(session.venue or "")
    if venue.strip():
        return venue
    summit = schedule.summits.get(session.summit)
    if summit is None:
        return ""
    return clean(", ".join(part for part in (summit.city, summit.country) if part))


def description(session: Session, schedule: Schedule) -> str:
    """The DESCRIPTION: text, attendance list, video link, sources — blocks apart."""
    blocks: list[str] = []
    if session.status == SessionStatus.CANCELLED:
        blocks.append("This session has been cancelled.")
    elif session.status == SessionStatus.TENTATIVE:
        blocks.append("This session is tentative.")
    text = clean(session.description or "").strip("\n")
    if text:
        blocks.append(text)
    if session.attendance:
        lines = [attendance_line(schedule, item) for item in session.attendance]
        blocks.append("\n".join(["Attendance:", *lines]))
    if session.video_url:
        blocks.append(f"Video link: {session.video_url}")
    summit = schedule.summits.get(session.summit)
    if summit is not None and summit.sources:
        blocks.append("\n".join(["Sources:", *summit.sources]))
    return clean("\n\n".join(blocks))


def attendance_line(schedule: Schedule, item: Attendance) -> str:
    """'- Vladimir Putin (President of Russia): video link. Note (announced 2021-09-14)'"""
    known = schedule.participants.get(item.participant)
    who = known.name if known is not None else item.participant
    if known is not None and known.role:
        who = f"{who} ({known.role})"
    line = f"- {who}: {mode_phrase(schedule, item)}"
    if item.note:
        line = f"{line}. {item.note}"
    if item.announced is not None:
        line = f"{line} (announced {item.announced.isoformat()})"
    return line


def categories(session: Session, schedule: Schedule) -> list[str]:
    """Organisation names (the id where the organisation is unknown)."""
    names = []
    for ident in session.organizations:
        known = schedule.organizations.get(ident)
        names.append(clean(known.name if known is not None else ident))
    return names
