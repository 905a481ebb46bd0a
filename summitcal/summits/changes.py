"""Typed changes between two schedules, and what a revision does to the stored sessions.

Pure functions, no I/O. ``diff`` says what changed; ``revise`` also returns the sessions
to store with their bookkeeping (``sequence``, ``last_modified``, ``cancelled_at``).

A change with ``session=None`` is about a record rather than a session: ``added`` or
``details_changed`` of a summit (``summit`` set), an organisation (``organization``
set) or a participant (``participant`` set). Their names appear in the event text, so
a record's ``details_changed`` also bumps the sequence of every session that shows it.

Fields are compared by their JSON value, not with ``Session.content() ==``: two
datetimes with the same ``ZoneInfo`` compare by wall time and ignore ``fold``, so a
move between the two occurrences of a repeated hour would go unnoticed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from summitcal.summits.model import Attendance, Schedule, Session, SessionStatus

KINDS = (
    "added",
    "time_changed",
    "venue_changed",
    "cancelled",
    "reinstated",
    "details_changed",
    "attendance_changed",
)
TIME_FIELDS = ("start", "end", "date", "end_date", "timezone")
DETAIL_FIELDS = ("title", "description", "video_url", "organizations")
REMOVED_NOTE = "removed from the schedule file"


@dataclass(frozen=True, slots=True)
class Change:
    """One typed change. ``old``/``new`` are JSON values: ISO strings for times and
    dates, lists for organisations, mode strings (or None) for attendance. An attendance
    change's ``field`` is ``attendance``, or, when the mode stays, what changed
    (``attendance.note``, ``attendance.delegate``, ``attendance.announced``, joined by
    ``+``)."""

    kind: str
    summit: str | None = None
    session: str | None = None
    participant: str | None = None
    organization: str | None = None
    field: str | None = None
    old: Any = None
    new: Any = None
    note: str | None = None

    def __str__(self) -> str:
        if self.session is not None:
            where = f"{self.summit}/{self.session}"
        elif self.organization is not None:
            where = f"organization {self.organization}"
        elif self.participant is not None:
            where = f"participant {self.participant}"
        else:
            where = f"summit {self.summit}"
        text = f"{where}: {self.kind.replace('_', ' ')}"
        if self.kind == "attendance_changed" and self.old == self.new:
            what = (self.field or "").removeprefix("attendance.").replace("+", " and ")
            text += f" {self.participant} {self.old}: {what or 'details'} changed"
        elif self.kind == "attendance_changed":
            text += f" {self.participant} {self.old or '-'} -> {self.new or '-'}"
        elif self.field is not None:
            text += f" {self.field} {self.old!r} -> {self.new!r}"
        return f"{text} ({self.note})" if self.note else text


@dataclass(frozen=True, slots=True)
class Revision:
    id: int
    created_at: datetime
    source: str
    summary: str


def diff(old: Schedule, new: Schedule, summits: AbstractSet[str]) -> list[Change]:
    """What changes from ``old`` (the store) to ``new`` (the loaded files).

    ``summits`` are the summits the files were loaded for: their sessions missing from
    ``new`` count as cancelled. Sessions of other summits are left as they are.
    """
    return _diff(old, new, _targets(old, new, summits))


def revise(
    old: Schedule, new: Schedule, summits: AbstractSet[str], now: datetime
) -> tuple[list[Change], list[Session]]:
    """``diff`` plus the sessions to write, each bumped at most once (new ones start at 0)."""
    targets = _targets(old, new, summits)
    changes = _diff(old, new, targets)
    touched = {(c.summit, c.session) for c in changes if c.summit and c.session}
    state = dict(old.sessions) | {key: after for key, (_, after, _) in targets.items()}
    changed = ChangedRecords.of(changes)
    if changed:
        touched |= {s.key for s in state.values() if changed.shown_by(s)}
    return changes, [_stored(old.sessions.get(key), state[key], now) for key in sorted(touched)]


def summarize(changes: Iterable[Change]) -> str:
    """One line for a revision: the change itself, or counts by kind."""
    changes = list(changes)
    if len(changes) == 1:
        return str(changes[0])
    counts = Counter(c.kind for c in changes)
    parts = [f"{counts[k]} {k.replace('_', ' ')}" for k in KINDS if counts[k]]
    return f"{len(changes)} changes: " + ", ".join(parts)


Target = tuple[Session | None, Session, str | None]  # (stored, wanted, note)


def _targets(
    old: Schedule, new: Schedule, summits: AbstractSet[str]
) -> dict[tuple[str, str], Target]:
    """Each session the load speaks about, with a note saying why when it is not in ``new``."""
    targets: dict[tuple[str, str], Target] = {
        key: (old.sessions.get(key), s, None) for key, s in new.sessions.items()
    }
    for key, stored in old.sessions.items():
        if (key not in new.sessions and stored.summit in summits
                and stored.status != SessionStatus.CANCELLED):
            targets[key] = (stored, replace(stored, status=SessionStatus.CANCELLED), REMOVED_NOTE)
    return targets


def _diff(old: Schedule, new: Schedule, targets: dict[tuple[str, str], Target]) -> list[Change]:
    changes = _record_changes(old, new)
    for _, (before, after, note) in sorted(targets.items()):
        changes += _session_changes(before, after, note)
    return changes


def _session_changes(before: Session | None, after: Session, note: str | None) -> list[Change]:
    def change(kind: str, field: str | None, old: Any = None, new: Any = None) -> Change:
        return Change(kind, after.summit, after.id, field=field, old=old, new=new, note=note)

    if before is None:
        return [change("added", None, new=after.title)]
    changes = []
    if before.status != after.status:
        if after.status == SessionStatus.CANCELLED:
            kind = "cancelled"
        elif before.status == SessionStatus.CANCELLED:
            kind = "reinstated"
        else:
            kind = "details_changed"
        changes.append(change(kind, "status", str(before.status), str(after.status)))
    for kind, fields in (
        ("time_changed", TIME_FIELDS),
        ("venue_changed", ("venue",)),
        ("details_changed", DETAIL_FIELDS),
    ):
        for name in fields:
            was, now = as_json(getattr(before, name)), as_json(getattr(after, name))
            if was != now:
                changes.append(change(kind, name, was, now))
    return changes + _attendance_changes(before, after)


def _attendance_changes(before: Session, after: Session) -> list[Change]:
    old = {a.participant: a for a in before.attendance}
    new = {a.participant: a for a in after.attendance}
    changes = []
    for participant in [*new, *(p for p in old if p not in new)]:
        was, now = old.get(participant), new.get(participant)
        if was != now:
            changes.append(_attendance_change(after, participant, was, now))
    if not changes and list(old) != list(new):
        changes.append(
            Change(
                "details_changed",
                after.summit,
                after.id,
                field="attendance",
                old=list(old),
                new=list(new),
            )
        )
    return changes


def _attendance_change(
    session: Session, participant: str, was: Attendance | None, now: Attendance | None
) -> Change:
    return Change(
        "attendance_changed",
        session.summit,
        session.id,
        participant=participant,
        field=_attendance_field(was, now),
        old=str(was.mode) if was else None,  # JSON values: plain strings
        new=str(now.mode) if now else None,
        note=entry.note if (entry := now or was) else None,
    )


ENTRY_PARTS = ("delegate", "note", "announced")


def _attendance_field(was: Attendance | None, now: Attendance | None) -> str:
    """``attendance`` when the mode changes (or the entry comes or goes); else what did
    change, e.g. ``attendance.note`` or ``attendance.delegate+note``."""
    if was is None or now is None or was.mode != now.mode:
        return "attendance"
    parts = [p for p in ENTRY_PARTS if getattr(was, p) != getattr(now, p)]
    return "attendance." + "+".join(parts)


def _record_changes(old: Schedule, new: Schedule) -> list[Change]:
    changes = []
    for kind, attr, fields in (
        ("summit", "summits", ("name", "city", "country", "timezone", "sources")),
        ("organization", "organizations", ("name",)),
        ("participant", "participants", ("name", "role")),
    ):
        stored = getattr(old, attr)
        for ident, record in sorted(getattr(new, attr).items()):
            if ident not in stored:
                changes.append(Change("added", **{kind: ident}, new=record.name))
                continue
            for name in fields:
                was, now = as_json(getattr(stored[ident], name)), as_json(getattr(record, name))
                if was != now:
                    changes.append(
                        Change("details_changed", **{kind: ident}, field=name, old=was, new=now)
                    )
    return changes


@dataclass(frozen=True, slots=True)
class ChangedRecords:
    """The records whose details changed, as sets: whether a session shows one costs the
    size of that session, not the number of changes (a first load has one per session)."""

    summits: frozenset[str]
    organizations: frozenset[str]
    participants: frozenset[str]

    @classmethod
    def of(cls, changes: Iterable[Change]) -> ChangedRecords:
        details = [c for c in changes if c.session is None and c.kind == "details_changed"]
        return cls(
            summits=frozenset(c.summit for c in details if c.summit is not None
                              and c.organization is None and c.participant is None),
            organizations=frozenset(c.organization for c in details
                                    if c.organization is not None),
            participants=frozenset(c.participant for c in details if c.participant is not None),
        )

    def __bool__(self) -> bool:
        return bool(self.summits or self.organizations or self.participants)

    def shown_by(self, session: Session) -> bool:
        """Whether the event text of ``session`` shows one of these records."""
        if session.summit in self.summits:
            return True
        if not self.organizations.isdisjoint(session.organizations):
            return True
        return any(a.participant in self.participants or a.delegate in self.participants
                   for a in session.attendance)


def _stored(before: Session | None, after: Session, now: datetime) -> Session:
    cancelled = after.status == SessionStatus.CANCELLED
    if before is None:
        return after.stamped(0, now, now if cancelled else None)
    if not cancelled:
        cancelled_at = None
    elif before.status == SessionStatus.CANCELLED:
        cancelled_at = before.cancelled_at or now
    else:
        cancelled_at = now
    return after.stamped(before.sequence + 1, now, cancelled_at)


def as_json(value: Any) -> Any:
    """A field's value as JSON: ISO strings (datetimes keep their offset, hence fold)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (tuple, list)):
        return [as_json(v) for v in value]
    return value
