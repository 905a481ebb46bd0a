"""Subscribers: addresses with their zone, reminder offsets and notice kinds; what each
follows; one row per reminder offset (for reminder fan-out).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the values in summits.tables at this revision.
STATUSES = "'pending', 'confirmed', 'unsubscribed'"
FOLLOW_KINDS = "'all', 'summit', 'session', 'organization', 'participant'"


def _instant(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _subscriber_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["subscriber_id"],
        ["subscribers.id"],
        name=f"fk_{table}_subscriber_id_subscribers",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=False, server_default="en"),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reminders", sa.JSON(), nullable=False),
        sa.Column("notices", sa.JSON(), nullable=False),
        _instant("created_at", nullable=False),
        _instant("confirmed_at"),
        _instant("unsubscribed_at"),
        _instant("updated_at", nullable=False),
        _instant("prompted_at"),
        sa.Column("feed_token_version", sa.Integer(), nullable=False, server_default="1"),
        sa.Column("manage_token_version", sa.Integer(), nullable=False, server_default="1"),
        sa.PrimaryKeyConstraint("id", name="pk_subscribers"),
        sa.UniqueConstraint("email", name="uq_subscribers_email"),
        sa.CheckConstraint(f"status IN ({STATUSES})", name="ck_subscribers_status"),
    )
    op.create_table(
        "subscriber_follows",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("summit", sa.String(100), nullable=True),
        sa.Column("target", sa.String(200), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_subscriber_follows"),
        _subscriber_fk("subscriber_follows"),
        sa.UniqueConstraint(
            "subscriber_id",
            "kind",
            "summit",
            "target",
            name="uq_subscriber_follows_subscriber_id_kind_summit_target",
        ),
        sa.CheckConstraint(f"kind IN ({FOLLOW_KINDS})", name="ck_subscriber_follows_kind"),
    )
    op.create_index(
        "ix_subscriber_follows_kind_target_summit",
        "subscriber_follows",
        ["kind", "target", "summit"],
    )
    op.create_table(
        "subscriber_offsets",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("offset_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("subscriber_id", "offset_seconds", name="pk_subscriber_offsets"),
        _subscriber_fk("subscriber_offsets"),
        sa.CheckConstraint("offset_seconds > 0", name="ck_subscriber_offsets_positive"),
    )
    op.create_index(
        "ix_subscriber_offsets_offset_seconds", "subscriber_offsets", ["offset_seconds"]
    )


def downgrade() -> None:
    op.drop_table("subscriber_offsets")
    op.drop_table("subscriber_follows")
    op.drop_table("subscribers")
