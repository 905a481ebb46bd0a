"""The database connection: SQLite (WAL) or PostgreSQL, transactions, and migrations.

Writers are serialised: on SQLite a write transaction starts with ``BEGIN IMMEDIATE``
(waiting up to the busy timeout for another writer); on PostgreSQL it takes a
transaction-scoped advisory lock. Whatever is allocated inside a write transaction
(revision ids) is therefore committed in order, so "the highest revision id" only grows.

Migrations are Alembic scripts in ``migrations/``, found next to this package whatever
the working directory, and run programmatically (no alembic.ini needed). Alembic is
imported only when a database is not at ``HEAD`` (``at_head``): a command on
an up-to-date database starts without it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import StaticPool

from summitcal.core.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config

#: The newest migration in ``summitcal/migrations/versions/``, so that a start-up can see
#: that the database needs nothing without importing Alembic and reading every script
#: (most of a short command's start-up). A test checks that it is Alembic's head; a new
#: migration updates it.
HEAD = "0012"

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SCHEDULE_LOCK = 0x5355_4D4D_0001  # PostgreSQL advisory lock keys ("SUMM" + purpose)
MIGRATION_LOCK = 0x5355_4D4D_0000
BUSY_TIMEOUT_MS = 30_000
_WRITE = "summitcal_write"


def shown_url(url: str) -> str:
    """``url`` as it may be shown in a message or a log: its password replaced by
    ``***`` (also when the URL cannot be parsed: whatever sits between ``user:`` and
    ``@``)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 — an unparsable URL: mask it by its shape
        return re.sub(r"(//[^/@:]*:).*@", r"\1***@", url)


def parse_url(url: str, key: str = "database.url") -> URL:
    """``url`` parsed (SQLAlchemy's ``make_url``). Raises ``ConfigError``, one line naming
    ``key`` (where the URL came from) with the password hidden, for what is not a
    database URL: SQLAlchemy raises ``ArgumentError`` for some of it and ``ValueError``
    for the rest (a port that is not a number)."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{key}: {shown_url(url)!r} is not a database URL") from None


def usable_url(url: str, key: str = "database.url") -> URL:
    """``url`` parsed, with PostgreSQL's bare ``postgresql://`` meaning psycopg 3, once it
    is known to be one this service can open: SQLite, or PostgreSQL with its driver
    installed. Raises ``ConfigError``, one line naming ``key`` (``database.url`` or the
    environment variable the URL came from) with the password hidden."""
    parsed = parse_url(url, key)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return parsed
    if backend != "postgresql":
        raise ConfigError(
            f"{key}: {shown_url(url)!r} is not supported (expected sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB)"
        )
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    try:
        parsed.get_dialect().import_dbapi()
    except ImportError as error:
        raise ConfigError(
            f"{key}: {shown_url(url)!r} needs the PostgreSQL driver ({error}); "
            "install summitcal[postgres]"
        ) from None
    return parsed


def create_engine(url: str) -> Engine:
    """An engine for ``url``: ``sqlite:///path`` or ``postgresql[+psycopg]://…``. Raises
    ``ConfigError`` (the URL shown without its password) for a URL it cannot use
    (``usable_url``)."""
    parsed = usable_url(url)
    if parsed.get_backend_name() == "postgresql":
        return sa.create_engine(parsed, pool_pre_ping=True, **_JSON)
    return _sqlite_engine(parsed)


def _json_text(value: Any) -> str:
    """JSON columns' text: orjson, several times the standard library's speed (a 50,000
    session load writes each file's normalised content and every change as JSON). Keys
    that are not strings are written as strings, as ``json.dumps`` does."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


_JSON: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def _sqlite_engine(url: sa.URL) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        # One shared connection, or every connection would see its own empty database.
        engine = sa.create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}, **_JSON
        )
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **_JSON)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (the driver's legacy mode would not).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL stays consistent and loses nothing when the process dies
        # (kill -9); only a power cut can lose the last commits. It halves commit cost.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # 64 MiB of page cache (SQLite's default is 2 MiB): a cold load inserts 430,000
        # rows at 50,000 sessions, and index pages evicted between inserts were read back.
        cursor.execute("PRAGMA cache_size = -65536")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


@contextmanager
def writing(engine: Engine, lock: int = SCHEDULE_LOCK) -> Iterator[Connection]:
    """A transaction that no other writer (any process) runs alongside; commits at the end."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE: True})
        with connection.begin():
            if connection.dialect.name == "postgresql":
                connection.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
            yield connection


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A transaction that sees one consistent snapshot across several queries."""
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection.execution_options(isolation_level="REPEATABLE READ")
        with connection.begin():
            yield connection


def alembic_config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision``; concurrent callers wait for each other."""
    from alembic import command

    with writing(engine, lock=MIGRATION_LOCK) as connection:
        command.upgrade(alembic_config(connection), revision)


def current_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at (None when never migrated), read from
    Alembic's ``alembic_version`` table with a plain query (no Alembic import)."""
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return None
        found = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    if len(found) > 1:
        raise RuntimeError(f"the database has {len(found)} schema heads, not one")
    return found[0][0] if found else None


def at_head(revision: str | None) -> bool:
    """Whether a database at ``revision`` (``current_revision``) needs no migration."""
    return revision == HEAD
