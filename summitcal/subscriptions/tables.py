"""The subscriptions' tables: subscribers, what they follow, their reminder offsets, and
public sign-ups with the mail they caused (on ``summits.tables.metadata``, the one schema
Alembic sees). The subscription life cycle is in ``subscriptions.subscribers``."""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from summitcal.summits.model import FollowKind
from summitcal.summits.tables import UtcDateTime, metadata, one_of


class SubscriberStatus(StrEnum):
    """Where a subscriber stands (``subscribers.status``; ``subscriptions.subscribers``
    owns the transitions and re-exports this).

    ``bouncing``: confirmed, but permanent refusals (5xx) reached ``mail.bounce_threshold``
    in a row; nothing is mailed until the address confirms again."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCING = "bouncing"


SUBSCRIBER_STATUSES = tuple(status.value for status in SubscriberStatus)
FOLLOW_KINDS = tuple(kind.value for kind in FollowKind)
NOTICE_KINDS = ("attendance", "schedule")

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),  # normalised, lower-cased
    Column("timezone", String(64), nullable=False),
    Column("language", String(8), nullable=False, server_default="en"),
    Column("status", String(16), nullable=False),
    Column("reminders", JSON, nullable=False),  # ["P1D", "PT1H"], canonical form
    Column("notices", JSON, nullable=False),  # subset of NOTICE_KINDS
    Column("created_at", UtcDateTime, nullable=False),
    Column("confirmed_at", UtcDateTime),
    Column("unsubscribed_at", UtcDateTime),
    Column("updated_at", UtcDateTime, nullable=False),
    # When a sign-up for this address last queued a mail: at most one per hour.
    Column("prompted_at", UtcDateTime),
    Column("feed_token_version", Integer, nullable=False, server_default="1"),
    Column("manage_token_version", Integer, nullable=False, server_default="1"),
    # Permanent refusals (5xx) of this address in a row; a delivery clears it.
    Column("bounces", Integer, nullable=False, server_default="0"),
    Column("bounced_at", UtcDateTime),  # the last refusal, and what the server said
    Column("last_bounce", Text),
    CheckConstraint(one_of("status", SUBSCRIBER_STATUSES), name="status"),
)

# Sign-ups as received over HTTP, before they are looked at: the request only writes one
# of these (the same work whatever the address), and they are processed after the answer
# (``subscriptions.subscribers.process_sign_ups``).
signup_requests = Table(
    "signup_requests",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False),  # normalised
    Column("client", String(64)),  # the client's IP address, for the rate limits
    Column("choices", JSON, nullable=False),  # the checked Preferences, as JSON
    Column("received_at", UtcDateTime, nullable=False),
)

# Every mail a public sign-up caused (confirm, or the links again): the rate limits count
# these per mailbox (sub-addresses folded), per client and overall, in every process.
signup_mail = Table(
    "signup_mail",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("mailbox", String(320), nullable=False),
    Column("client", String(64)),
    Column("sent_at", UtcDateTime, nullable=False),
    Index(None, "mailbox", "sent_at"),
    Index(None, "client", "sent_at"),
    Index(None, "sent_at"),
)

# One row per follow. ``summit`` is the summit a follow is scoped to (kinds summit and
# session), ``target`` the followed id (the summit id for kind summit, the session id for
# kind session, else the organisation / participant id); both NULL for kind all.
# Fan-out looks follows up by (kind, target[, summit]) — see the index.
subscriber_follows = Table(
    "subscriber_follows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("kind", String(16), nullable=False),
    Column("summit", String(100)),
    Column("target", String(200)),
    UniqueConstraint("subscriber_id", "kind", "summit", "target"),
    CheckConstraint(one_of("kind", FOLLOW_KINDS), name="kind"),
    Index(None, "kind", "target", "summit"),
)

subscriber_offsets = Table(
    "subscriber_offsets",
    metadata,
    Column(
        "subscriber_id",
        Integer,
        ForeignKey("subscribers.id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("offset_seconds", Integer, nullable=False),
    PrimaryKeyConstraint("subscriber_id", "offset_seconds"),
    CheckConstraint("offset_seconds > 0", name="positive"),
    Index(None, "offset_seconds"),
)
