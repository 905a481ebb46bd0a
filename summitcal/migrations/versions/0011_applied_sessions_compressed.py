"""A schedule file's sessions as last applied move out of ``schedule_files.content`` into
``schedule_files.sessions``: the same JSON, compressed (zlib, RFC 1950). At 50,000
sessions they were 60 MB of the database's 160 MB, written (and copied again from
SQLite's write-ahead log) by every cold load; compressed they are about 13 MB.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_files = sa.table("schedule_files", sa.column("summit", sa.String()),
                  sa.column("content", sa.JSON()), sa.column("sessions", sa.LargeBinary()))


def _rows() -> list[Any]:
    return list(op.get_bind().execute(sa.select(_files)))


def upgrade() -> None:
    with op.batch_alter_table("schedule_files") as batch:
        batch.add_column(sa.Column("sessions", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    for row in _rows():
        content = dict(row.content)
        sessions = content.pop("sessions", None)
        if sessions is None:
            continue
        packed = zlib.compress(json.dumps(sessions, ensure_ascii=False).encode("utf-8"), 1)
        bind.execute(sa.update(_files).where(_files.c.summit == row.summit)
                     .values(content=content, sessions=packed))


def downgrade() -> None:
    bind = op.get_bind()
    for row in _rows():
        if row.sessions is None:
            continue
        content = dict(row.content)
        content["sessions"] = json.loads(zlib.decompress(row.sessions))
        bind.execute(sa.update(_files).where(_files.c.summit == row.summit)
                     .values(content=content))
    with op.batch_alter_table("schedule_files") as batch:
        batch.drop_column("sessions")
