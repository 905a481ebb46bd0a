"""Processes: each running web, scheduler and worker process records itself (roles, host,
pid, when last seen), which one leads the scheduling and when its clock last ticked.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "processes",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("roles", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        _instant("started_at"),
        _instant("seen_at"),
        _instant("leading_since", nullable=True),
        _instant("last_tick_at", nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_processes"),
    )
    op.create_index("ix_processes_seen_at", "processes", ["seen_at"])


def downgrade() -> None:
    op.drop_table("processes")
