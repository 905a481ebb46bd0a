"""The outbox table: one row per message and recipient (on ``summits.tables.metadata``).

A row is written in the same transaction as whatever causes the message (a confirmed
subscription, a fired reminder plan, a change notice) and carries what rendering needs:
``kind`` and ``payload`` (links are made at render time from ``subscriber_id``). Its
``key`` is the message's idempotency key: UNIQUE, so the same message is queued at most
once, and the Message-ID is derived from it, so a re-send carries the same id.

Life of a row (see ``mail.outbox``)::

    pending ──claim──▶ sending ──accepted──▶ sent
       ▲                 │  ├──5xx / render error──▶ failed
       └──4xx, no conn.──┘  └──past expires_at─────▶ expired
    pending/sending ──cancel()──▶ cancelled           failed/expired ──retry()──▶ pending

While a row is ``sending``, ``next_attempt_at`` equals ``lease_until``: one index on
(status, next_attempt_at) then serves both halves of the claim query (due pending rows
and sending rows whose lease ran out).
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)

from summitcal.summits.tables import UtcDateTime, metadata, one_of


class OutboxStatus(StrEnum):
    """Where an outbox row is in its life (the diagram above)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


STATUSES = tuple(status.value for status in OutboxStatus)
OPEN = (OutboxStatus.PENDING.value, OutboxStatus.SENDING.value)  # rows delivery may send
FINISHED = tuple(status for status in STATUSES if status not in OPEN)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),  # confirm, welcome, reminder, test, …
    Column("key", String(255), nullable=False, unique=True),  # idempotency key
    Column("subscriber_id", Integer, ForeignKey("subscribers.id", ondelete="SET NULL"),
           index=True),
    Column("recipient", Text, nullable=False),
    Column("topic", String(255), index=True),  # what it is about, e.g. "summit/session"
    Column("payload", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime),  # NULL: never expires
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_until", UtcDateTime),
    Column("last_error", Text),
    Column("message_id", String(255)),
    Column("sent_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("updated_at", UtcDateTime, nullable=False),
    CheckConstraint(one_of("status", STATUSES), name="status"),
    Index(None, "status", "next_attempt_at"),
)

#: The running processes of a deployment, each with its roles (``web``, ``scheduler``,
#: ``worker``), written by the process itself every few seconds (``summitcal.app.presence``);
#: ``leading_since`` is set while it is the one active scheduler, ``last_tick_at`` is its
#: clock's last pass. Read by ``summitcal status`` and ``/metrics``; nothing depends on it
#: for correctness (the election is a lock, the outbox has its claims).
processes = Table(
    "processes",
    metadata,
    Column("name", String(100), primary_key=True),  # host:pid:random, as in lease owners
    Column("roles", String(64), nullable=False),  # comma-separated
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("seen_at", UtcDateTime, nullable=False, index=True),
    Column("leading_since", UtcDateTime),
    Column("last_tick_at", UtcDateTime),
)
