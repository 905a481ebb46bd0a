"""The database tables (SQLAlchemy Core). Alembic migrations in ``migrations/`` create them;
a test checks the two agree.

Times: a session's truth is its wall time (naive ISO text + fold) in its IANA zone;
``starts_at``/``ends_at`` are the UTC instants derived from it, for queries. Every
instant is a ``UtcDateTime``: aware in Python, UTC in the database.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
    TypeDecorator,
)

from summitcal.summits.changes import KINDS
from summitcal.summits.model import MODES, STATUSES

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC. Naive datetimes are refused.

    PostgreSQL keeps ``timestamptz``; SQLite keeps naive UTC text (which sorts and
    compares correctly). Either way the value comes back aware, in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.utcoffset() is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, ``process_bind_param`` and the SQLite dialect's DATETIME text in one
        step: the same text (``YYYY-MM-DD HH:MM:SS.ffffff``, SQLAlchemy's storage format),
        from ``isoformat`` in C rather than a format string filled from nine attributes
        (a cold load of 50,000 sessions binds 150,000 instants)."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: Any) -> str | None:
            if value is None:
                return None
            if not isinstance(value, datetime) or value.utcoffset() is None:
                raise ValueError(f"expected an aware datetime, got {value!r}")
            return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

        return process

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """The SQL of a CHECK that ``column`` holds one of ``values``: one comparison per value
    (``status = 'a' OR status = 'b'``), not ``status IN ('a', 'b')``. SQLite evaluates an
    IN list of three or more constants by first building a temporary index of them, once
    per execution of the statement, so an INSERT run for each of many rows built one per
    row (0.55 s of a cold load's 214,000 attendance rows; migration 0012)."""
    if not values or any("'" in v for v in values):
        raise ValueError(f"expected plain values, got {values!r}")
    return " OR ".join(f"{column} = '{v}'" for v in values)


revisions = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", UtcDateTime, nullable=False),
    Column("source", Text, nullable=False),
    Column("summary", Text, nullable=False),
)

summits = Table(
    "summits",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", Text, nullable=False),
    Column("city", Text, nullable=False),
    Column("country", Text, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("sources", JSON, nullable=False),
)

organizations = Table(
    "organizations",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", Text, nullable=False),
)

participants = Table(
    "participants",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", Text, nullable=False),
    Column("role", Text, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("summit", String(100), ForeignKey("summits.id"), nullable=False),
    Column("id", String(100), nullable=False),
    Column("title", Text, nullable=False),
    Column("timezone", String(64), nullable=False),
    Column("start_local", String(32)),  # naive ISO wall time, e.g. 2021-09-16T10:00:00
    Column("start_fold", SmallInteger, nullable=False),
    Column("end_local", String(32)),
    Column("end_fold", SmallInteger, nullable=False),
    Column("date", Date),  # all-day sessions
    Column("end_date", Date),  # inclusive
    Column("starts_at", UtcDateTime, nullable=False),
    Column("ends_at", UtcDateTime, nullable=False),
    Column("venue", Text),
    Column("status", String(16), nullable=False),
    Column("description", Text),
    Column("video_url", Text),
    Column("sequence", Integer, nullable=False),
    Column("last_modified", UtcDateTime, nullable=False),
    Column("cancelled_at", UtcDateTime),
    Column("revision_id", Integer, ForeignKey("revisions.id"), nullable=False),
    PrimaryKeyConstraint("summit", "id"),
    CheckConstraint(one_of("status", STATUSES), name="status"),
    CheckConstraint('(start_local IS NULL) <> ("date" IS NULL)', name="start_or_date"),
    Index(None, "starts_at"),
    Index(None, "revision_id"),
)

session_organizations = Table(
    "session_organizations",
    metadata,
    Column("summit", String(100), nullable=False),
    Column("session", String(100), nullable=False),
    Column("organization", String(100), ForeignKey("organizations.id"), nullable=False),
    Column("position", SmallInteger, nullable=False),
    PrimaryKeyConstraint("summit", "session", "organization"),
    ForeignKeyConstraint(["summit", "session"], ["sessions.summit", "sessions.id"]),
    Index(None, "organization"),
)

attendance = Table(
    "attendance",
    metadata,
    Column("summit", String(100), nullable=False),
    Column("session", String(100), nullable=False),
    Column("participant", String(100), ForeignKey("participants.id"), nullable=False),
    Column("position", SmallInteger, nullable=False),
    Column("mode", String(16), nullable=False),
    Column("delegate", String(100), ForeignKey("participants.id")),
    Column("note", Text),
    Column("announced", Date),
    PrimaryKeyConstraint("summit", "session", "participant"),
    ForeignKeyConstraint(["summit", "session"], ["sessions.summit", "sessions.id"]),
    CheckConstraint(one_of("mode", MODES), name="mode"),
    Index(None, "participant"),
)

changes = Table(
    "changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("revision_id", Integer, ForeignKey("revisions.id"), nullable=False, index=True),
    Column("kind", String(32), nullable=False),
    Column("summit", String(100)),
    Column("session", String(100)),
    Column("participant", String(100)),
    Column("organization", String(100)),
    Column("field", String(64)),
    Column("old", JSON(none_as_null=True)),
    Column("new", JSON(none_as_null=True)),
    Column("note", Text),
    CheckConstraint(one_of("kind", KINDS), name="kind"),
    Index(None, "summit", "session"),
)

# What each summit's schedule file looked like when it was last applied (DESIGN.md §8): a
# load applies only what changed in the file since then, so live edits survive. ``content``
# is the file's checked content in ``summits.applied`` form; ``sha256`` is of the file's
# bytes, so an unchanged file is recognised without parsing it.
schedule_files = Table(
    "schedule_files",
    metadata,
    Column("summit", String(100), ForeignKey("summits.id"), primary_key=True),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("content", JSON, nullable=False),  # without its sessions (rows since 0011)
    Column("sessions", LargeBinary),  # content's sessions: JSON, zlib-compressed (RFC 1950)
    Column("applied_at", UtcDateTime, nullable=False),
    Column("revision_id", Integer, ForeignKey("revisions.id")),  # NULL: it changed nothing
)
