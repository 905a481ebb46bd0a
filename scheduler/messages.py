"""The kinds of message, and what each is about: the contexts a caller hands to ``compose``.

``MessageKind`` names every kind an outbox row can be (its ``kind`` column); the
registry of their renderers is ``scheduler.renderers.registry``. One frozen dataclass per
templated kind, holding domain objects (sessions, the schedule, the reader's zone), never
pre-rendered text: ``scheduler.views`` turns them into template variables and
``scheduler.compose`` into an email. The kind names are the template names in
``templates/email/`` (``reminder.txt``, ``reminder.html``, …). ``Withdrawn`` is how a
renderer says a message must not be sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import ClassVar, Literal

from summitcal.summits.changes import Change
from summitcal.summits.model import Attendance, Schedule, Session

NOTICE_KINDS = ("attendance", "schedule")


class MessageKind(StrEnum):
    """What an outbox row is (its ``kind`` column holds the value), and for every kind
    but ``TEST`` the name of its templates (``templates/email/reminder.txt``, …)."""

    TEST = "test"  # summitcal send-test: proof that the transport works
    CONFIRM = "confirm"  # double opt-in
    WELCOME = "welcome"
    REMINDER = "reminder"
    ATTENDANCE_CHANGE = "attendance_change"
    SCHEDULE_CHANGE = "schedule_change"
    CHANGES = "changes"  # attendance and schedule changes in one message


class Withdrawn(Exception):
    """Raised while rendering: this message must not be sent, now or later.

    Not an error: the reason to send it is gone. ``status`` is what its outbox row
    becomes: ``cancelled`` (the subscriber left or no longer asks for it, the session
    moved or was cancelled) or ``expired`` (too late: the session has started). ``str()``
    is the reason, recorded as the row's ``last_error``. Delivery
    (``scheduler.delivery.deliver``) closes the row with ``outbox.mark_closed`` and sends
    nothing.
    """

    def __init__(self, reason: str,
                 status: Literal["cancelled", "expired"] = "cancelled") -> None:
        if status not in ("cancelled", "expired"):
            raise ValueError(f"a withdrawn message is cancelled or expired, not {status!r}")
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Confirm:
    """Double opt-in: the link whose page confirms the subscription (with a POST)."""

    kind: ClassVar[MessageKind] = MessageKind.CONFIRM
    confirm_url: str


@dataclass(frozen=True, slots=True)
class Welcome:
    """Sent once confirmed: the private feed, the manage page and what was chosen.

    ``follows`` are the subscription's raw follow specs (``all``, ``summit:ID``,
    ``session:SUMMIT/SESSION``, ``organization:ID``, ``participant:ID``); ``reminders``
    the offsets before a session's start; ``notices`` a subset of ``NOTICE_KINDS``.
    ``how`` says what happened, for the wording: ``confirmed`` (the reader confirmed),
    ``operator`` (an operator added the address, confirmed, without asking the reader)
    or ``again`` (a sign-up for an address already subscribed: nothing changed).
    """

    kind: ClassVar[MessageKind] = MessageKind.WELCOME
    feed_url: str
    manage_url: str
    zone: str
    follows: tuple[str, ...]
    reminders: tuple[timedelta, ...]
    notices: tuple[str, ...]
    schedule: Schedule
    how: str = "confirmed"


@dataclass(frozen=True, slots=True)
class Reminder:
    """``offset`` before ``session`` starts; the session as it is when the message is sent.

    ``late``: the message goes out noticeably after its time (see
    ``scheduler.plans.ON_TIME``), so it must not say "in <offset>": it gives the start
    as a date and time in both zones instead.
    """

    kind: ClassVar[MessageKind] = MessageKind.REMINDER
    session: Session
    schedule: Schedule
    zone: str
    offset: timedelta
    manage_url: str
    late: bool = False


@dataclass(frozen=True, slots=True)
class AttendanceItem:
    """How one participant's attendance at one session changed.

    ``session`` is the session now; ``old``/``new`` the participant's entries before and
    after (``None``: not listed). ``from_change`` builds one from a typed change.
    """

    session: Session
    participant: str
    old: Attendance | None
    new: Attendance | None

    @classmethod
    def from_change(cls, change: Change, session: Session) -> AttendanceItem:
        if change.kind != "attendance_changed" or change.participant is None:
            raise ValueError(f"not an attendance change: {change}")
        now = session.attendance_of(change.participant)
        if change.new is None:
            new = None
        elif now is not None and now.mode == change.new:
            new = now
        else:
            new = Attendance(change.participant, change.new, note=change.note)
        old = Attendance(change.participant, change.old) if change.old is not None else None
        return cls(session, change.participant, old, new)


@dataclass(frozen=True, slots=True)
class AttendanceNotice:
    """One or more attendance changes, merged into one message for one subscriber."""

    kind: ClassVar[MessageKind] = MessageKind.ATTENDANCE_CHANGE
    items: tuple[AttendanceItem, ...]
    schedule: Schedule
    zone: str
    manage_url: str


@dataclass(frozen=True, slots=True)
class SessionChange:
    """A session before and after the changes a notice reports (``before=None``: added)."""

    before: Session | None
    after: Session


@dataclass(frozen=True, slots=True)
class ScheduleNotice:
    """Changes to one or more sessions' time, venue, status or details, old → new."""

    kind: ClassVar[MessageKind] = MessageKind.SCHEDULE_CHANGE
    items: tuple[SessionChange, ...]
    schedule: Schedule
    zone: str
    manage_url: str


@dataclass(frozen=True, slots=True)
class ChangesNotice:
    """Attendance and schedule changes in one message, for a subscriber who asked for
    both kinds of notice and whose closing windows hold both (SPEC: one message per
    subscriber per closing). Each part is shown as its own notice would show it."""

    kind: ClassVar[MessageKind] = MessageKind.CHANGES
    attendance: AttendanceNotice
    changes: ScheduleNotice

    @property
    def manage_url(self) -> str:
        return self.attendance.manage_url


Context = Confirm | Welcome | Reminder | AttendanceNotice | ScheduleNotice | ChangesNotice
#: The context class of each templated kind.
KINDS: dict[MessageKind, type] = {
    cls.kind: cls for cls in (Confirm, Welcome, Reminder, AttendanceNotice, ScheduleNotice,
                              ChangesNotice)
}
