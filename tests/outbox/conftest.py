"""Outbox fixtures: a migrated database on SQLite and PostgreSQL, subscribers to address,
a configuration, and the loopback SMTP servers of ``tests/scheduler/conftest.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from summitcal.app.config import Config, load_config
from summitcal.mail import outbox
from summitcal.mail.outbox import Message
from summitcal.mail.transport import RawEmail
from summitcal.subscriptions import tables as st
from summitcal.summits.store import Store
from tests.scheduler.conftest import (  # noqa: F401  (fixtures shared with the transport tests)
    Recorder,
    SmtpServer,
    make_smtp_server,
    smtp_server,
)

NOW = datetime(2021, 9, 15, 9, 0, tzinfo=UTC)
BASE_URL = "https://summitcal.test"


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated, empty database (SQLite, then PostgreSQL)."""
    with Store(database_url) as store:
        store.upgrade()
        yield store.engine


def add_subscribers(engine: Engine, count: int, domain: str = "example.org") -> list[int]:
    """``count`` confirmed subscribers reader0@domain … ; their ids."""
    ids = []
    with outbox.write_transaction(engine) as connection:
        for number in range(count):
            result = connection.execute(sa.insert(st.subscribers).values(
                email=f"reader{number}@{domain}", timezone="Europe/Moscow", language="en",
                status="confirmed", reminders=["PT1H"], notices=["attendance"],
                created_at=NOW, updated_at=NOW))
            ids.append(result.inserted_primary_key[0])
    return ids


def queue(engine: Engine, count: int, *, kind: str = "test", prefix: str = "m",
          due_at: datetime = NOW, expires_at: datetime | None = NOW + timedelta(days=1),
          domain: str = "example.org", now: datetime = NOW, **extra: Any) -> None:
    """``count`` messages to prefix0@domain …, keys ``test:prefix0`` …, in one transaction."""
    with outbox.write_transaction(engine) as connection:
        for number in range(count):
            assert outbox.enqueue(connection, kind=kind, key=f"{kind}:{prefix}{number}",
                                  recipient=f"{prefix}{number}@{domain}", subscriber_id=None,
                                  payload={"n": number}, due_at=due_at, expires_at=expires_at,
                                  now=now, **extra)


class FunctionRenderer:
    """A ``scheduler.renderers.Renderer`` from a function ``(row, now) -> RawEmail``;
    ``prepared`` records the ids of each batch it was asked to prepare."""

    def __init__(self, function: Callable[[Message, datetime], RawEmail]) -> None:
        self.function = function
        self.prepared: list[list[int]] = []

    def prepare(self, batch: Any) -> None:
        self.prepared.append([m.id for m in batch])

    def render(self, message: Message, now: datetime) -> RawEmail:
        return self.function(message, now)


def statuses(engine: Engine) -> dict[str, int]:
    return {k: v for k, v in outbox.counts(engine).items() if v}


def write_config(folder: Path, database_url: str, **sections: dict[str, Any]) -> Path:
    """A config.toml in ``folder``: the database, a base URL, ``sections`` on top."""
    tables: dict[str, dict[str, Any]] = {
        "service": {"base_url": BASE_URL, "data_dir": str(folder / "data")},
        "database": {"url": database_url},
        "mail": {"file_dir": str(folder / "mail")},
    }
    for name, values in sections.items():
        tables.setdefault(name, {}).update(values)
    lines = []
    for name, values in tables.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


@pytest.fixture
def make_config(tmp_path: Path, database_url: str) -> Callable[..., Config]:
    """``make_config(mail={...}, **{"mail.smtp": {...}})``: a loaded configuration."""

    def make(**sections: dict[str, Any]) -> Config:
        return load_config(write_config(tmp_path, database_url, **sections), env={})

    return make


def smtp_section(server: SmtpServer | None = None, port: int | None = None) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port or (server.port if server else 25),
            "timeout": "PT5S"}
