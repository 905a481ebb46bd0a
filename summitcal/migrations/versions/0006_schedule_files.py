"""What each summit's schedule file looked like when it was last applied, so a load applies
only what changed in the file since then (live edits survive restarts).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_files",
        sa.Column("summit", sa.String(100), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["summit"], ["summits.id"],
                                name="fk_schedule_files_summit_summits"),
        sa.ForeignKeyConstraint(["revision_id"], ["revisions.id"],
                                name="fk_schedule_files_revision_id_revisions"),
        sa.PrimaryKeyConstraint("summit", name="pk_schedule_files"),
    )


def downgrade() -> None:
    op.drop_table("schedule_files")
