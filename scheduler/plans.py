"""Reminder plans: one row per (session, offset) that a confirmed subscriber follows.

A plan says "at ``fire_at`` (UTC) = the session's start − ``offset``, queue this reminder
for every follower who asked for that offset". Timers therefore grow with sessions ×
distinct offsets, never with subscribers::

    replan(connection, now)            # after every revision and subscriber change
    due(connection, now)               # plans whose rows are to be queued now
    fire(connection, plan_id, now)     # ONE INSERT … SELECT into the outbox, plan fired

A plan's rows are queued ``QUEUE_AHEAD`` before its instant, due at the instant: writing
100,000 rows takes seconds (PostgreSQL: the outbox's indexes), and queued ahead they are
all there when the instant comes, so delivery starts on time whatever the fan-out. A
confirmed follower who joins in between (or starts asking for that offset) gets the row
from ``replan``'s catch-up (the same ``INSERT … SELECT``; keys already queued are
skipped); one who leaves, changes offset or stops following is withdrawn when the row is
rendered (``renderers``), and a session that moves or is cancelled cancels the rows
(``cancel_stale_reminders``), as for any row still waiting.

``replan`` is cheap and idempotent: it moves a pending plan with its session (unfired),
cancels plans nobody follows any more or whose session was cancelled, expires plans whose
session already started (never sent), and cancels pending outbox reminders written for a
start that is no longer the session's. A plan is only created while its fire time is
still ahead (``CREATE_GRACE``): a subscriber who signs up 23 hours before a session gets
no "in 1 day" reminder. An existing plan whose fire time passed while the service was
down still fires late, as long as its session has not started.

All-day sessions: the email follows the venue's midnight. Such a session starts at
local midnight in the venue's zone (``Session.starts_at``), so a one-day reminder for a
session on 16 September in Dushanbe comes on 15 September at 00:00 Dushanbe time
(19:00 UTC), whatever the reader's zone, and expires — like every reminder — when that
day begins at the venue. Calendar apps do otherwise with the private feed: there the
event is a floating ``VALUE=DATE`` and its VALARM (``TRIGGER:-P1D``, relative to the
start, RFC 5545 3.8.6.3) fires at the reader's own midnight: earlier than the email for
readers east of the venue, later for readers west of it. The email cannot follow that:
it is one instant for everyone who follows the session, and a reader west of the venue
would get it after the session's day had begun there. So an all-day reminder read in
another zone says when the day begins at the venue in the reader's time
(``wording.day_begins``).

Reminder outbox rows: ``kind="reminder"``, ``topic="SUMMIT/SESSION"``, key
``reminder:SUMMIT/SESSION:START:SUBSCRIBER:OFFSET`` (start as ``20210916T050000Z``,
offset in seconds), ``due_at`` = fire time, ``expires_at`` = the session's start, and
the payload ``PAYLOAD`` describes (``reminder_context`` turns it into a message).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import CheckConstraint, Column, Index, Integer, String, Table, UniqueConstraint
from sqlalchemy.engine import Connection

from summitcal.core.durations import format_duration, parse_duration
from summitcal.mail import outbox
from summitcal.mail.tables import OPEN
from summitcal.mail.tables import outbox as outbox_table
from summitcal.scheduler.messages import MessageKind, Reminder, Withdrawn
from summitcal.subscriptions import tables as st
from summitcal.subscriptions.tables import SubscriberStatus
from summitcal.summits import tables as t
from summitcal.summits.follow import FollowColumns, FollowKind, Stored, follow_sql
from summitcal.summits.model import Schedule, Session, SessionStatus

log = logging.getLogger("summitcal.plans")

STATUSES = ("pending", "fired", "cancelled", "expired")
#: How long before its instant a plan's rows are queued (``due``): more than writing a
#: 100,000-row fan-out takes on a loaded PostgreSQL (seconds), less than any offset.
QUEUE_AHEAD = timedelta(seconds=30)
#: How late (after its fire time) a plan may still be created.
CREATE_GRACE = timedelta(seconds=60)
#: A reminder sent less than this (or a quarter of its offset, if less) after its time
#: still says "In 1 hour"; a later one names the start instead (``reminder_context``).
ON_TIME = timedelta(minutes=1)
#: Summits named in one query of ``session_rows`` (bound parameters stay well under
#: SQLite's limit of 32,766).
SUMMITS_PER_QUERY = 500
#: What a reminder row's payload holds (JSON): ``summit``, ``session``, ``offset``
#: (ISO 8601, e.g. "PT1H"), ``offset_seconds``, ``starts_at`` (ISO, UTC) and ``sequence``
#: (the session's when the plan fired; the message shows the session as it is when sent).
PAYLOAD = ("summit", "session", "offset", "offset_seconds", "starts_at", "sequence")

reminder_plans = Table(
    "reminder_plans",
    t.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("summit", String(100), nullable=False),
    Column("session", String(100), nullable=False),
    Column("offset_seconds", Integer, nullable=False),
    Column("starts_at", t.UtcDateTime, nullable=False),  # the start this plan is for
    Column("sequence", Integer, nullable=False),  # the session's, when last (re)planned
    Column("fire_at", t.UtcDateTime, nullable=False),  # starts_at − offset
    Column("status", String(16), nullable=False),
    Column("recipients", Integer),  # outbox rows written when it fired
    Column("created_at", t.UtcDateTime, nullable=False),
    Column("updated_at", t.UtcDateTime, nullable=False),
    UniqueConstraint("summit", "session", "offset_seconds", "starts_at"),
    CheckConstraint(t.one_of("status", STATUSES), name="status"),
    Index(None, "status", "fire_at"),
)


@dataclass(frozen=True, slots=True)
class Plan:
    id: int
    summit: str
    session: str
    offset_seconds: int
    starts_at: datetime
    sequence: int
    fire_at: datetime
    status: str
    recipients: int | None

    @classmethod
    def from_row(cls, row: Any) -> Plan:
        return cls(**{name: row._mapping[name] for name in cls.__slots__})

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.summit, self.session, self.offset_seconds)


@dataclass(frozen=True, slots=True)
class Replanned:
    """What a ``replan`` did (counts), for logs and tests."""

    created: int = 0
    moved: int = 0
    cancelled: int = 0
    expired: int = 0
    rows_cancelled: int = 0
    rows_caught_up: int = 0  # rows queued for followers who came after a plan's rows

    def __bool__(self) -> bool:
        return any((self.created, self.moved, self.cancelled, self.expired,
                    self.rows_cancelled, self.rows_caught_up))


# --- who follows what ---------------------------------------------------------------------


def _followed_pairs(now: datetime) -> sa.CompoundSelect[Any]:
    """(summit, session, offset_seconds) of every upcoming, not cancelled session that a
    confirmed subscriber with that offset follows.

    Distinct (follow, offset) pairs are found first, then joined to the sessions (on
    ``summits.follow.follow_sql``), so the cost grows with follows + sessions × distinct
    offsets, not followers × sessions.
    """
    f, sub, o, s = st.subscriber_follows, st.subscribers, st.subscriber_offsets, t.sessions
    chosen = (sa.select(f.c.kind, f.c.summit, f.c.target, o.c.offset_seconds)
              .join(sub, sub.c.id == f.c.subscriber_id)
              .join(o, o.c.subscriber_id == f.c.subscriber_id)
              .where(sub.c.status == SubscriberStatus.CONFIRMED)
              .distinct().subquery("chosen"))
    upcoming = sa.and_(s.c.status != SessionStatus.CANCELLED, s.c.starts_at > now)
    columns, stored = FollowColumns.of(chosen), Stored(s.c.summit, s.c.id)

    def pairs(kind: FollowKind) -> sa.Select[Any]:
        return (sa.select(s.c.summit, s.c.id.label("session"), chosen.c.offset_seconds)
                .select_from(s.join(chosen, follow_sql(columns, stored, [kind])))
                .where(upcoming))

    # One SELECT per kind: each joins on its own simple condition (see ``follow_sql``).
    return sa.union(*(pairs(kind) for kind in FollowKind))


# --- planning -----------------------------------------------------------------------------


def replan(connection: Connection, now: datetime) -> Replanned:
    """Bring the plans in line with the sessions and the subscribers (in the caller's
    write transaction)."""
    wanted = {(r.summit, r.session, r.offset_seconds)
              for r in connection.execute(_followed_pairs(now))}
    p = reminder_plans
    existing: dict[tuple[str, str, int], list[Plan]] = {}
    for row in connection.execute(sa.select(p).where(
            sa.or_(p.c.status == "pending", p.c.starts_at > now))):
        plan = Plan.from_row(row)
        existing.setdefault(plan.key, []).append(plan)
    topics = _open_reminder_topics(connection)
    # Only the sessions something here is about: what is followed, planned, or has rows
    # waiting. A revision of a schedule that nobody follows reads none of its sessions.
    sessions = session_rows(connection, {key[:2] for key in wanted} | {
        key[:2] for key in existing} | {key for key, _ in topics})

    counts = {"created": 0, "moved": 0, "cancelled": 0, "expired": 0}
    for key in sorted(wanted):
        row = sessions[key[:2]]
        _plan_one(connection, key, row.starts_at, row.sequence, existing.get(key, []), now,
                  counts)
    for key, plans in existing.items():
        if key in wanted:
            continue
        for plan in plans:
            if plan.status == "pending":
                status = "expired" if plan.starts_at <= now else "cancelled"
                _set_status(connection, plan.id, status, now)
                counts[status] += 1
    rows = cancel_stale_reminders(connection, sessions, now, topics)
    caught_up = _catch_up(connection, [plan for key, found in existing.items() if key in wanted
                                       for plan in found], sessions, now)
    return Replanned(**counts, rows_cancelled=rows, rows_caught_up=caught_up)


def _catch_up(connection: Connection, plans: list[Plan], sessions: Mapping[tuple[str, str], Any],
              now: datetime) -> int:
    """Queue the rows of followers who came after a plan's rows were queued ahead of its
    instant (``QUEUE_AHEAD``): fired plans whose instant is still to come and whose
    session still starts when the plan says. Keys already queued are skipped; returns
    how many rows were added."""
    added = 0
    for plan in plans:
        session = sessions.get((plan.summit, plan.session))
        if (plan.status != "fired" or plan.fire_at <= now or session is None
                or session.status == SessionStatus.CANCELLED
                or session.starts_at != plan.starts_at):
            continue
        written = _queue(connection, plan, plan.sequence, now)
        if written:
            p = reminder_plans
            connection.execute(sa.update(p).where(p.c.id == plan.id).values(
                recipients=sa.func.coalesce(p.c.recipients, 0) + written, updated_at=now))
            added += written
    return added


def _plan_one(connection: Connection, key: tuple[str, str, int], start: datetime,
              sequence: int, plans: list[Plan], now: datetime, counts: dict[str, int]) -> None:
    """Make the plans of one (session, offset) say: fire once for ``start``."""
    fire_at = start - timedelta(seconds=key[2])
    exact = next((plan for plan in plans if plan.starts_at == start), None)
    others = [plan for plan in plans if plan.status == "pending" and plan is not exact]
    p = reminder_plans
    if exact is not None:
        if exact.status == "pending" and exact.sequence != sequence:
            connection.execute(sa.update(p).where(p.c.id == exact.id)
                               .values(sequence=sequence, updated_at=now))
        elif exact.status == "cancelled" and fire_at > now - CREATE_GRACE:
            # Reinstated (or followed again) in time: the plan comes back.
            connection.execute(sa.update(p).where(p.c.id == exact.id)
                               .values(status="pending", sequence=sequence, updated_at=now))
            counts["created"] += 1
    elif others:
        # The session moved: its pending plan moves with it, unfired.
        mover, others = others[0], others[1:]
        connection.execute(sa.update(p).where(p.c.id == mover.id).values(
            starts_at=start, fire_at=fire_at, sequence=sequence, updated_at=now))
        counts["moved"] += 1
    elif fire_at > now - CREATE_GRACE:
        connection.execute(sa.insert(p).values(
            summit=key[0], session=key[1], offset_seconds=key[2], starts_at=start,
            sequence=sequence, fire_at=fire_at, status="pending", created_at=now,
            updated_at=now))
        counts["created"] += 1
    for plan in others:
        _set_status(connection, plan.id, "cancelled", now)
        counts["cancelled"] += 1


def _set_status(connection: Connection, plan_id: int, status: str, now: datetime) -> None:
    p = reminder_plans
    connection.execute(sa.update(p).where(p.c.id == plan_id, p.c.status == "pending")
                       .values(status=status, updated_at=now))


def expire_started(connection: Connection, now: datetime) -> int:
    """Pending plans whose session already started: ``expired``, never sent."""
    p = reminder_plans
    return connection.execute(sa.update(p).where(p.c.status == "pending", p.c.starts_at <= now)
                              .values(status="expired", updated_at=now)).rowcount


def session_rows(connection: Connection, keys: Collection[tuple[str, str]]
                 ) -> dict[tuple[str, str], Any]:
    """The sessions of ``keys`` (summit, id) that exist, as rows of ``summit``, ``id``,
    ``starts_at``, ``sequence`` and ``status``: read by their summits (the first column of
    the sessions' primary key), at most ``SUMMITS_PER_QUERY`` summits per query, so the
    work grows with the sessions of those summits, not with the whole schedule."""
    s = t.sessions
    summits = sorted({summit for summit, _ in keys})
    found: dict[tuple[str, str], Any] = {}
    for start in range(0, len(summits), SUMMITS_PER_QUERY):
        chunk = summits[start:start + SUMMITS_PER_QUERY]
        for r in connection.execute(sa.select(s.c.summit, s.c.id, s.c.starts_at, s.c.sequence,
                                              s.c.status).where(s.c.summit.in_(chunk))):
            if (r.summit, r.id) in keys:
                found[r.summit, r.id] = r
    return found


def _open_reminder_topics(connection: Connection) -> list[tuple[tuple[str, str], str]]:
    """The session key and topic of every reminder with rows still open."""
    o = outbox_table
    topics = connection.scalars(sa.select(o.c.topic).distinct().where(
        o.c.kind == "reminder", o.c.status.in_(OPEN))).all()
    found = []
    for topic in topics:
        summit, _, session_id = (topic or "").partition("/")
        found.append(((summit, session_id), topic))
    return found


def cancel_stale_reminders(connection: Connection, sessions: Mapping[tuple[str, str], Any],
                           now: datetime, topics: list[tuple[tuple[str, str], str]]) -> int:
    """Cancel open reminder rows written for a start their session no longer has, or for a
    session that was cancelled (or is gone). ``topics`` are ``_open_reminder_topics``;
    ``sessions`` maps keys to rows or Sessions with ``starts_at`` and ``status``, and
    holds at least the sessions of ``topics``."""
    o = outbox_table
    cancelled = 0
    for (summit, session_id), topic in topics:
        session = sessions.get((summit, session_id))
        where = [o.c.kind == "reminder", o.c.topic == topic]
        if session is None or session.status == SessionStatus.CANCELLED:
            reason = "the session was cancelled"
        else:
            where.append(sa.not_(o.c.key.startswith(
                _key_prefix(summit, session_id, session.starts_at), autoescape=True)))
            reason = "the session moved"
        cancelled += outbox.cancel(connection, *where, reason=reason, now=now)
    return cancelled


# --- firing -------------------------------------------------------------------------------


def due(connection: Connection, now: datetime) -> list[Plan]:
    """Pending plans whose rows are to be queued now (their fire time is at most
    ``QUEUE_AHEAD`` away, or passed) and whose session has not started."""
    p = reminder_plans
    rows = connection.execute(sa.select(p).where(
        p.c.status == "pending", p.c.fire_at <= now + QUEUE_AHEAD, p.c.starts_at > now)
        .order_by(p.c.fire_at, p.c.id))
    return [Plan.from_row(row) for row in rows]


def firing(connection: Connection, now: datetime) -> bool:
    """Whether a plan is due and not fired yet: its rows are being written (or are about
    to be). A cheap look at the plans table (index on status, fire_at)."""
    p = reminder_plans
    return bool(connection.scalar(sa.select(sa.exists().where(
        p.c.status == "pending", p.c.fire_at <= now, p.c.starts_at > now))))


def next_queueing(connection: Connection, after: datetime) -> datetime | None:
    """When the clock next queues a plan's rows (``QUEUE_AHEAD`` before its fire time)."""
    fire = next_fire(connection, after + QUEUE_AHEAD)
    return fire - QUEUE_AHEAD if fire is not None else None


def next_fire(connection: Connection, after: datetime) -> datetime | None:
    """When the next pending plan fires after ``after``."""
    p = reminder_plans
    return connection.scalar(sa.select(sa.func.min(p.c.fire_at)).where(
        p.c.status == "pending", p.c.fire_at > after))


def fire(connection: Connection, plan_id: int, now: datetime) -> int | None:
    """Queue the plan's reminders (one ``INSERT … SELECT``), due at its fire time (which
    may be up to ``QUEUE_AHEAD`` after ``now``), and mark it fired, in the caller's write
    transaction. Returns how many rows were written, or None when the plan did not fire
    (gone, no longer pending, session moved, cancelled or started)."""
    p, s = reminder_plans, t.sessions
    row = connection.execute(sa.select(p).where(p.c.id == plan_id)).first()
    if row is None or row.status != "pending":
        return None
    plan = Plan.from_row(row)
    session = connection.execute(sa.select(s.c.starts_at, s.c.status, s.c.sequence).where(
        s.c.summit == plan.summit, s.c.id == plan.session)).first()
    if session is None or session.status == SessionStatus.CANCELLED:
        _set_status(connection, plan.id, "cancelled", now)
        return None
    if session.starts_at <= now:
        _set_status(connection, plan.id, "expired", now)
        return None
    if session.starts_at != plan.starts_at:
        return None  # moved since the last replan: the next one moves the plan
    written = _queue(connection, plan, session.sequence, now)
    connection.execute(sa.update(p).where(p.c.id == plan.id).values(
        status="fired", recipients=written, sequence=session.sequence, updated_at=now))
    return written


def _queue(connection: Connection, plan: Plan, sequence: int, now: datetime) -> int:
    """One row per follower of ``plan`` not queued yet, due at its fire time."""
    return outbox.enqueue_select(
        connection,
        _followers(plan),
        kind=MessageKind.REMINDER,
        topic=f"{plan.summit}/{plan.session}",
        payload=payload(plan, sequence),
        due_at=plan.fire_at,
        expires_at=plan.starts_at,
        now=now,
    )


def _followers(plan: Plan) -> sa.Select[Any]:
    """Key, recipient and subscriber of every confirmed follower with the plan's offset.

    The followers are found one follow kind at a time (a UNION of simple lookups, each
    on its own index), then joined to the subscribers as a set. One condition OR-ing the
    kinds, checked per subscriber, let PostgreSQL plan a nested loop that scanned every
    follow of the session for each subscriber: 97 s for 100,000 followers on fresh
    tables, whose statistics said one row."""
    sub, o, f = st.subscribers, st.subscriber_offsets, st.subscriber_follows
    prefix = _key_prefix(plan.summit, plan.session, plan.starts_at)
    columns, stored = FollowColumns.of(f), Stored(plan.summit, plan.session)
    follows = sa.union(*(sa.select(f.c.subscriber_id).where(follow_sql(columns, stored, [kind]))
                         for kind in FollowKind))
    return (sa.select(
                (sa.literal(prefix) + sa.cast(sub.c.id, sa.String)
                 + sa.literal(f":{plan.offset_seconds}")).label("key"),
                sub.c.email.label("recipient"),
                sub.c.id.label("subscriber_id"))
            .join(o, sa.and_(o.c.subscriber_id == sub.c.id,
                             o.c.offset_seconds == plan.offset_seconds))
            .where(sub.c.status == SubscriberStatus.CONFIRMED, sub.c.id.in_(follows)))


def _key_prefix(summit: str, session: str, start: datetime) -> str:
    return f"reminder:{summit}/{session}:{start.astimezone(UTC):%Y%m%dT%H%M%SZ}:"


def reminder_key(summit: str, session: str, start: datetime, subscriber_id: int,
                 offset: timedelta) -> str:
    """The idempotency key of one reminder (as ``fire`` writes it)."""
    return f"{_key_prefix(summit, session, start)}{subscriber_id}:{int(offset.total_seconds())}"


def payload(plan: Plan, sequence: int) -> dict[str, Any]:
    return {
        "summit": plan.summit,
        "session": plan.session,
        "offset": format_duration(timedelta(seconds=plan.offset_seconds)),
        "offset_seconds": plan.offset_seconds,
        "starts_at": plan.starts_at.astimezone(UTC).isoformat(),
        "sequence": sequence,
    }


# --- rendering ------------------------------------------------------------------------------


def reminder_context(payload: Mapping[str, Any], *, schedule: Schedule, zone: str,
                     manage_url: str, now: datetime | None = None) -> Reminder:
    """The ``Reminder`` a reminder row's payload stands for, with the session as it is now.

    Sent at ``now``, it is ``late`` when ``ON_TIME`` (or a quarter of the offset, if less)
    or more has gone by since its time (a server outage, a backlog): it then names the
    start instead of "In 1 hour".

    Raises ``Withdrawn`` when the session is gone, cancelled or no longer starts at the
    instant the reminder was queued for (status ``cancelled``), or has started by ``now``
    (status ``expired``).
    """
    key = (payload["summit"], payload["session"])
    session: Session | None = schedule.sessions.get(key)
    if session is None or session.status == SessionStatus.CANCELLED:
        raise Withdrawn(f"session {key[0]}/{key[1]} was cancelled")
    if session.starts_at != datetime.fromisoformat(payload["starts_at"]):
        raise Withdrawn(f"session {key[0]}/{key[1]} moved")
    if now is not None and session.starts_at <= now:
        raise Withdrawn(f"session {key[0]}/{key[1]} has started", "expired")
    offset = (timedelta(seconds=payload["offset_seconds"]) if "offset_seconds" in payload
              else parse_duration(payload["offset"]))
    late = now is not None and offset - (session.starts_at - now) >= min(ON_TIME, offset / 4)
    return Reminder(session, schedule, zone, offset, manage_url, late)


