"""The change log for people: each typed change as a sentence with old → new."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from summitcal.feeds import links
from summitcal.summits.changes import Change, Revision
from summitcal.summits.model import Schedule, mode_label

FIELD_NAMES = {"start": "start", "end": "end", "date": "date", "end_date": "last day",
               "timezone": "time zone", "title": "title", "description": "description",
               "video_url": "video link", "organizations": "organisations", "status": "status",
               "venue": "venue", "name": "name", "role": "role", "city": "city",
               "country": "country", "sources": "sources", "attendance": "attendance order"}


@dataclass(frozen=True)
class ChangeLine:
    subject: str   # "CSTO and SCO summits, Dushanbe 2021 — SCO Council of Heads of State"
    what: str      # "Vladimir Putin's attendance"
    old: str | None
    new: str | None
    note: str | None
    anchor: str | None  # /summits/{summit}#{anchor}: feeds.links.page_path


@dataclass(frozen=True)
class RevisionView:
    revision: Revision
    lines: list[ChangeLine]


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "none"
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if "T" in value:
            offset = moment.strftime("%z")
            return f"{moment:%A %d %B %Y, %H:%M} (UTC{offset[:3]}:{offset[3:]})".replace(
                ":00)", ")").replace("UTC+00)", "UTC)")
        return date.fromisoformat(value).strftime("%A %d %B %Y")
    return str(value)


def describe(change: Change, schedule: Schedule) -> ChangeLine:
    session = schedule.sessions.get((change.summit or "", change.session or ""))
    summit = schedule.summits.get(change.summit or "")
    anchor = None
    if change.session is not None:
        title = session.title if session else change.session
        subject = f"{summit.name if summit else change.summit} — {title}"
        anchor = links.page_path(change.summit or "", change.session)
    elif change.organization is not None:
        org = schedule.organizations.get(change.organization)
        subject = f"Organisation: {org.name if org else change.organization}"
    elif change.participant is not None:
        person = schedule.participants.get(change.participant)
        subject = f"Participant: {person.name if person else change.participant}"
    else:
        subject = f"Summit: {summit.name if summit else change.summit}"
        anchor = f"/summits/{change.summit}"
    what, old, new = _what(change, schedule)
    return ChangeLine(subject, what, old, new, change.note, anchor)


def _what(change: Change, schedule: Schedule) -> tuple[str, str | None, str | None]:
    kind = change.kind
    if kind == "attendance_changed":
        person = schedule.participants.get(change.participant or "")
        name = person.name if person else change.participant
        if change.old is not None and change.old == change.new:  # the mode stays
            what = (change.field or "").removeprefix("attendance.").replace("+", " and ")
            return (f"{name}'s attendance ({mode_label(change.old)}): "
                    f"{(what or 'details').replace('announced', 'announcement date')} changed",
                    None, None)
        return (f"{name}'s attendance", mode_label(change.old) if change.old else "not listed",
                mode_label(change.new) if change.new else "not listed")
    if kind == "added":
        return ("added", None, _text(change.new))
    if kind == "cancelled":
        return ("cancelled", None, None)
    if kind == "reinstated":
        return ("reinstated", _text(change.old), _text(change.new))
    label = FIELD_NAMES.get(change.field or "", change.field or "details")
    return (label, _text(change.old), _text(change.new))


def revision_views(history: list[tuple[Revision, list[Change]]],
                   schedule: Schedule) -> list[RevisionView]:
    return [RevisionView(revision, [describe(c, schedule) for c in changes])
            for revision, changes in history]
