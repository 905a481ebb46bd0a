"""CHECKs that list allowed values are comparisons, so that SQLite inserts a row without
building anything first (regression: ``mode IN ('in_person', 'video', ...)`` made SQLite
fill a temporary index of the values for every attendance row a load inserted, 0.55 s of
a cold load at 50,000 sessions), and migration 0012 rewrites the CHECKs stored before."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

import summitcal.feeds.versions  # noqa: F401  (their tables join summits.tables.metadata)
import summitcal.mail.tables  # noqa: F401
import summitcal.scheduler.notices  # noqa: F401
import summitcal.scheduler.plans  # noqa: F401
import summitcal.subscriptions.tables  # noqa: F401
from summitcal.core import database
from summitcal.summits import tables as t
from summitcal.summits.model import Schedule
from summitcal.summits.store import Store
from tests.conftest import sqlite_url

LISTED = {  # (table, column): the values its CHECK allows
    (c.table.name, column): values
    for c in (c for table in t.metadata.tables.values() for c in table.constraints
              if isinstance(c, sa.CheckConstraint))
    if (found := re.fullmatch(r"(\w+) = '[^']*'(?: OR \1 = '[^']*')*", str(c.sqltext)))
    for column in [found.group(1)]
    for values in [re.findall(r"'([^']*)'", str(c.sqltext))]
}


def _check_sql(engine: sa.Engine) -> dict[str, list[str]]:
    """The CHECK clauses of each SQLite table, as stored in its schema."""
    with engine.connect() as connection:
        tables = connection.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'table'").all()
    return {name: re.findall(r"CHECK \((.*?)\)(?:,|\n|$)", sql) for name, sql in tables}


def _program(connection: sa.Connection, table: sa.Table) -> list[str]:
    """The opcodes of SQLite's program for an INSERT of one row into ``table``."""
    sql = str(sa.insert(table).compile(dialect=connection.dialect))
    parameters = (None,) * sql.count("?")
    return [row[1] for row in connection.exec_driver_sql(f"EXPLAIN {sql}", parameters)]


def test_every_listed_check_is_known() -> None:
    assert {("attendance", "mode"), ("sessions", "status"), ("changes", "kind"),
            ("outbox", "status"), ("reminder_plans", "status"), ("notice_windows", "status"),
            ("subscribers", "status"), ("subscriber_follows", "kind")} <= LISTED.keys()


def test_regression_inserting_a_row_builds_no_temporary_index(tmp_path: Path) -> None:
    with Store(sqlite_url(tmp_path)) as store:
        store.upgrade()
        with store.engine.connect() as connection:
            programs = {name: _program(connection, table)
                        for name, table in t.metadata.tables.items()}
    assert all(programs.values())
    assert {name: ops.count("OpenEphemeral") for name, ops in programs.items()
            if "OpenEphemeral" in ops} == {}


def test_a_migrated_database_has_the_checks_the_code_describes(tmp_path: Path) -> None:
    with Store(sqlite_url(tmp_path)) as store:
        store.upgrade()
        stored = _check_sql(store.engine)
    for (table, column), values in LISTED.items():
        assert t.one_of(column, tuple(values)) in stored[table]


def test_one_of_refuses_values_it_cannot_quote() -> None:
    with pytest.raises(ValueError):
        t.one_of("status", ("it's",))
    with pytest.raises(ValueError):
        t.one_of("status", ())


def test_migration_0012_allows_the_same_values_and_downgrades(database_url: str,
                                                              dushanbe: Schedule) -> None:
    with Store(database_url) as store:
        database.upgrade(store.engine, "0011")
        before = _check_sql(store.engine) if store.engine.dialect.name == "sqlite" else None
        store.apply(dushanbe, "load")
        store.upgrade()
        # The schedule's rows take every allowed value, and nothing else.
        for table, column in (("attendance", "mode"), ("sessions", "status"),
                              ("changes", "kind")):
            for value in LISTED[table, column]:
                with database.writing(store.engine) as connection:
                    connection.execute(sa.update(t.metadata.tables[table])
                                       .values({column: value}))
            with pytest.raises(IntegrityError, match=r"(?i)check"), \
                    database.writing(store.engine) as connection:
                connection.execute(sa.update(t.metadata.tables[table])
                                   .values({column: "bogus"}))
        if before is None:
            return
        assert _check_sql(store.engine) != before
        with database.writing(store.engine) as connection:
            from alembic import command

            command.downgrade(database.alembic_config(connection), "0011")
        assert _check_sql(store.engine) == before
