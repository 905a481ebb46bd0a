"""Change notices in words: what changed, old → new, and a subject that sums it up.

Attendance: "Vladimir Putin — video link instead of in person", per session.
Schedule: per session, lines such as "Time: <old phrase> → <new phrase>", a headline
("Moved, New venue") and a subject: "Schedule change: SCO Council of Heads of State,
Astana — moved to Thursday 4 July 2024, 10:00 Astana time".
Both in one message (``changes``): both parts, and a subject naming both:
"Attendance and schedule changes: Vladimir Putin — video link instead of in person
(SCO Council of Heads of State); SCO Council of Heads of State, Astana — moved to …".
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from summitcal.feeds import wording as event_wording
from summitcal.scheduler import views, wording
from summitcal.scheduler.messages import (
    AttendanceItem,
    AttendanceNotice,
    ChangesNotice,
    ScheduleNotice,
    SessionChange,
)
from summitcal.summits.model import Attendance, Schedule, Session, SessionStatus

Vars = dict[str, Any]

#: Change tags in the order subjects and headlines give them.
TAGS = {
    "added": ("New session", "added"),
    "cancelled": ("Cancelled", "cancelled"),
    "reinstated": ("Reinstated", "reinstated"),
    "moved": ("Moved", "moved"),
    "venue": ("New venue", "new venue"),
    "details": ("Details updated", "details updated"),
}


def attendance_vars(context: AttendanceNotice, *, recipient: str, base_url: str,
                    date: datetime) -> Vars:
    """The ``attendance_change`` templates' own variables: ``changes`` (see below)."""
    if not context.items:
        raise ValueError("an attendance notice needs at least one change")
    return {
        "subject": views.one_line(attendance_subject(context)),
        "changes": attendance_items(context, base_url),
        "manage_url": context.manage_url,
        "reason": "You follow these sessions or participants and asked for notices of "
                  "attendance changes.",
    }


def schedule_vars(context: ScheduleNotice, *, recipient: str, base_url: str,
                  date: datetime) -> Vars:
    """The ``schedule_change`` templates' own variables: ``sessions`` (see below)."""
    sessions = schedule_items(context, base_url)
    if not sessions:
        raise ValueError("a schedule notice needs at least one visible change")
    return {
        "subject": views.one_line(schedule_subject(context)),
        "sessions": sessions,
        "manage_url": context.manage_url,
        "reason": "You follow these sessions and asked for notices of schedule changes.",
    }


def changes_vars(context: ChangesNotice, *, recipient: str, base_url: str,
                 date: datetime) -> Vars:
    """The ``changes`` templates' own variables: ``changes`` (attendance, as in
    ``attendance_vars``) and ``sessions`` (schedule, as in ``schedule_vars``; empty when
    no schedule change is visible, and the subject then names attendance only)."""
    if not context.attendance.items:
        raise ValueError("a changes notice needs at least one attendance change")
    sessions = schedule_items(context.changes, base_url)
    if sessions:
        subject = (f"Attendance and schedule changes: {_attendance_summary(context.attendance)[1]}"
                   f"; {_schedule_summary(context.changes)[1]}")
    else:
        subject = attendance_subject(context.attendance)
    return {
        "subject": views.one_line(subject),
        "changes": attendance_items(context.attendance, base_url),
        "sessions": sessions,
        "manage_url": context.manage_url,
        "reason": "You follow these sessions or participants and asked for notices of "
                  "attendance and schedule changes.",
    }


def attendance_items(context: AttendanceNotice, base_url: str) -> list[Vars]:
    schedule = context.schedule
    out = []
    for item in context.items:
        view = views.session_view(item.session, schedule, context.zone, base_url)
        who = views.attendance_view(_entry(item), schedule)
        latest = item.new or item.old
        out.append({
            "session": view,
            "participant": who["name"],
            "role": who["role"],
            "old": _mode(schedule, item.old),
            "new": _mode(schedule, item.new),
            "change": change_phrase(schedule, item),
            "note": latest.note if latest is not None else None,
            "announced": who["announced"],
        })
    return out


def attendance_subject(context: AttendanceNotice) -> str:
    """'Attendance change: Vladimir Putin — video link instead of in person (3 sessions)'."""
    return ": ".join(_attendance_summary(context))


def _attendance_summary(context: AttendanceNotice) -> tuple[str, str]:
    """('Attendance change', 'Vladimir Putin — video link instead of in person (3
    sessions)'): a subject's label and what follows it."""
    schedule = context.schedule
    names = list(dict.fromkeys(_name(schedule, i.participant) for i in context.items))
    phrases = {change_phrase(schedule, i) for i in context.items}
    titles = list(dict.fromkeys(i.session.title for i in context.items))
    keys = {i.session.key for i in context.items}
    where = f"({len(keys)} sessions)" if len(keys) > 1 else f"({titles[0]})"
    if len(names) == 1 and len(phrases) == 1:
        return "Attendance change", f"{names[0]} — {phrases.pop()} {where}"
    return "Attendance changes", f"{', '.join(names)} {where}"


def change_phrase(schedule: Schedule, item: AttendanceItem) -> str:
    old, new = _mode(schedule, item.old), _mode(schedule, item.new)
    if old is None and new is None:
        raise ValueError(f"attendance of {item.participant} changed from nothing to nothing")
    if old is None:
        return f"{new} (newly listed)"
    if new is None:
        return f"no longer listed (was {old})"
    return f"{new} instead of {old}"


def schedule_items(context: ScheduleNotice, base_url: str) -> list[Vars]:
    """One entry per session with something to show: session, headline, lines."""
    out = []
    for item in context.items:
        found = _tags_and_lines(item, context.schedule, context.zone)
        if not found[1]:
            continue
        tags, lines = found
        view = views.session_view(item.after, context.schedule, context.zone, base_url)
        out.append({
            "session": view,
            "headline": ", ".join(TAGS[t][0] for t in tags),
            # The time, unless a line already gives it.
            "when": None if {"moved", "added"} & set(tags) else view["when"],
            "lines": lines,
        })
    return out


def schedule_subject(context: ScheduleNotice) -> str:
    """'Schedule change: SCO Council of Heads of State, Astana — moved to …'."""
    return ": ".join(_schedule_summary(context))


def _schedule_summary(context: ScheduleNotice) -> tuple[str, str]:
    """A schedule subject's label and what follows it (see ``_attendance_summary``)."""
    schedule = context.schedule
    found = [(item, _tags_and_lines(item, schedule, context.zone)[0]) for item in context.items]
    found = [(item, tags) for item, tags in found if tags]
    if len(found) == 1:
        item, tags = found[0]
        after = item.after
        what = "; ".join(_subject_phrase(tag, after, schedule) for tag in tags)
        return "Schedule change", f"{after.title}, {views.place(after, schedule)} — {what}"
    counts = Counter(tag for _, tags in found for tag in tags)
    summary = ", ".join(f"{counts[t]} {TAGS[t][1]}" for t in TAGS if counts[t])
    summits = {item.after.summit for item, _ in found}
    scope = f"{len(found)} sessions"
    if len(summits) == 1 and (summit := schedule.summits.get(summits.pop())) is not None:
        scope += f" of {summit.name}"
    return "Schedule changes", f"{scope} ({summary})"


def _subject_phrase(tag: str, session: Session, schedule: Schedule) -> str:
    if tag == "moved":
        text = f"moved to {wording.venue_when(session)}"
        return text if session.all_day else f"{text} {views.place(session, schedule)} time"
    if tag == "venue":
        return f"new venue: {event_wording.location(session, schedule)}"
    if tag == "added":
        return f"new session, {wording.venue_when(session)}"
    return TAGS[tag][1]


def _tags_and_lines(item: SessionChange, schedule: Schedule,
                    zone: str) -> tuple[list[str], list[Vars]]:
    after, before = item.after, item.before
    place = views.place(after, schedule)
    if before is None:
        return ["added"], [_line("Added", None, wording.when(after, zone, place), added=True)]
    tags: list[str] = []
    lines: list[Vars] = []
    if before.status != after.status:
        tags.append("cancelled" if after.status == SessionStatus.CANCELLED else
                    "reinstated" if before.status == SessionStatus.CANCELLED else "details")
        lines.append(_line("Status", before.status, after.status))
    if _time_key(before) != _time_key(after):
        tags.append("moved")
        old = wording.when(before, zone, views.place(before, schedule))
        lines.append(_line("Time", old, wording.when(after, zone, place)))
    old_venue = event_wording.location(before, schedule)
    new_venue = event_wording.location(after, schedule)
    if old_venue != new_venue:
        tags.append("venue")
        lines.append(_line("Venue", old_venue, new_venue))
    details = [
        _line(label, old, new) for label, old, new in (
            ("Title", before.title, after.title),
            ("Description", before.description, after.description),
            ("Video link", before.video_url, after.video_url),
            ("Organisations", _orgs(before, schedule), _orgs(after, schedule)),
        ) if (old or None) != (new or None)
    ]
    if details and "details" not in tags:
        tags.append("details")
    tags = [t for t in TAGS if t in tags]
    return tags, lines + details


def _line(label: str, old: str | None, new: str | None, added: bool = False) -> Vars:
    """One change: ``old`` is None only for an added session; empty values read '(none)'."""
    def text(value: str | None) -> str:
        return value.strip() if value and value.strip() else "(none)"

    return {"label": label, "old": None if added else text(old), "new": text(new)}


def _time_key(session: Session) -> tuple[object, ...]:
    """What says when a session is; ISO strings keep ``fold`` (the repeated hour)."""
    return (
        session.start.isoformat() if session.start else None,
        session.end.isoformat() if session.end else None,
        session.date, session.end_date if session.all_day else None, session.timezone,
    )


def _orgs(session: Session, schedule: Schedule) -> str | None:
    return ", ".join(event_wording.categories(session, schedule)) or None


def _entry(item: AttendanceItem) -> Attendance:
    entry = item.new or item.old
    if entry is None:
        raise ValueError(f"attendance of {item.participant} changed from nothing to nothing")
    return entry


def _mode(schedule: Schedule, entry: Attendance | None) -> str | None:
    return event_wording.mode_phrase(schedule, entry) if entry is not None else None


def _name(schedule: Schedule, participant: str) -> str:
    return event_wording.participant_name(schedule, participant)
