"""Text stored before the one rule for text (summits.text) passes through it now, so
every output gets text it can carry: control characters removed (a vertical tab in a
title made /changes.atom invalid XML), CR LF → LF, lone surrogates and noncharacters →
U+FFFD, and line breaks in one-line fields → spaces. Nothing is bumped or announced: the
feeds never showed these characters, and no other output could.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of summits.text as of this revision.
_NEWLINES = re.compile(r"\r\n?|[\x0b\x0c\x1c-\x1e]")
_DROPPED = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff]")
_REPLACED = re.compile(r"[\ud800-\udfff\ufffe\uffff]")
_BREAKS = re.compile(r"[ \t]*\n[ \t]*|\t")


def _lines(text: str) -> str:
    return _REPLACED.sub("\ufffd", _DROPPED.sub("", _NEWLINES.sub("\n", text)))


def _line(text: str) -> str:
    return _BREAKS.sub(" ", _lines(text))


def _json(value: Any) -> Any:
    if isinstance(value, str):
        return _lines(value)
    if isinstance(value, list):
        return [_json(item) for item in value]
    return value


# table → (key columns, {column: rule}); JSON columns take _json.
TEXT_COLUMNS: dict[str, tuple[tuple[str, ...], dict[str, Callable[[Any], Any]]]] = {
    "summits": (("id",), {"name": _line, "city": _line, "country": _line}),
    "organizations": (("id",), {"name": _line}),
    "participants": (("id",), {"name": _line, "role": _line}),
    "sessions": (("summit", "id"), {"title": _line, "venue": _line, "description": _lines}),
    "attendance": (("summit", "session", "participant"), {"note": _lines}),
    "changes": (("id",), {"old": _json, "new": _json, "note": _lines}),
    "revisions": (("id",), {"source": _lines, "summary": _lines}),
}
JSON_COLUMNS = {("changes", "old"), ("changes", "new")}


def _table(name: str, keys: tuple[str, ...], columns: dict[str, Any]) -> sa.TableClause:
    def column(col: str) -> sa.ColumnClause[Any]:
        return sa.Column(col, sa.JSON(none_as_null=True) if (name, col) in JSON_COLUMNS
                         else sa.Text())
    return sa.table(name, *(sa.column(k) for k in keys), *(column(c) for c in columns))


def upgrade() -> None:
    bind = op.get_bind()
    for name, (keys, rules) in TEXT_COLUMNS.items():
        table = _table(name, keys, rules)
        for row in bind.execute(sa.select(table)).mappings().all():
            changed = {col: rule(row[col]) for col, rule in rules.items()
                       if row[col] is not None and rule(row[col]) != row[col]}
            if changed:
                where = [table.c[k] == row[k] for k in keys]
                bind.execute(sa.update(table).where(*where).values(changed))


def downgrade() -> None:
    """The removed characters are gone; there is nothing to put back."""
