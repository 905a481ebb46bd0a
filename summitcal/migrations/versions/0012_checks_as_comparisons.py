"""On SQLite, a CHECK that lists allowed values (``status IN ('a', 'b', 'c')``) becomes a
chain of comparisons (``status = 'a' OR status = 'b' OR status = 'c'``), which allows
exactly the same values.

SQLite evaluates ``x IN (three or more constants)`` by first filling a temporary index
with the constants, once per execution of the statement; an INSERT run for many rows
(``executemany``) executes once per row, so every row inserted paid for building that
index. At 50,000 sessions a cold load inserts 214,000 attendance rows, and the CHECK on
``attendance.mode`` alone cost 0.55 s of it. Comparisons are evaluated in place.

No stored row changes, so the tables are not rebuilt: the CHECK's text is edited in the
schema, as SQLite documents for such changes (https://sqlite.org/lang_altertable.html,
"Making Other Kinds Of Table Schema Changes"), like 0009 did. PostgreSQL is left as it
is: it keeps such a CHECK as ``= ANY (ARRAY[...])``, with nothing set up per row.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VALUE = r"'[^']*'"
#: ``CHECK (column IN ('a', 'b', ...))`` as 0001–0011 wrote them.
_IN_LIST = re.compile(rf"CHECK \((\w+) IN \(({_VALUE}(?:, {_VALUE})*)\)\)")
#: ``CHECK (column = 'a' OR column = 'b' ...)`` as this migration writes them.
_COMPARISONS = re.compile(rf"CHECK \((\w+) = ({_VALUE})((?: OR \1 = {_VALUE})*)\)")


def _as_comparisons(found: re.Match[str]) -> str:
    column, values = found.group(1), re.findall(_VALUE, found.group(2))
    return f"CHECK ({' OR '.join(f'{column} = {value}' for value in values)})"


def _as_list(found: re.Match[str]) -> str:
    column = found.group(1)
    values = [found.group(2), *re.findall(_VALUE, found.group(3))]
    return f"CHECK ({column} IN ({', '.join(values)}))"


def _rewrite(pattern: re.Pattern[str], replace: Callable[[re.Match[str]], str]) -> None:
    """Rewrite the matching CHECKs in every table's schema text (SQLite only)."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    tables = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND sql IS NOT NULL").all()
    edits = [(pattern.sub(replace, sql), name) for name, sql in tables if pattern.search(sql)]
    if not edits:
        return
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema = ON")
    for sql, name in edits:
        bind.exec_driver_sql(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = ?", (sql, name))
    bind.exec_driver_sql(f"PRAGMA schema_version = {int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema = OFF")


def upgrade() -> None:
    _rewrite(_IN_LIST, _as_comparisons)


def downgrade() -> None:
    _rewrite(_COMPARISONS, _as_list)
