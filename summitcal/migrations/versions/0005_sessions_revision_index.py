"""Index sessions by the revision that last wrote them, so a reader catching up after a
revision reads only the sessions it wrote.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_sessions_revision_id", "sessions", ["revision_id"])


def downgrade() -> None:
    op.drop_index("ix_sessions_revision_id", table_name="sessions")
