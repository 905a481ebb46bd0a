"""Shared fixtures.

Databases: ``store`` (and ``database_url``) run each test twice, on SQLite and on
PostgreSQL. PostgreSQL is the server at ``$SUMMITCAL_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/postgres``, trust auth); the run creates one
throwaway database with a random name, gives every test its own schema in it, and drops
the database at the end. When the server is unreachable the PostgreSQL half is skipped,
or fails when ``CI=true`` (see ``tests/tools.py``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import make_url

from summitcal.summits.model import Attendance, Organization, Participant, Schedule, Session, Summit
from summitcal.summits.store import Store
from tests.tools import missing_tool

POSTGRES_SERVER = os.environ.get(
    "SUMMITCAL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _connect(url: str) -> Any:
    """An autocommit psycopg connection to ``url``, or skip/fail when there is none."""
    try:
        import psycopg
    except ImportError:
        missing_tool("PostgreSQL", "psycopg is not installed (pip install -e '.[postgres]')")
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        reason = str(error).strip().splitlines()[0]
        missing_tool("PostgreSQL", f"cannot connect to {POSTGRES_SERVER}: {reason}")


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """The SQLAlchemy URL of a database created for this test run and dropped after it."""
    name = f"summitcal_test_{secrets.token_hex(6)}"
    with _connect(POSTGRES_SERVER) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(POSTGRES_SERVER).set(drivername="postgresql+psycopg", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with _connect(POSTGRES_SERVER) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_url(postgres_database: str) -> Iterator[str]:
    """A URL whose connections work in a fresh schema (search_path) of the run's database."""
    schema = f"test_{secrets.token_hex(6)}"
    with _connect(postgres_database) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(postgres_database).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with _connect(postgres_database) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{folder / 'data' / 'summitcal.sqlite3'}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, SQLite then PostgreSQL."""
    if request.param == "sqlite":
        return sqlite_url(tmp_path)
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A migrated, empty store on each database."""
    with Store(database_url) as store:
        store.upgrade()
        yield store


# --- schedules built from the model (independent of the TOML loader) -------------------

DUSHANBE = ZoneInfo("Asia/Dushanbe")


def _dushanbe() -> Schedule:
    summit = Summit(
        "dushanbe-2021",
        "CSTO and SCO summits, Dushanbe 2021",
        "Dushanbe",
        "Tajikistan",
        "Asia/Dushanbe",
        ("https://example.org/dushanbe",),
    )
    putin = Attendance("putin", "in_person")
    sessions = [
        Session(
            "dushanbe-2021",
            "csto-council",
            "Session of the CSTO Collective Security Council",
            "Asia/Dushanbe",
            ("csto",),
            start=datetime(2021, 9, 16, 10, 0, tzinfo=DUSHANBE),
            end=datetime(2021, 9, 16, 13, 0, tzinfo=DUSHANBE),
            venue="Palace of Nations, Dushanbe",
            attendance=(putin, Attendance("rahmon", "in_person")),
        ),
        Session(
            "dushanbe-2021",
            "sco-council",
            "Meeting of the SCO Council of Heads of State",
            "Asia/Dushanbe",
            ("sco",),
            start=datetime(2021, 9, 17, 10, 0, tzinfo=DUSHANBE),
            end=datetime(2021, 9, 17, 13, 0, tzinfo=DUSHANBE),
            venue="Palace of Nations, Dushanbe",
            status="tentative",
            description="Twentieth anniversary of the SCO.\nExpanded format.",
            attendance=(putin,),
        ),
        Session(
            "dushanbe-2021",
            "arrivals",
            "Arrival of the delegations",
            "Asia/Dushanbe",
            ("csto", "sco"),
            date=date(2021, 9, 15),
            end_date=date(2021, 9, 16),
        ),
    ]
    return Schedule(
        summits={summit.id: summit},
        organizations={
            "csto": Organization("csto", "Collective Security Treaty Organization"),
            "sco": Organization("sco", "Shanghai Cooperation Organisation"),
        },
        participants={
            "putin": Participant("putin", "Vladimir Putin", "President of Russia"),
            "rahmon": Participant("rahmon", "Emomali Rahmon", "President of Tajikistan"),
            "lavrov": Participant("lavrov", "Sergey Lavrov", "Minister of Foreign Affairs"),
        },
        sessions={s.key: s for s in sessions},
    )


@pytest.fixture
def dushanbe() -> Schedule:
    """The Dushanbe 2021 summit: two timed sessions and an all-day one."""
    return _dushanbe()


def _edit(schedule: Schedule, session: str, **fields: Any) -> Schedule:
    """``schedule`` with the fields of ``session`` (of its only summit) replaced;
    ``drop=True`` removes the session instead."""
    sessions = dict(schedule.sessions)
    key = next(k for k in sessions if k[1] == session)
    if fields.pop("drop", False):
        del sessions[key]
    else:
        sessions[key] = replace(sessions[key], **fields)
    return replace(schedule, sessions=sessions)


@pytest.fixture
def edit() -> Callable[..., Schedule]:
    """``edit(schedule, "sco-council", venue=…)``: a copy with one session changed."""
    return _edit
