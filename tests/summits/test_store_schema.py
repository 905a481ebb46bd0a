"""Migrations, connection settings and how instants are stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.exc import StatementError

import summitcal.feeds.versions  # noqa: F401  (their tables join summits.tables.metadata)
import summitcal.mail.tables  # noqa: F401
import summitcal.scheduler.notices  # noqa: F401
import summitcal.scheduler.plans  # noqa: F401
from summitcal.core import database
from summitcal.core.errors import ConfigError
from summitcal.summits import tables as t
from summitcal.summits.model import Schedule, Session, Summit
from summitcal.summits.store import Store

NEW_YORK = ZoneInfo("America/New_York")


def head() -> str:
    return ScriptDirectory.from_config(database.alembic_config()).get_current_head()


def test_the_head_a_start_up_checks_without_alembic_is_alembics_head():
    from summitcal.core.database import HEAD

    assert HEAD == head()  # a new migration updates summitcal.core.database.HEAD
    assert database.at_head(head()) and not database.at_head("0001")


def test_upgrade_from_empty_creates_the_schema_the_code_describes(database_url):
    with Store(database_url) as store:
        assert database.current_revision(store.engine) is None
        store.upgrade()
        store.upgrade()  # idempotent: every start-up calls it
        assert database.current_revision(store.engine) == head()
        with store.engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), t.metadata) == []
            tables = set(sa.inspect(connection).get_table_names())
        assert tables == set(t.metadata.tables) | {"alembic_version"}


def test_downgrade_to_nothing_and_back(store):
    with database.writing(store.engine) as connection:
        command.downgrade(database.alembic_config(connection), "base")
    assert set(sa.inspect(store.engine).get_table_names()) <= {"alembic_version"}
    store.upgrade()
    assert store.version() == 0


def test_sqlite_file_gets_its_folder_wal_and_foreign_keys(tmp_path: Path):
    path = tmp_path / "deep" / "er" / "summitcal.sqlite3"
    with Store(f"sqlite:///{path}") as store:
        store.upgrade()
        assert path.exists()
        with store.engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == database.BUSY_TIMEOUT_MS


def test_in_memory_sqlite_works_for_quick_experiments(dushanbe):
    with Store("sqlite://") as store:
        store.upgrade()
        assert store.apply(dushanbe, "load").revision == 1


@pytest.mark.parametrize("url", ["mysql://localhost/x", "not a url"])
def test_unsupported_database_urls_are_config_errors(url):
    with pytest.raises(ConfigError, match="database.url"):
        Store(url)


def test_plain_postgresql_urls_use_psycopg():
    engine = database.create_engine("postgresql://postgres@127.0.0.1/x")
    assert engine.dialect.driver == "psycopg"
    engine.dispose()


def test_instants_are_stored_as_utc_and_come_back_aware(store):
    moscow = datetime(2021, 9, 16, 8, 0, tzinfo=ZoneInfo("Europe/Moscow"))
    with database.writing(store.engine) as connection:
        connection.execute(sa.insert(t.revisions).values(created_at=moscow, source="s", summary=""))
    with store.engine.connect() as connection:
        stored = connection.scalar(sa.select(t.revisions.c.created_at))
        found = connection.scalar(
            sa.select(sa.func.count()).where(t.revisions.c.created_at == moscow.astimezone(UTC))
        )
    assert stored == moscow and stored.tzinfo is UTC and stored.hour == 5
    assert found == 1


def test_naive_datetimes_are_refused(store):
    naive = datetime(2021, 9, 16)
    with (
        pytest.raises(StatementError, match="aware datetime"),
        database.writing(store.engine) as connection,
    ):
        connection.execute(sa.insert(t.revisions).values(created_at=naive, source="", summary=""))
    with pytest.raises(ValueError, match="aware datetime"):
        store.apply(Schedule(), "load", now=naive)
    assert store.version() == 0


def test_the_second_one_thirty_keeps_its_instant(store):
    """2021-11-07 01:30 happens twice in New York; fold=1 is the second, 06:30 UTC."""
    start = datetime(2021, 11, 7, 1, 30, tzinfo=NEW_YORK, fold=1)
    summit = Summit("nyc", "New York", "New York", "USA", "America/New_York")
    session = Session(
        "nyc",
        "late",
        "Late",
        "America/New_York",
        start=start,
        end=datetime(2021, 11, 7, 2, 30, tzinfo=NEW_YORK),
    )
    now = datetime(2021, 11, 1, tzinfo=UTC)
    store.apply(Schedule(summits={"nyc": summit}, sessions={session.key: session}), "t", now=now)

    back = store.session("nyc", "late")
    assert back.start.fold == 1 and back.start.tzinfo == NEW_YORK
    assert back.starts_at == datetime(2021, 11, 7, 6, 30, tzinfo=UTC)
    assert back.ends_at - back.starts_at == timedelta(hours=1)
    with store.engine.connect() as connection:
        row = connection.execute(sa.select(t.sessions)).one()
    assert (row.start_local, row.start_fold) == ("2021-11-07T01:30:00", 1)
    assert row.starts_at == datetime(2021, 11, 7, 6, 30, tzinfo=UTC)
    assert row.last_modified == now

    earlier = Session(
        "nyc", "late", "Late", "America/New_York", start=start.replace(fold=0), end=session.end
    )
    result = store.apply(Schedule(summits={"nyc": summit}, sessions={session.key: earlier}), "t")
    assert [(c.kind, c.field) for c in result.changes] == [("time_changed", "start")]
    assert store.session("nyc", "late").starts_at == datetime(2021, 11, 7, 5, 30, tzinfo=UTC)


@given(moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                           timezones=st.sampled_from([UTC, NEW_YORK, ZoneInfo("Asia/Dushanbe"),
                                                      ZoneInfo("Australia/Lord_Howe")])))
def test_sqlite_binds_an_instant_as_the_generic_path_does(moment):
    """``UtcDateTime``'s one-step SQLite bind gives the text that ``process_bind_param``
    and SQLAlchemy's SQLite DATETIME processor give together, fold and all."""
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    column = t.UtcDateTime()
    generic = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    expected = generic(column.process_bind_param(moment, dialect))
    assert column.bind_processor(dialect)(moment) == expected
    assert column.bind_processor(dialect)(None) is None
    with pytest.raises(ValueError, match="aware datetime"):
        column.bind_processor(dialect)(moment.replace(tzinfo=None))


def test_session_rows_name_every_column_once() -> None:
    from summitcal.summits.rows import SESSION_COLUMNS

    assert sorted(SESSION_COLUMNS) == sorted(t.sessions.c.keys())


def test_insert_many_takes_dicts_or_tuples_in_any_column_order(store: Store) -> None:
    from summitcal.summits.rows import insert_many

    columns = ("sources", "timezone", "country", "city", "name", "id")  # not the table's order
    one = {"id": "a", "name": "A", "city": "Dushanbe", "country": "Tajikistan",
           "timezone": "Asia/Dushanbe", "sources": ["https://example.org/a"]}
    two = dict(one, id="b", sources=[])
    with database.writing(store.engine) as connection:
        insert_many(connection, t.summits, [one])
        insert_many(connection, t.summits, [tuple(two[c] for c in columns)], columns)
    with store.engine.connect() as connection:
        back = [r._asdict() for r in connection.execute(sa.select(t.summits).order_by("id"))]
    assert back == [one, two]
