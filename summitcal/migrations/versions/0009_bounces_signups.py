"""Bounces and sign-up abuse: a subscriber status ``bouncing`` with the count of permanent
refusals in a row; sign-up requests queued by the web (the same work for every address);
the log of sign-up mail that the rate limits count.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of subscriptions.tables.SUBSCRIBER_STATUSES before and after.
OLD = "'pending', 'confirmed', 'unsubscribed'"
NEW = "'pending', 'confirmed', 'unsubscribed', 'bouncing'"
CHECK = "ck_subscribers_status"


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _statuses(old: str, new: str) -> None:
    """Swap the allowed statuses. SQLite cannot alter a CHECK, and rebuilding
    ``subscribers`` would cascade-delete its follows (foreign keys are on, and cannot be
    turned off inside the migration's transaction); a check that allows more does not
    touch the stored rows, so its text is edited in the schema as SQLite documents
    (https://sqlite.org/lang_altertable.html, "Making Other Kinds Of Table Schema
    Changes")."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(CHECK, "subscribers", type_="check")
        op.create_check_constraint(CHECK, "subscribers", f"status IN ({new})")
        return
    sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'subscribers'").scalar_one()
    before = f"status IN ({old})"
    if before not in sql:
        raise RuntimeError(f"subscribers: expected the check {before!r} in {sql!r}")
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'subscribers'",
        (sql.replace(before, f"status IN ({new})"),))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    op.add_column("subscribers", sa.Column("bounces", sa.Integer(), nullable=False,
                                           server_default="0"))
    op.add_column("subscribers", _instant("bounced_at", nullable=True))
    op.add_column("subscribers", sa.Column("last_bounce", sa.Text(), nullable=True))
    _statuses(OLD, NEW)
    op.create_table(
        "signup_requests",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
        sa.Column("choices", sa.JSON(), nullable=False),
        _instant("received_at"),
        sa.PrimaryKeyConstraint("id", name="pk_signup_requests"),
    )
    op.create_table(
        "signup_mail",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("mailbox", sa.String(320), nullable=False),
        sa.Column("client", sa.String(64), nullable=True),
        _instant("sent_at"),
        sa.PrimaryKeyConstraint("id", name="pk_signup_mail"),
    )
    op.create_index("ix_signup_mail_mailbox_sent_at", "signup_mail", ["mailbox", "sent_at"])
    op.create_index("ix_signup_mail_client_sent_at", "signup_mail", ["client", "sent_at"])
    op.create_index("ix_signup_mail_sent_at", "signup_mail", ["sent_at"])


def downgrade() -> None:
    op.drop_table("signup_mail")
    op.drop_table("signup_requests")
    op.execute("UPDATE subscribers SET status = 'confirmed' WHERE status = 'bouncing'")
    _statuses(NEW, OLD)
    op.drop_column("subscribers", "last_bounce")
    op.drop_column("subscribers", "bounced_at")
    op.drop_column("subscribers", "bounces")
