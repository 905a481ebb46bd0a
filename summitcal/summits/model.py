"""The domain: summits, organisations, participants, sessions and attendance.

Plain frozen dataclasses with no I/O. Timed sessions carry aware datetimes in the
session's own zone (``ZoneInfo``, with ``fold`` set for repeated hours); all-day
sessions carry dates, ``end_date`` inclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from operator import attrgetter
from typing import Any
from zoneinfo import ZoneInfo

#: ``date`` under another name, for annotations in ``Session``, whose field ``date``
#: hides the type there.
Day = date


class AttendanceMode(StrEnum):
    """How a participant attends a session (``attendance.mode``); ``delegated`` names a
    ``delegate`` who attends instead."""

    IN_PERSON = "in_person"
    VIDEO = "video"
    DELEGATED = "delegated"
    ABSENT = "absent"
    UNKNOWN = "unknown"


class SessionStatus(StrEnum):
    """A session's status (``sessions.status``; iCalendar STATUS, RFC 5545 3.8.1.11)."""

    CONFIRMED = "confirmed"
    TENTATIVE = "tentative"
    CANCELLED = "cancelled"


MODES = tuple(mode.value for mode in AttendanceMode)  # plain strings (click, CHECKs)
MODE_LABELS: dict[str, str] = {
    AttendanceMode.IN_PERSON: "in person",
    AttendanceMode.VIDEO: "video link",
    AttendanceMode.DELEGATED: "delegated",
    AttendanceMode.ABSENT: "absent",
    AttendanceMode.UNKNOWN: "attendance unknown",
}
STATUSES = tuple(status.value for status in SessionStatus)


class FollowKind(StrEnum):
    """What a subscriber follows (``summits.follow.Follow``); the values are the
    ``subscriber_follows.kind`` column's."""

    ALL = "all"
    SUMMIT = "summit"
    SESSION = "session"
    ORGANIZATION = "organization"
    PARTICIPANT = "participant"


@dataclass(frozen=True, slots=True)
class Organization:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Participant:
    id: str
    name: str
    role: str = ""


@dataclass(frozen=True, slots=True)
class Attendance:
    participant: str
    mode: AttendanceMode
    delegate: str | None = None
    note: str | None = None
    announced: date | None = None


@dataclass(frozen=True, slots=True)
class Summit:
    id: str
    name: str
    city: str
    country: str
    timezone: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Session:
    """One session of a summit.

    Exactly one of (``start``) or (``date``) is set. ``start``/``end`` are aware
    datetimes whose tzinfo is ``ZoneInfo(self.timezone)``. ``sequence`` and
    ``last_modified`` are kept by the store; a schedule file leaves them at their
    defaults.
    """

    summit: str
    id: str
    title: str
    timezone: str
    organizations: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    date: date | None = None
    end_date: Day | None = None
    venue: str | None = None
    status: SessionStatus = SessionStatus.CONFIRMED
    description: str | None = None
    video_url: str | None = None
    attendance: tuple[Attendance, ...] = ()
    sequence: int = 0
    last_modified: datetime | None = None
    cancelled_at: datetime | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.summit, self.id)

    @property
    def event_key(self) -> str:
        """See :func:`event_key`."""
        return event_key(self.summit, self.id)

    @property
    def all_day(self) -> bool:
        return self.start is None

    @property
    def first_day(self) -> Day:
        if self.start is not None:
            return self.start.date()
        assert self.date is not None
        return self.date

    @property
    def last_day(self) -> Day:
        """Last local day the session touches (inclusive)."""
        if self.start is not None:
            end = self.end or self.start
            return end.date()
        assert self.date is not None
        return self.end_date or self.date

    @property
    def starts_at(self) -> datetime:
        """The instant the session starts (all-day: local midnight in its zone), UTC."""
        if self.start is not None:
            return self.start.astimezone(UTC)
        return _local_midnight(self.first_day, self.timezone)

    @property
    def ends_at(self) -> datetime:
        """The instant the session ends (all-day: midnight after the last day), UTC."""
        if self.start is not None:
            return (self.end or self.start).astimezone(UTC)
        return _local_midnight(self.last_day + timedelta(days=1), self.timezone)

    def attendance_of(self, participant: str) -> Attendance | None:
        for item in self.attendance:
            if item.participant == participant:
                return item
        return None

    def content(self) -> Session:
        """The session without the store's bookkeeping, for comparisons."""
        return replace(self, sequence=0, last_modified=None, cancelled_at=None)

    def stamped(self, sequence: int, last_modified: datetime | None,
                cancelled_at: datetime | None) -> Session:
        """The session with the store's bookkeeping set: ``replace`` with those three
        fields, for a fraction of its cost (a cold load stamps every session)."""
        made: Session = _STAMPED(*_CONTENT_FIELDS(self), sequence, last_modified, cancelled_at)
        return made


_BOOKKEEPING = ("sequence", "last_modified", "cancelled_at")
assert tuple(f.name for f in fields(Session))[-3:] == _BOOKKEEPING
_STAMPED: Any = Session  # called with the fields in order (mypy cannot count them)
_CONTENT_FIELDS = attrgetter(*(f.name for f in fields(Session) if f.name not in _BOOKKEEPING))


def _local_midnight(day: date, zone: str) -> datetime:
    # Midnight can fall in a gap (e.g. America/Havana); zoneinfo then resolves it
    # forward consistently with fold=0, which is what calendars do too.
    return datetime.combine(day, time(0), tzinfo=ZoneInfo(zone)).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Schedule:
    """Everything read from a set of schedule files (or held by the store)."""

    summits: dict[str, Summit] = field(default_factory=dict)
    organizations: dict[str, Organization] = field(default_factory=dict)
    participants: dict[str, Participant] = field(default_factory=dict)
    sessions: dict[tuple[str, str], Session] = field(default_factory=dict)

    def sessions_of(self, summit: str) -> list[Session]:
        return [s for s in self.sessions.values() if s.summit == summit]


def event_key(summit: str, session: str) -> str:
    """``{summit}-{session}``: a session's calendar UID before ``@host``, and its anchor on
    the summit's page (``feeds.links``).

    Both ids may contain "-", so two sessions can give the same key ("sco-2025" +
    "council" and "sco" + "2025-council"), and calendar apps merge events that share a
    UID. Loading refuses a session whose key another session already has (naming both,
    see ``schedule_file`` and ``store``), so a key — and a UID — stands for one session.
    The form itself stays: it is in subscribers' calendars already (RFC 5545, 3.8.4.7:
    a UID must not change), and a new form would orphan every event they imported.
    """
    return f"{summit}-{session}"


def mode_label(mode: str) -> str:
    return MODE_LABELS.get(mode, mode)
