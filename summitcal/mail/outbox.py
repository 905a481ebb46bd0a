"""The outbox: queueing messages, claiming due ones with a lease, recording outcomes.

Queueing happens inside the caller's transaction, so a message exists exactly when the
change that causes it was committed::

    with database.writing(engine) as connection:
        ...                                   # the change itself
        enqueue(connection, kind="confirm", key=f"confirm:{sid}:{version}",
                recipient=email, subscriber_id=sid, payload={}, due_at=now,
                expires_at=now + timedelta(days=1))

``key`` is the idempotency key: queueing the same key twice inserts one row (``enqueue``
returns False the second time). Keys read ``kind:what:…``; the Message-ID is derived
from them (``scheduler.compose.message_id``), so they must not contain secrets.

Fan-out (one row per follower, from one ``INSERT … SELECT``): ``enqueue_select``.

Delivery (``scheduler.delivery``) calls ``claim``, then ``mark_sent`` (``mark_sent_many``
for a batch)/``mark_retry``/``mark_failed`` per row. ``claim`` is atomic: ``FOR UPDATE
SKIP LOCKED`` on PostgreSQL (claimers never wait for each other), one guarded UPDATE
inside ``BEGIN IMMEDIATE`` on SQLite. The outcome functions are guarded by the lease
owner: a worker whose lease ran out (and whose row someone else claimed) cannot put the
row back to ``pending``; but ``mark_sent`` always records a send, because the server did
take the message.

Every function taking ``now`` defaults it to the current time; all instants are aware.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.sql.elements import ColumnElement

from summitcal.core import database
from summitcal.core.errors import InvalidInput, NotFound
from summitcal.mail.tables import FINISHED, OPEN, STATUSES, OutboxStatus, outbox
from summitcal.summits.tables import UtcDateTime

#: Kinds whose expiry is a hard deadline (a reminder's is its session's start): an
#: operator ``retry`` after the deadline is refused instead of granting a new window.
DEADLINE_KINDS = frozenset({"reminder"})
#: Columns a fan-out ``Select`` may provide (by label); the rest are filled in.
FANOUT_COLUMNS = ("kind", "key", "recipient", "subscriber_id", "topic", "payload",
                  "due_at", "expires_at")
_MAX_KEY = 255  # outbox.key is String(255)


@dataclass(frozen=True, slots=True)
class Message:
    """One outbox row."""

    id: int
    kind: str
    key: str
    recipient: str
    subscriber_id: int | None
    topic: str | None
    payload: Any
    status: OutboxStatus
    due_at: datetime
    expires_at: datetime | None
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    last_error: str | None
    message_id: str | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Message:
        values = {name: row._mapping[name] for name in cls.__slots__}
        return cls(**values | {"status": OutboxStatus(values["status"])})

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


# --- queueing (inside the caller's transaction) -------------------------------------------

def enqueue(
    connection: Connection,
    *,
    kind: str,
    key: str,
    recipient: str,
    subscriber_id: int | None,
    payload: Mapping[str, Any],
    due_at: datetime,
    expires_at: datetime | None,
    topic: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Queue one message in the caller's transaction; False when ``key`` is already queued.

    ``payload`` is JSON: what the kind's renderer needs (ids, offsets), not rendered text
    and not links (made at render time from ``subscriber_id``). ``topic`` names what the
    message is about (e.g. ``"dushanbe-2021/csto-council"``) so that ``cancel``/``expire``
    can find it. ``expires_at=None``: the message never expires (avoid for anything
    time-bound: a reminder expires at its session's start, a notice 24 hours after).
    """
    _check_key(key)
    now = _utc(now)
    values = _defaults(now) | {
        "kind": kind, "key": key, "recipient": recipient, "subscriber_id": subscriber_id,
        "topic": topic, "payload": dict(payload), "due_at": _utc(due_at),
        "expires_at": None if expires_at is None else _utc(expires_at),
        "next_attempt_at": _utc(due_at),
    }
    statement = (_insert(connection).values(values)
                 .on_conflict_do_nothing(index_elements=[outbox.c.key])
                 .returning(outbox.c.id))
    return connection.execute(statement).first() is not None


def enqueue_select(
    connection: Connection,
    rows: sa.Select,
    *,
    now: datetime | None = None,
    **constants: Any,
) -> int:
    """Queue one message per row of ``rows`` with one ``INSERT … SELECT``; returns how many
    were inserted (keys already queued are skipped, as ``enqueue`` does).

    ``rows`` selects columns labelled with names from ``FANOUT_COLUMNS``; ``constants``
    (same names) give the values shared by every row. ``key`` and ``recipient`` must
    come from ``rows``; ``kind`` and ``due_at`` from either. Status, attempts, the next
    attempt (= ``due_at``) and the timestamps are filled in. Example (a reminder plan)::

        rows = (sa.select(
                    (sa.literal(f"reminder:{summit}/{session}:{start:%Y%m%dT%H%MZ}:{offset}:")
                     + sa.cast(subscribers.c.id, sa.String)).label("key"),
                    subscribers.c.email.label("recipient"),
                    subscribers.c.id.label("subscriber_id"))
                .where(...followers with this offset...))
        enqueue_select(connection, rows, kind="reminder", topic=f"{summit}/{session}",
                       payload={"summit": summit, "session": session, "offset": "PT1H"},
                       due_at=fire_at, expires_at=session_start)
    """
    unknown = set(constants) - set(FANOUT_COLUMNS)
    if unknown:
        raise TypeError(f"not an outbox fan-out column: {', '.join(sorted(unknown))}")
    source = rows.subquery("fanout")
    given = set(source.c.keys())
    for name in ("key", "recipient"):
        if name not in given:
            raise TypeError(f"the fan-out select must give a column labelled {name!r}")
    for name in ("kind", "due_at"):
        if name not in given and constants.get(name) is None:
            raise TypeError(f"the fan-out needs {name!r}, in the select or as an argument")
    if "payload" not in given and "payload" not in constants:
        constants["payload"] = {}
    now = _utc(now)

    def value(name: str) -> ColumnElement[Any]:
        if name in given:
            return source.c[name]
        constant = constants.get(name)
        if isinstance(constant, datetime):
            constant = _utc(constant)
        return sa.literal(constant, outbox.c[name].type)

    names = [*FANOUT_COLUMNS, "next_attempt_at", *_defaults(now)]
    columns = [value(name) for name in FANOUT_COLUMNS] + [value("due_at")] + [
        sa.literal(v, outbox.c[k].type) for k, v in _defaults(now).items()]
    # SQLite needs a WHERE between INSERT … SELECT and ON CONFLICT (parsing ambiguity).
    select = sa.select(*columns).select_from(source).where(sa.true())
    statement = (_insert(connection).from_select(names, select)
                 .on_conflict_do_nothing(index_elements=[outbox.c.key]))
    # PostgreSQL plans on statistics, and a fan-out usually follows a bulk change (sign-ups
    # imported, a schedule loaded) that autovacuum has not analysed yet: believing the
    # tables tiny, it chose nested loops that rescan one side per row of the other,
    # quadratic in the followers (97 s for 100,000). Set-at-a-time joins (hash, merge)
    # are linear whatever the statistics say; for this statement only.
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.exec_driver_sql("SET LOCAL enable_nestloop = off")
    # Counted by the driver (SQLAlchemy keeps an INSERT's count only when asked), not
    # by fetching a RETURNING row per message.
    try:
        result = connection.execute(statement, execution_options={"preserve_rowcount": True})
    finally:
        if postgres:
            connection.exec_driver_sql("SET LOCAL enable_nestloop = on")
    return max(result.rowcount, 0)


def cancel(connection: Connection, *where: ColumnElement[bool], reason: str,
           now: datetime | None = None) -> int:
    """Mark open rows matching ``where`` (e.g. ``outbox.c.topic == "s/x"``,
    ``outbox.c.kind == "reminder"``) ``cancelled``; returns how many. A row already in
    flight may still be sent: its worker then records ``sent``."""
    return _close(connection, OutboxStatus.CANCELLED, where, reason, now)


def expire(connection: Connection, *where: ColumnElement[bool], reason: str,
           now: datetime | None = None) -> int:
    """Mark open rows matching ``where`` ``expired`` (e.g. reminders of a session that
    started); returns how many."""
    return _close(connection, OutboxStatus.EXPIRED, where, reason, now)


def _close(connection: Connection, status: OutboxStatus, where: tuple[ColumnElement[bool], ...],
           reason: str, now: datetime | None) -> int:
    if not where:
        raise TypeError(f"refusing to mark every open message {status}: give a condition")
    now = _utc(now)
    statement = (sa.update(outbox)
                 .where(outbox.c.status.in_(OPEN), *where)
                 .values(status=status, last_error=reason, lease_owner=None,
                         lease_until=None, updated_at=now))
    return connection.execute(statement).rowcount


# --- claiming and outcomes (each its own short transaction) -------------------------------

def claim(engine: Engine, owner: str, limit: int, now: datetime | None = None,
          lease: timedelta = timedelta(minutes=2)) -> list[Message]:
    """Up to ``limit`` due rows, now ``sending`` and leased to ``owner`` until now + lease.

    Due: ``pending`` with ``next_attempt_at`` ≤ now, or ``sending`` whose lease ran out
    (a crashed or stuck worker's). Rows come oldest-due first, ``limit`` at a time; a
    picked row already past its ``expires_at`` becomes ``expired`` instead of being
    claimed, in the same statement, so a claim looks at ``limit`` rows however many are
    due (a 100,000-row fan-out: each claim costs the same). When every picked row had
    expired the claim picks again. No row is handed to two claimers whose leases
    overlap. ``attempts`` counts claims.
    """
    now = _utc(now)
    until = now + lease
    due = sa.and_(outbox.c.status.in_(OPEN), outbox.c.next_attempt_at <= now)
    late = sa.and_(outbox.c.expires_at.is_not(None), outbox.c.expires_at <= now)

    def unless_late(claimed: Any, expired: Any) -> Any:
        return sa.case((late, expired), else_=claimed)

    values = {
        "status": unless_late(sa.literal("sending"), sa.literal("expired")),
        "lease_owner": unless_late(sa.literal(owner), sa.null()),
        "lease_until": unless_late(sa.literal(until, UtcDateTime), sa.null()),
        "next_attempt_at": unless_late(sa.literal(until, UtcDateTime),
                                       outbox.c.next_attempt_at),
        "attempts": unless_late(outbox.c.attempts + 1, outbox.c.attempts),
        "last_error": unless_late(outbox.c.last_error, sa.func.coalesce(
            outbox.c.last_error, "not sent before it expired")),
        "updated_at": now,
    }
    while True:
        with write_transaction(engine) as connection:
            rows = _update_picked(connection, due, limit, values)
        claimed = [Message.from_row(r) for r in rows if r.status == "sending"]
        if claimed or not rows:
            return sorted(claimed, key=lambda m: (m.due_at, m.id))


def _update_picked(connection: Connection, condition: ColumnElement[bool], limit: int | None,
                   values: dict[str, Any]) -> list[Any]:
    """UPDATE the rows picked by ``condition`` (oldest due first, at most ``limit``),
    skipping rows other PostgreSQL transactions hold; RETURNING them."""
    pick = (sa.select(outbox.c.id).where(condition)
            .order_by(outbox.c.next_attempt_at, outbox.c.id).limit(limit))
    if connection.dialect.name == "postgresql":
        picked = pick.with_for_update(skip_locked=True).cte("picked")
        statement = sa.update(outbox).where(outbox.c.id == picked.c.id)
    else:  # SQLite: the whole transaction holds the write lock (BEGIN IMMEDIATE)
        statement = sa.update(outbox).where(outbox.c.id.in_(pick), condition)
    return list(connection.execute(statement.values(values).returning(*outbox.c)))


def take(connection: Connection, key: str, owner: str, now: datetime | None = None,
         lease: timedelta = timedelta(minutes=2)) -> Message | None:
    """Claim the ``pending`` row with ``key`` for ``owner`` in the caller's transaction: for
    a message queued and sent at once (``summitcal send-test``), so that no delivery worker
    takes it meanwhile and a worker does take it if this process dies before recording."""
    now = _utc(now)
    until = now + lease
    row = connection.execute(
        sa.update(outbox).where(outbox.c.key == key, outbox.c.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, lease_owner=owner, lease_until=until,
                next_attempt_at=until, attempts=outbox.c.attempts + 1, updated_at=now)
        .returning(*outbox.c)).one_or_none()
    return None if row is None else Message.from_row(row)


def extend(engine: Engine, owner: str, ids: list[int], now: datetime | None = None,
           lease: timedelta = timedelta(minutes=2)) -> set[int]:
    """Renew ``owner``'s lease on ``ids``; returns those it still held."""
    if not ids:
        return set()
    until = _utc(now) + lease
    with write_transaction(engine) as connection:
        rows = connection.execute(
            sa.update(outbox)
            .where(outbox.c.id.in_(ids), outbox.c.status == OutboxStatus.SENDING,
                   outbox.c.lease_owner == owner)
            .values(lease_until=until, next_attempt_at=until)
            .returning(outbox.c.id))
        return {row.id for row in rows}


def release(engine: Engine, owner: str, ids: list[int], now: datetime | None = None) -> int:
    """Give back claimed rows that were not tried (a stopping worker): ``pending`` again,
    due now, the claim not counted as an attempt."""
    if not ids:
        return 0
    now = _utc(now)
    with write_transaction(engine) as connection:
        return connection.execute(
            sa.update(outbox)
            .where(outbox.c.id.in_(ids), outbox.c.status == OutboxStatus.SENDING,
                   outbox.c.lease_owner == owner)
            .values(status=OutboxStatus.PENDING, next_attempt_at=now, lease_owner=None,
                    lease_until=None, attempts=outbox.c.attempts - 1, updated_at=now)
        ).rowcount


def mark_sent(engine: Engine, id: int, message_id: str, now: datetime | None = None) -> bool:
    """Record that the server accepted message ``id`` (whatever its lease or status: it
    went out). False if it was already recorded as sent."""
    now = _utc(now)
    with write_transaction(engine) as connection:
        return connection.execute(
            sa.update(outbox)
            .where(outbox.c.id == id, outbox.c.status != OutboxStatus.SENT)
            .values(status=OutboxStatus.SENT, message_id=message_id, sent_at=now, lease_owner=None,
                    lease_until=None, updated_at=now)
        ).rowcount == 1


def mark_sent_many(engine: Engine, sent: list[tuple[int, str]],
                   now: datetime | None = None, *,
                   also: Callable[[Connection], Any] | None = None) -> int:
    """``mark_sent`` for several messages (id, Message-ID) in one transaction (a worker
    records its batch's accepted messages together); returns how many were recorded.
    ``also(connection)`` runs in the same transaction (delivery clears the recipients'
    bounce counts)."""
    if not sent:
        return 0
    now = _utc(now)
    done = {"status": "sent", "sent_at": now, "lease_owner": None, "lease_until": None,
            "updated_at": now}
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":  # one statement: UPDATE … FROM VALUES
            rows = sa.values(sa.column("row_id", sa.Integer), sa.column("sent_id", sa.String),
                             name="sent").data(list(sent))
            result = connection.execute(
                sa.update(outbox).where(outbox.c.id == rows.c.row_id, outbox.c.status != "sent")
                .values(message_id=rows.c.sent_id, **done))
        else:  # SQLite: statements are cheap in-process (and UPDATE … FROM is 3.33+)
            result = connection.execute(
                sa.update(outbox).where(outbox.c.id == sa.bindparam("row_id"),
                                        outbox.c.status != "sent")
                .values(message_id=sa.bindparam("sent_id"), **done),
                [{"row_id": id, "sent_id": message_id} for id, message_id in sent])
        if also is not None:
            also(connection)
        return max(result.rowcount, 0)


def mark_retry(engine: Engine, id: int, error: str, next_attempt_at: datetime | None = None,
               *, owner: str | None = None, now: datetime | None = None,
               policy: RetryPolicy | None = None) -> OutboxStatus | None:
    """After a temporary failure: ``pending`` again at ``next_attempt_at`` (default: a
    growing, jittered delay by ``policy``), or ``expired`` with ``error``.

    A row keeps being tried until its expiry itself: when the next step would fall at or
    after the last moment worth a try (``policy.last_try`` before ``expires_at``), the next
    attempt is made at that moment instead; a failure after it expires the row unless the
    next step still falls before the expiry (rows that live less than ``last_try``).
    So a reminder whose server comes back just before its session starts still goes out.
    Returns the new status, or None when the row is no longer ``sending`` (for ``owner``,
    when given)."""
    now = _utc(now)
    policy = policy or DEFAULT_POLICY
    with write_transaction(engine) as connection:
        row = connection.execute(sa.select(outbox.c.attempts, outbox.c.expires_at)
                                 .where(_held(id, owner))).one_or_none()
        if row is None:
            return None
        when = _utc(next_attempt_at) if next_attempt_at is not None else (
            now + policy.delay(row.attempts))
        status, when = _next_attempt(now, when, row.expires_at, policy)
        connection.execute(
            sa.update(outbox).where(outbox.c.id == id)
            .values(status=status, next_attempt_at=when if status == OutboxStatus.PENDING else now,
                    last_error=error[:2000], lease_owner=None, lease_until=None,
                    updated_at=now))
        return status


def _next_attempt(now: datetime, wanted: datetime, expires_at: datetime | None,
                  policy: RetryPolicy) -> tuple[OutboxStatus, datetime]:
    """(status, next attempt) after a temporary failure at ``now`` (see ``mark_retry``)."""
    if expires_at is None:
        return OutboxStatus.PENDING, wanted
    last = expires_at - policy.last_try
    if wanted < last:
        return OutboxStatus.PENDING, wanted
    if now < last:
        return OutboxStatus.PENDING, last  # the last try, as close to the expiry as is safe
    if wanted < expires_at:  # already within last_try of the expiry (a short-lived row)
        return OutboxStatus.PENDING, wanted
    return OutboxStatus.EXPIRED, now


def mark_failed(engine: Engine, id: int, error: str, *, owner: str | None = None,
                now: datetime | None = None,
                also: Callable[[Connection], Any] | None = None) -> bool:
    """After a permanent failure (or a message that cannot be rendered): ``failed``.
    ``also(connection)`` runs in the same transaction when the row was marked (delivery
    counts a bounce)."""
    now = _utc(now)
    with write_transaction(engine) as connection:
        marked = connection.execute(
            sa.update(outbox).where(_held(id, owner))
            .values(status=OutboxStatus.FAILED, last_error=error[:2000], lease_owner=None,
                    lease_until=None, updated_at=now)
        ).rowcount == 1
        if marked and also is not None:
            also(connection)
        return marked


def mark_closed(engine: Engine, id: int, status: str, reason: str, *,
                owner: str | None = None, now: datetime | None = None) -> bool:
    """A renderer found the message moot (``cancelled``) or too late (``expired``)."""
    if status not in (OutboxStatus.CANCELLED, OutboxStatus.EXPIRED):
        raise ValueError(f"expected cancelled or expired, not {status!r}")
    now = _utc(now)
    with write_transaction(engine) as connection:
        return connection.execute(
            sa.update(outbox).where(_held(id, owner))
            .values(status=status, last_error=reason[:2000], lease_owner=None,
                    lease_until=None, updated_at=now)
        ).rowcount == 1


def _held(id: int, owner: str | None) -> ColumnElement[bool]:
    condition = sa.and_(outbox.c.id == id, outbox.c.status == OutboxStatus.SENDING)
    return sa.and_(condition, outbox.c.lease_owner == owner) if owner else condition


# --- the operator's side ------------------------------------------------------------------

def retry(engine: Engine, id: int, now: datetime | None = None) -> Message:
    """Send a ``failed`` or ``expired`` message again: ``pending``, due now, attempts from 0.

    An expiry still ahead is kept. One that passed gives the row a new window of the same
    length as its original one (expires_at − due_at) from now, except for kinds whose
    expiry is a deadline (``DEADLINE_KINDS``: a reminder after its session started), which
    are refused. Raises ``NotFound`` for an unknown id and ``InvalidInput`` otherwise.
    """
    now = _utc(now)
    with write_transaction(engine) as connection:
        row = connection.execute(sa.select(outbox).where(outbox.c.id == id)).one_or_none()
        if row is None:
            raise NotFound("outbox message", str(id))
        if row.status not in (OutboxStatus.FAILED, OutboxStatus.EXPIRED):
            raise InvalidInput(f"outbox message {id} is {row.status}; only failed or expired "
                               "messages can be retried", "id")
        expires_at = row.expires_at
        if expires_at is not None and expires_at <= now:
            if row.kind in DEADLINE_KINDS:
                raise InvalidInput(f"outbox message {id} ({row.kind}) expired at "
                                   f"{expires_at:%Y-%m-%d %H:%M} UTC, its deadline; "
                                   "it cannot be sent any more", "id")
            expires_at = now + max(expires_at - row.due_at, timedelta(hours=1))
        connection.execute(
            sa.update(outbox).where(outbox.c.id == id)
            .values(status=OutboxStatus.PENDING, next_attempt_at=now, expires_at=expires_at,
                    attempts=0, lease_owner=None, lease_until=None, updated_at=now))
        return Message.from_row(connection.execute(
            sa.select(outbox).where(outbox.c.id == id)).one())


def get(engine: Engine, id: int) -> Message:
    with engine.connect() as connection:
        row = connection.execute(sa.select(outbox).where(outbox.c.id == id)).one_or_none()
    if row is None:
        raise NotFound("outbox message", str(id))
    return Message.from_row(row)


def list_messages(engine: Engine, status: str | None = None, limit: int = 50) -> list[Message]:
    """The newest ``limit`` messages, newest first; only those in ``status`` if given."""
    if status is not None and status not in STATUSES:
        raise InvalidInput(f"unknown outbox status {status!r} (expected one of "
                           f"{', '.join(STATUSES)})", "status")
    query = sa.select(outbox).order_by(outbox.c.id.desc()).limit(limit)
    if status is not None:
        query = query.where(outbox.c.status == status)
    with engine.connect() as connection:
        return [Message.from_row(row) for row in connection.execute(query)]


def counts(engine: Engine) -> dict[str, int]:
    """How many messages are in each status (every status present, zeros included)."""
    query = sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
    with engine.connect() as connection:
        found = {status: count for status, count in connection.execute(query)}
    return {status: found.get(status, 0) for status in STATUSES}


def next_due(engine: Engine) -> datetime | None:
    """When the earliest open message becomes claimable (None: nothing open)."""
    query = sa.select(sa.func.min(outbox.c.next_attempt_at)).where(outbox.c.status.in_(OPEN))
    with engine.connect() as connection:
        value = connection.scalar(query)
    return None if value is None else UtcDateTime().process_result_value(value, engine.dialect)


def purge(engine: Engine, before: datetime) -> int:
    """Delete finished messages last touched before ``before``. Their keys become free,
    so choose ``before`` well after anything that could queue the same key again."""
    with write_transaction(engine) as connection:
        return connection.execute(
            sa.delete(outbox).where(outbox.c.status.in_(FINISHED),
                                    outbox.c.updated_at < _utc(before))).rowcount


# --- retry delays -------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``first`` · 2^(attempt − 1), ± ``jitter``, never above ``cap`` (5 s, 10 s, 20 s, …
    10 min by default).

    ``last_try``: a row that expires is tried one last time this long before its expiry,
    whatever the back-off says (``mark_retry``): long enough to claim, render and send it
    before the deadline (a reminder's is its session's start), short enough that an SMTP
    outage ending just before the deadline still lets the message through.
    """

    first: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=10)
    jitter: float = 0.2
    last_try: timedelta = timedelta(seconds=2)

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        uniform = (rng or random).uniform
        # The exponent is bounded: 5 s · 2^47 no longer fits a timedelta, and a week-long
        # expiry at a 10-minute cap takes a thousand attempts.
        base = min(self.first * 2 ** min(max(attempts - 1, 0), 40), self.cap)
        delay = base * uniform(1 - self.jitter, 1 + self.jitter)
        return delay if delay <= self.cap else self.cap * uniform(1 - self.jitter, 1)


DEFAULT_POLICY = RetryPolicy()


# --- helpers ------------------------------------------------------------------------------

def _defaults(now: datetime) -> dict[str, Any]:
    return {"status": OutboxStatus.PENDING, "attempts": 0, "created_at": now, "updated_at": now}


def _insert(connection: Connection) -> Any:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(outbox)
    return sqlite.insert(outbox)


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A short write transaction: ``BEGIN IMMEDIATE`` on SQLite; on PostgreSQL a plain
    one (row locks and SKIP LOCKED do the work; no global advisory lock)."""
    if engine.dialect.name == "sqlite":
        with database.writing(engine) as connection:
            yield connection
    else:
        with engine.begin() as connection:
            yield connection


def _check_key(key: str) -> None:
    if not key or len(key) > _MAX_KEY:
        raise ValueError(f"an outbox key must be 1–{_MAX_KEY} characters, not {key!r}")


def _utc(value: datetime | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    if value.utcoffset() is None:
        raise ValueError(f"expected an aware datetime, got {value!r}")
    return value.astimezone(UTC)


def cancel_for_subscriber(connection: Connection, subscriber_id: int,
                          reason: str = "the subscriber unsubscribed or was removed",
                          now: datetime | None = None) -> int:
    """Cancel every open message to ``subscriber_id`` (in the caller's transaction)."""
    return cancel(connection, outbox.c.subscriber_id == subscriber_id, reason=reason, now=now)
