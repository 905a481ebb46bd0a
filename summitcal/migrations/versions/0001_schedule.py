"""The schedule: revisions, summits, organisations, participants, sessions, attendance,
changes.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the values in summits.model / summits.changes at this revision.
STATUSES = "'confirmed', 'tentative', 'cancelled'"
MODES = "'in_person', 'video', 'delegated', 'absent', 'unknown'"
KINDS = (
    "'added', 'time_changed', 'venue_changed', 'cancelled', 'reinstated', "
    "'details_changed', 'attendance_changed'"
)


def _id(name: str = "id", nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(100), nullable=nullable)


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "revisions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _instant("created_at"),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_revisions"),
    )
    op.create_table(
        "summits",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("city", sa.Text(), nullable=False),
        sa.Column("country", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_summits"),
    )
    op.create_table(
        "organizations",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
    )
    op.create_table(
        "participants",
        _id(),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_participants"),
    )
    op.create_table(
        "sessions",
        _id("summit"),
        _id(),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("start_local", sa.String(32), nullable=True),
        sa.Column("start_fold", sa.SmallInteger(), nullable=False),
        sa.Column("end_local", sa.String(32), nullable=True),
        sa.Column("end_fold", sa.SmallInteger(), nullable=False),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        _instant("starts_at"),
        _instant("ends_at"),
        sa.Column("venue", sa.Text(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("video_url", sa.Text(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        _instant("last_modified"),
        _instant("cancelled_at", nullable=True),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("summit", "id", name="pk_sessions"),
        sa.ForeignKeyConstraint(["summit"], ["summits.id"], name="fk_sessions_summit_summits"),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["revisions.id"], name="fk_sessions_revision_id_revisions"
        ),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_sessions_status"),
        sa.CheckConstraint(
            '(start_local IS NULL) <> ("date" IS NULL)', name="ck_sessions_start_or_date"
        ),
    )
    op.create_index("ix_sessions_starts_at", "sessions", ["starts_at"])
    op.create_table(
        "session_organizations",
        _id("summit"),
        _id("session"),
        _id("organization"),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "summit", "session", "organization", name="pk_session_organizations"
        ),
        sa.ForeignKeyConstraint(
            ["summit", "session"],
            ["sessions.summit", "sessions.id"],
            name="fk_session_organizations_summit_session_sessions",
        ),
        sa.ForeignKeyConstraint(
            ["organization"],
            ["organizations.id"],
            name="fk_session_organizations_organization_organizations",
        ),
    )
    op.create_index(
        "ix_session_organizations_organization", "session_organizations", ["organization"]
    )
    op.create_table(
        "attendance",
        _id("summit"),
        _id("session"),
        _id("participant"),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        _id("delegate", nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("announced", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("summit", "session", "participant", name="pk_attendance"),
        sa.ForeignKeyConstraint(
            ["summit", "session"],
            ["sessions.summit", "sessions.id"],
            name="fk_attendance_summit_session_sessions",
        ),
        sa.ForeignKeyConstraint(
            ["participant"], ["participants.id"], name="fk_attendance_participant_participants"
        ),
        sa.ForeignKeyConstraint(
            ["delegate"], ["participants.id"], name="fk_attendance_delegate_participants"
        ),
        sa.CheckConstraint(f"mode IN ({MODES})", name="ck_attendance_mode"),
    )
    op.create_index("ix_attendance_participant", "attendance", ["participant"])
    op.create_table(
        "changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        _id("summit", nullable=True),
        _id("session", nullable=True),
        _id("participant", nullable=True),
        _id("organization", nullable=True),
        sa.Column("field", sa.String(64), nullable=True),
        sa.Column("old", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("new", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_changes"),
        sa.ForeignKeyConstraint(
            ["revision_id"], ["revisions.id"], name="fk_changes_revision_id_revisions"
        ),
        sa.CheckConstraint(f"kind IN ({KINDS})", name="ck_changes_kind"),
    )
    op.create_index("ix_changes_revision_id", "changes", ["revision_id"])
    op.create_index("ix_changes_summit_session", "changes", ["summit", "session"])


def downgrade() -> None:
    for table in (
        "changes",
        "attendance",
        "session_organizations",
        "sessions",
        "participants",
        "organizations",
        "summits",
        "revisions",
    ):
        op.drop_table(table)
