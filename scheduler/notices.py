"""Change notices: changes to a session, merged over ``notices.delay``, one message per
subscriber and kind.

The engine follows the store's revisions with a cursor kept in the database, so it learns
about changes made by any process, and resumes where it stopped after a restart::

    ingest(connection, now, delay)   # new revisions → open or extend windows
    close_due(connection, now)       # quiet windows → outbox rows (attendance_change,
                                     # schedule_change), in the same transaction

A *window* is per session: it opens at the first change the cursor sees and closes
``delay`` after the last one (no maximum length). It remembers the session as it was
before its first change (from ``session_snapshots``, the session as of the cursor).
Closing compares that state with the session as it is then — not the raw list of changes
— so a change undone within the window sends nothing. Windows that close in the same
pass are merged: each subscriber gets at most one message per pass, covering every
session they care about: ``attendance_change`` or ``schedule_change`` when only one kind
concerns them, ``changes`` (both parts, ``MERGED``) when they asked for both kinds and
both happened (SPEC: "attendance and schedule changes together").

What counts:
- attendance: a participant listed, unlisted, or with another mode or delegate (a note
  alone does not make a notice; the note is shown with the change);
- schedule: time, time zone, venue, status, title, description, video link or
  organisations; a new session (``added``), except the sessions of a summit that is new
  in the same revision (a first import is not news).

Recipients: confirmed subscribers who asked for the kind and follow ``all``, the
session's summit, the session, one of its organisations (before or after), or — for
attendance — the participant whose attendance changed, and — for schedule changes — any
participant listed (before or after). Rows expire 24 hours after they are queued; their
idempotency key names the kind, the subscriber and the windows (``notice_key``), and the
windows are closed in the transaction that queues the messages, so a re-run queues
nothing twice and a window is in at most one message per subscriber. The payload is JSON
that ``notice_context`` turns back into a message.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import JSON, CheckConstraint, Column, Index, Integer, String, Table
from sqlalchemy.engine import Connection

from summitcal.mail import outbox
from summitcal.scheduler.messages import (
    AttendanceItem,
    AttendanceNotice,
    ChangesNotice,
    MessageKind,
    ScheduleNotice,
    SessionChange,
)
from summitcal.subscriptions import tables as st
from summitcal.subscriptions.tables import SubscriberStatus
from summitcal.summits import rows
from summitcal.summits import tables as t
from summitcal.summits.changes import Change
from summitcal.summits.follow import AnyOf, Follow, FollowColumns, Scope, covers_any, follow_sql
from summitcal.summits.model import (
    Attendance,
    AttendanceMode,
    Schedule,
    Session,
    SessionStatus,
)

log = logging.getLogger("summitcal.notices")

EXPIRY = timedelta(hours=24)
#: The message kind of each kind of notice a subscriber can ask for (``NOTICE_KINDS``).
KINDS = {"attendance": MessageKind.ATTENDANCE_CHANGE, "schedule": MessageKind.SCHEDULE_CHANGE}
#: The kind of one message holding both (payload: ``windows``, and ``attendance`` and
#: ``schedule`` each as the single kind's payload).
MERGED = MessageKind.CHANGES
MESSAGE_KINDS = (*KINDS.values(), MERGED)
WINDOW_STATUSES = ("open", "closed", "quiet")
SCHEDULE_FIELDS = ("title", "timezone", "start", "start_fold", "end", "end_fold", "date",
                   "end_date", "venue", "status", "description", "video_url", "organizations")

notice_cursor = Table(
    "notice_cursor",
    t.metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),  # always 1
    Column("revision", Integer, nullable=False),  # the last revision ingested
    Column("updated_at", t.UtcDateTime, nullable=False),
)

# The session as of the cursor: what a window opening now remembers as "before".
session_snapshots = Table(
    "session_snapshots",
    t.metadata,
    Column("summit", String(100), primary_key=True),
    Column("session", String(100), primary_key=True),
    Column("revision", Integer, nullable=False),
    Column("state", JSON, nullable=False),
)

notice_windows = Table(
    "notice_windows",
    t.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("summit", String(100), nullable=False),
    Column("session", String(100), nullable=False),
    Column("status", String(16), nullable=False),
    Column("before", JSON(none_as_null=True)),  # NULL: the session is new
    Column("first_revision", Integer, nullable=False),
    Column("last_revision", Integer, nullable=False),
    Column("opened_at", t.UtcDateTime, nullable=False),  # first change (revision time)
    Column("last_change_at", t.UtcDateTime, nullable=False),
    Column("due_at", t.UtcDateTime, nullable=False),  # last_change_at + delay
    Column("closed_at", t.UtcDateTime),
    Column("messages", Integer),  # outbox rows queued when it closed
    CheckConstraint(t.one_of("status", WINDOW_STATUSES), name="status"),
    Index(None, "status", "due_at"),
    Index(None, "summit", "session"),
)


# --- sessions as JSON ---------------------------------------------------------------------


def state(session: Session) -> dict[str, Any]:
    """A session as JSON: wall times (naive ISO + fold) in its zone, like the store."""

    def wall(value: datetime | None) -> tuple[str | None, int]:
        if value is None:
            return None, 0
        local = value.astimezone(ZoneInfo(session.timezone))
        return local.replace(tzinfo=None, fold=0).isoformat(), local.fold

    start, start_fold = wall(session.start)
    end, end_fold = wall(session.end)
    return {
        "summit": session.summit, "id": session.id, "title": session.title,
        "timezone": session.timezone, "organizations": list(session.organizations),
        "start": start, "start_fold": start_fold, "end": end, "end_fold": end_fold,
        "date": _iso(session.date), "end_date": _iso(session.end_date),
        "venue": session.venue, "status": session.status,
        "description": session.description, "video_url": session.video_url,
        "attendance": [_entry_state(a) for a in session.attendance],
        "sequence": session.sequence, "last_modified": _iso(session.last_modified),
        "cancelled_at": _iso(session.cancelled_at),
    }


def from_state(data: Mapping[str, Any]) -> Session:
    zone = ZoneInfo(data["timezone"])

    def wall(text: str | None, fold: int) -> datetime | None:
        return None if text is None else datetime.fromisoformat(text).replace(tzinfo=zone,
                                                                              fold=fold)

    return Session(
        summit=data["summit"], id=data["id"], title=data["title"], timezone=data["timezone"],
        organizations=tuple(data["organizations"]),
        start=wall(data["start"], data["start_fold"]), end=wall(data["end"], data["end_fold"]),
        date=_day(data["date"]), end_date=_day(data["end_date"]), venue=data["venue"],
        status=SessionStatus(data["status"]), description=data["description"],
        video_url=data["video_url"],
        attendance=tuple(_attendance(a) for a in data["attendance"]),
        sequence=data["sequence"],
        last_modified=_instant(data["last_modified"]),
        cancelled_at=_instant(data["cancelled_at"]),
    )


def _entry_state(entry: Attendance | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {"participant": entry.participant, "mode": entry.mode, "delegate": entry.delegate,
            "note": entry.note, "announced": _iso(entry.announced)}


def _entry(data: Mapping[str, Any] | None) -> Attendance | None:
    if data is None:
        return None
    return Attendance(data["participant"], AttendanceMode(data["mode"]),
                      data.get("delegate"), data.get("note"), _day(data.get("announced")))


def _attendance(data: Mapping[str, Any]) -> Attendance:
    entry = _entry(data)
    assert entry is not None
    return entry


def _iso(value: date | datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


# --- following the revisions --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ingested:
    """What one ``ingest`` saw: the revisions (ids) and the sessions they touched."""

    revisions: tuple[int, ...] = ()
    sessions: frozenset[tuple[str, str]] = frozenset()
    opened: int = 0


def cursor(connection: Connection) -> int | None:
    return connection.scalar(sa.select(notice_cursor.c.revision).where(notice_cursor.c.id == 1))


def prepare(connection: Connection, now: datetime) -> bool:
    """On the very first run on a database: start the cursor at its latest revision (and
    remember every session as it is). True if it did."""
    if cursor(connection) is not None:
        return False
    _start(connection, now)
    return True


def ingest(connection: Connection, now: datetime, delay: timedelta) -> Ingested:
    """Open or extend windows for the revisions after the cursor; move the cursor.

    Run in a ``core.database.writing`` transaction (no revision lands meanwhile, so the
    sessions read are exactly the state after the last revision read). The first run on
    a database starts at its latest revision: earlier history sends nothing.
    """
    if prepare(connection, now):
        return Ingested()
    seen = cursor(connection) or 0
    query = sa.select(t.revisions).where(t.revisions.c.id > seen).order_by(t.revisions.c.id)
    revisions = rows.read_revisions(connection, query)
    if not revisions:
        return Ingested()
    touched: dict[tuple[str, str], _Touch] = {}
    for revision, changes in revisions:
        new_summits = {c.summit for c in changes
                       if c.kind == "added" and c.session is None and c.summit is not None
                       and c.organization is None and c.participant is None}
        for change in changes:
            if change.session is None or change.summit is None:
                continue
            touch = touched.setdefault((change.summit, change.session),
                                       _Touch(revision.id, revision.created_at))
            touch.last_revision, touch.last_at = revision.id, revision.created_at
            touch.changes.append((revision.id, revision.created_at, change))
            if change.kind == "added" and touch.first_revision == revision.id:
                touch.added, touch.new_summit = True, change.summit in new_summits
    # Only the touched sessions' summits: a change to one session must not read all of
    # them (at 50,000 sessions that held the process for seconds after every change).
    sessions = rows.read_sessions(connection, summits=sorted({key[0] for key in touched}))
    opened = _update_windows(connection, touched, sessions, now, delay)
    last = revisions[-1][0].id
    _save_snapshots(connection, [sessions[k] for k in touched if k in sessions], last)
    connection.execute(sa.update(notice_cursor).where(notice_cursor.c.id == 1)
                       .values(revision=last, updated_at=now))
    return Ingested(tuple(r.id for r, _ in revisions), frozenset(touched), opened)


@dataclass(slots=True)
class _Touch:
    first_revision: int
    first_at: datetime
    last_revision: int = 0
    last_at: datetime | None = None
    added: bool = False
    new_summit: bool = False
    changes: list[tuple[int, datetime, Change]] = field(default_factory=list)

    def after_first(self) -> list[tuple[int, datetime, Change]]:
        """The changes of the revisions after the first one."""
        return [item for item in self.changes if item[0] != self.first_revision]


#: Summits whose sessions the first run reads and remembers at a time: its memory is one
#: batch's sessions, not every session (at 50,000 sessions, all at once took 400 MB).
START_BATCH = 20


def _start(connection: Connection, now: datetime) -> None:
    """First run: the cursor at the latest revision, every session's state remembered,
    a batch of summits at a time."""
    latest = connection.scalar(sa.select(sa.func.max(t.revisions.c.id))) or 0
    connection.execute(sa.insert(notice_cursor).values(id=1, revision=latest, updated_at=now))
    connection.execute(sa.delete(session_snapshots))
    summits = list(connection.scalars(sa.select(t.summits.c.id).order_by(t.summits.c.id)))
    for first in range(0, len(summits), START_BATCH):
        batch = rows.read_sessions(connection, summits=summits[first:first + START_BATCH])
        _insert_snapshots(connection, batch.values(), latest)


def _save_snapshots(connection: Connection, sessions: Iterable[Session], revision: int) -> None:
    """Remember ``sessions`` as of ``revision``, replacing what was remembered of them."""
    sessions = list(sessions)
    if not sessions:
        return
    snap = session_snapshots
    keys = [(s.summit, s.id) for s in sessions]
    connection.execute(sa.delete(snap).where(sa.tuple_(snap.c.summit, snap.c.session).in_(keys)))
    _insert_snapshots(connection, sessions, revision)


def _insert_snapshots(connection: Connection, sessions: Iterable[Session],
                      revision: int) -> None:
    rows.insert_many(connection, session_snapshots, [
        {"summit": s.summit, "session": s.id, "revision": revision, "state": state(s)}
        for s in sessions])


def _update_windows(connection: Connection, touched: Mapping[tuple[str, str], _Touch],
                    sessions: Mapping[tuple[str, str], Session], now: datetime,
                    delay: timedelta) -> int:
    w, snap = notice_windows, session_snapshots
    keys = list(touched)
    open_windows = {(r.summit, r.session): r for r in connection.execute(
        sa.select(w).where(w.c.status == "open",
                           sa.tuple_(w.c.summit, w.c.session).in_(keys)))} if keys else {}
    before = {(r.summit, r.session): r.state for r in connection.execute(
        sa.select(snap).where(sa.tuple_(snap.c.summit, snap.c.session).in_(keys)))} \
        if keys else {}
    opened = 0
    for key, touch in touched.items():
        assert touch.last_at is not None
        window = open_windows.get(key)
        if window is not None:
            last_at = max(window.last_change_at, touch.last_at)
            connection.execute(sa.update(w).where(w.c.id == window.id).values(
                last_revision=touch.last_revision, last_change_at=last_at,
                due_at=last_at + delay))
            continue
        if key not in sessions:
            continue
        first, first_at, state_before = touch.first_revision, touch.first_at, before.get(key)
        if key not in before:
            if not touch.added:
                log.warning("no earlier state of %s/%s: its changes send no notice", *key)
                continue
            if touch.new_summit:
                # The first import of a summit is not news, but what changed after it in
                # the same batch of revisions is: the window starts after the import.
                later = touch.after_first()
                if not later:
                    continue
                first, first_at = later[0][0], later[0][1]
                state_before = state(revert(sessions[key], [c for _, _, c in later]))
        connection.execute(sa.insert(w).values(
            summit=key[0], session=key[1], status="open", before=state_before,
            first_revision=first, last_revision=touch.last_revision,
            opened_at=first_at, last_change_at=touch.last_at,
            due_at=touch.last_at + delay))
        opened += 1
    return opened


def revert(session: Session, changes: Sequence[Change]) -> Session:
    """``session`` as it was before ``changes`` (its own, oldest first) were made.

    Exact for every field a change records old → new; for attendance, the old mode is
    exact but its note, delegate and announcement date are not recorded (left empty).
    """
    values: dict[str, Any] = {}
    attendance = {a.participant: a for a in session.attendance}
    order = list(attendance)
    for change in reversed(changes):
        if change.kind == "attendance_changed" and change.participant is not None:
            person = change.participant
            if change.old is None:
                attendance.pop(person, None)
            else:
                note = change.note if change.new is None else None
                attendance[person] = Attendance(person, AttendanceMode(change.old), note=note)
                if person not in order:
                    order.append(person)
        elif change.field == "attendance" and isinstance(change.old, list):
            order = list(change.old)
        elif change.field == "organizations":
            values["organizations"] = tuple(change.old or ())
        elif change.field in ("start", "end"):
            values[change.field] = (None if change.old is None
                                    else datetime.fromisoformat(change.old))
        elif change.field in ("date", "end_date"):
            values[change.field] = _day(change.old)
        elif change.field is not None and change.field in Session.__dataclass_fields__:
            values[change.field] = change.old
    zone = ZoneInfo(values.get("timezone", session.timezone))
    for name in ("start", "end"):
        moment = values.get(name, getattr(session, name))
        if moment is not None:
            values[name] = moment.astimezone(zone)
    entries = tuple(attendance[p] for p in order if p in attendance)
    return replace(session, **values, attendance=entries)


def next_due(connection: Connection, after: datetime) -> datetime | None:
    """When the next open window closes after ``after``."""
    w = notice_windows
    return connection.scalar(sa.select(sa.func.min(w.c.due_at)).where(
        w.c.status == "open", w.c.due_at > after))


# --- closing windows ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Found:
    """What one window shows: its session before and after, and who is concerned."""

    window: int
    before: Session | None
    after: Session
    attendance: tuple[tuple[str, Attendance | None, Attendance | None], ...]
    schedule: bool

    @property
    def key(self) -> tuple[str, str]:
        return self.after.key

    def organizations(self) -> set[str]:
        return set(self.after.organizations) | set(self.before.organizations
                                                   if self.before else ())

    def participants(self) -> set[str]:
        people = {a.participant for a in self.after.attendance}
        return people | {a.participant for a in (self.before.attendance if self.before else ())}


def close_due(connection: Connection, now: datetime) -> int:
    """Close the windows due by ``now`` (in the caller's write transaction, right after
    ``ingest``): queue the merged notices, mark the windows closed (or quiet). Returns how
    many outbox rows were queued."""
    w = notice_windows
    due = connection.execute(sa.select(w).where(w.c.status == "open", w.c.due_at <= now)
                             .order_by(w.c.id)).all()
    if not due:
        return 0
    sessions = rows.read_sessions(connection, summits=sorted({window.summit for window in due}))
    found: list[_Found] = []
    for window in due:
        after = sessions.get((window.summit, window.session))
        seen = _compare(window.id, from_state(window.before) if window.before else None, after)
        if seen is None:
            connection.execute(sa.update(w).where(w.c.id == window.id).values(
                status="quiet", closed_at=now, messages=0))
        else:
            found.append(seen)
    if not found:
        return 0
    found.sort(key=lambda f: (f.after.starts_at, f.key))
    counts: dict[int, int] = defaultdict(int)
    total = 0
    for subscriber, email, wanted, follows in _recipients(connection, found):
        for kind, chosen, body in _messages(found, wanted, follows):
            windows = sorted({f.window for f in chosen})
            queued = outbox.enqueue(
                connection, kind=kind, key=notice_key(kind, subscriber, windows),
                recipient=email, subscriber_id=subscriber, payload=body,
                due_at=now, expires_at=now + EXPIRY,
                topic=f"{chosen[0].key[0]}/{chosen[0].key[1]}" if len(chosen) == 1 else None,
                now=now)
            total += int(queued)
            for number in windows:
                counts[number] += int(queued)
    for item in found:
        connection.execute(sa.update(w).where(w.c.id == item.window).values(
            status="closed", closed_at=now, messages=counts[item.window]))
    return total


def _compare(window: int, before: Session | None, after: Session | None) -> _Found | None:
    """What changed from ``before`` to ``after`` that a notice shows; None: nothing."""
    if after is None:
        return None
    if before is None:
        if after.status == SessionStatus.CANCELLED:
            return None  # added and removed again within the window
        return _Found(window, None, after, (), True)
    old = {a.participant: a for a in before.attendance}
    new = {a.participant: a for a in after.attendance}
    attendance = tuple(
        (person, old.get(person), new.get(person))
        for person in [*new, *(p for p in old if p not in new)]
        if _mode(old.get(person)) != _mode(new.get(person))
    )
    was, now = state(before), state(after)
    moved = any(was[name] != now[name] for name in SCHEDULE_FIELDS)
    if not attendance and not moved:
        return None
    return _Found(window, before, after, attendance, moved)


def _mode(entry: Attendance | None) -> tuple[str, str | None] | None:
    return None if entry is None else (entry.mode, entry.delegate)


Follows = set[Follow]


def _recipients(connection: Connection, found: Sequence[_Found]
                ) -> list[tuple[int, str, set[str], Follows]]:
    """(subscriber id, email, notice kinds, follows) of every confirmed subscriber who
    follows anything the windows concern."""
    f, sub = st.subscriber_follows, st.subscribers
    concern = follow_sql(FollowColumns.of(f), AnyOf(tuple(
        Scope(*item.key, item.organizations(), item.participants()) for item in found)))
    query = (sa.select(sub.c.id, sub.c.email, sub.c.notices, f.c.kind, f.c.summit, f.c.target)
             .join(f, f.c.subscriber_id == sub.c.id)
             .where(sub.c.status == SubscriberStatus.CONFIRMED, concern)
             .order_by(sub.c.id))
    people: dict[int, tuple[int, str, set[str], Follows]] = {}
    for row in connection.execute(query):
        entry = people.setdefault(row.id, (row.id, row.email, set(row.notices or ()), set()))
        entry[3].add(Follow.of_row(row))
    return list(people.values())


def _covers(follows: Follows, item: _Found, participants: Iterable[str]) -> bool:
    """Whether ``follows`` cover the window's session, with its organisations before and
    after and ``participants`` (those the notice is about)."""
    return covers_any(follows, Scope(*item.key, item.organizations(), set(participants)))


def _messages(found: Sequence[_Found], wanted: set[str], follows: Follows
              ) -> list[tuple[str, list[_Found], dict[str, Any]]]:
    """The (kind, windows, payload) of the one message a subscriber gets (none: [])."""
    parts: dict[str, tuple[list[_Found], dict[str, Any]]] = {}
    if "attendance" in wanted:
        chosen, entries = [], []
        for item in found:
            mine = [(p, old, new) for p, old, new in item.attendance
                    if _covers(follows, item, [p])]
            if mine:
                chosen.append(item)
                entries += [{"summit": item.key[0], "session": item.key[1], "participant": p,
                             "old": _entry_state(old), "new": _entry_state(new)}
                            for p, old, new in mine]
        if chosen:
            parts["attendance"] = (chosen, {
                "windows": [f.window for f in chosen], "items": entries,
                "sessions": {f"{f.key[0]}/{f.key[1]}": state(f.after) for f in chosen}})
    if "schedule" in wanted:
        chosen = [item for item in found
                  if item.schedule and _covers(follows, item, item.participants())]
        if chosen:
            parts["schedule"] = (chosen, {
                "windows": [f.window for f in chosen],
                "items": [{"summit": f.key[0], "session": f.key[1],
                           "before": state(f.before) if f.before else None,
                           "after": state(f.after)} for f in chosen]})
    if len(parts) < 2:
        return [(KINDS[name], chosen, body) for name, (chosen, body) in parts.items()]
    windows = {f.window for chosen, _ in parts.values() for f in chosen}
    both = [item for item in found if item.window in windows]
    return [(MERGED, both, {"windows": [f.window for f in both],
                            "attendance": parts["attendance"][1],
                            "schedule": parts["schedule"][1]})]


def notice_key(kind: str, subscriber: int, windows: Sequence[int]) -> str:
    """``attendance_change:12:w4-5-6``; long window lists are shortened with a digest."""
    ids = "-".join(str(w) for w in windows)
    if len(ids) > 120:
        digest = hashlib.sha256(ids.encode()).hexdigest()[:16]
        ids = f"{windows[0]}..{windows[-1]}x{len(windows)}.{digest}"
    return f"{kind}:{subscriber}:w{ids}"


# --- rendering ------------------------------------------------------------------------------


def notice_context(kind: str, payload: Mapping[str, Any], *, schedule: Schedule, zone: str,
                   manage_url: str, parts: Iterable[str] = tuple(KINDS)
                   ) -> AttendanceNotice | ScheduleNotice | ChangesNotice:
    """The message an ``attendance_change``, ``schedule_change`` or ``changes`` row's
    payload stands for.

    Sessions are shown as they were when the window closed (from the payload); names of
    summits, organisations and participants come from ``schedule`` (the current one).
    For ``changes``, ``parts`` (a subset of ``KINDS``' keys, e.g. the notice kinds the
    subscriber still asks for) says which parts to show: both give a ``ChangesNotice``,
    one gives that kind's own notice. ``ValueError`` when none is left.
    """
    if kind == MERGED:
        chosen = [name for name in KINDS if name in parts]
        if not chosen:
            raise ValueError("a changes notice needs at least one of its parts")
        shown = [notice_context(KINDS[name], payload[name], schedule=schedule, zone=zone,
                                manage_url=manage_url) for name in chosen]
        if len(shown) == 1:
            return shown[0]
        attendance, changes = shown
        assert isinstance(attendance, AttendanceNotice) and isinstance(changes, ScheduleNotice)
        return ChangesNotice(attendance, changes)
    if kind == KINDS["attendance"]:
        sessions = {key: from_state(value) for key, value in payload["sessions"].items()}
        items = tuple(
            AttendanceItem(sessions[f"{i['summit']}/{i['session']}"], i["participant"],
                           _entry(i["old"]), _entry(i["new"]))
            for i in payload["items"])
        return AttendanceNotice(items, _with(schedule, sessions.values()), zone, manage_url)
    if kind == KINDS["schedule"]:
        session_changes = tuple(
            SessionChange(from_state(i["before"]) if i["before"] else None,
                          from_state(i["after"]))
            for i in payload["items"])
        return ScheduleNotice(session_changes,
                              _with(schedule, [c.after for c in session_changes]), zone,
                              manage_url)
    raise ValueError(f"not a notice kind: {kind!r}")


def _with(schedule: Schedule, sessions: Iterable[Session]) -> Schedule:
    """``schedule`` knowing ``sessions`` as shown (for lookups by the templates)."""
    merged = dict(schedule.sessions)
    merged.update({s.key: s for s in sessions})
    return replace(schedule, sessions=merged)
