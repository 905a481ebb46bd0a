"""Reminder plans and change notices: plans per (session, offset), the notice cursor, the
sessions as of the cursor, and the merge windows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of scheduler.plans.STATUSES and scheduler.notices.WINDOW_STATUSES.
PLAN_STATUSES = "'pending', 'fired', 'cancelled', 'expired'"
WINDOW_STATUSES = "'open', 'closed', 'quiet'"


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _id(name: str) -> sa.Column:
    return sa.Column(name, sa.String(100), nullable=False)


def upgrade() -> None:
    op.create_table(
        "reminder_plans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("summit"),
        _id("session"),
        sa.Column("offset_seconds", sa.Integer(), nullable=False),
        _instant("starts_at"),
        sa.Column("sequence", sa.Integer(), nullable=False),
        _instant("fire_at"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_reminder_plans"),
        sa.UniqueConstraint("summit", "session", "offset_seconds", "starts_at",
                            name="uq_reminder_plans_summit_session_offset_seconds_starts_at"),
        sa.CheckConstraint(f"status IN ({PLAN_STATUSES})", name="ck_reminder_plans_status"),
    )
    op.create_index("ix_reminder_plans_status_fire_at", "reminder_plans", ["status", "fire_at"])
    op.create_table(
        "notice_cursor",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_notice_cursor"),
    )
    op.create_table(
        "session_snapshots",
        _id("summit"),
        _id("session"),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("summit", "session", name="pk_session_snapshots"),
    )
    op.create_table(
        "notice_windows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _id("summit"),
        _id("session"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("before", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("first_revision", sa.Integer(), nullable=False),
        sa.Column("last_revision", sa.Integer(), nullable=False),
        _instant("opened_at"),
        _instant("last_change_at"),
        _instant("due_at"),
        _instant("closed_at", nullable=True),
        sa.Column("messages", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notice_windows"),
        sa.CheckConstraint(f"status IN ({WINDOW_STATUSES})", name="ck_notice_windows_status"),
    )
    op.create_index("ix_notice_windows_status_due_at", "notice_windows", ["status", "due_at"])
    op.create_index("ix_notice_windows_summit_session", "notice_windows", ["summit", "session"])


def downgrade() -> None:
    for table in ("notice_windows", "session_snapshots", "notice_cursor", "reminder_plans"):
        op.drop_table(table)
