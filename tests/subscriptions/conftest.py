"""Fixtures for subscriptions: a runtime with the shipped schedules, an HTTP client, the
links of a subscriber, and a look into the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from scheduler.tables import outbox
from summitcal.config import load_config
from summitcal.runtime import Runtime
from summits import database
from summits import subscribers as subs
from web.app import create_app

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-key-for-subscriptions"
BASE = "https://summitcal.test"
NOW = datetime(2021, 9, 1, 12, 0, tzinfo=UTC)


def config_text(database_url: str) -> str:
    return (f'[service]\nbase_url = "{BASE}"\n[database]\nurl = "{database_url}"\n'
            f'[schedules]\npaths = ["{ROOT / "schedules"}"]\n')


@pytest.fixture
def runtime(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    config_file = tmp_path / "config.toml"
    config_file.write_text(config_text(database_url))
    runtime = Runtime.open(load_config(config_file, env={"SUMMITCAL_SECRET_KEY": SECRET}))
    runtime.load([ROOT / "schedules"], source="test")
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as client:
        yield client


def messages(runtime: Runtime, **where: Any) -> list[Any]:
    """Outbox rows (oldest first), those matching ``where`` column values."""
    query = sa.select(outbox).order_by(outbox.c.id)
    for name, value in where.items():
        query = query.where(outbox.c[name] == value)
    with runtime.store.engine.connect() as connection:
        return list(connection.execute(query))


def subscriber(runtime: Runtime, email: str) -> subs.Subscriber:
    with database.reading(runtime.store.engine) as connection:
        found = subs.by_email(connection, email)
    assert found is not None
    return found


def links(runtime: Runtime, email: str) -> subs.Links:
    return subscriber(runtime, email).links(runtime.config)


def path(url: str) -> str:
    assert url.startswith(BASE)
    return url[len(BASE):]


def sign_up(client: TestClient, email: str = "reader@example.org", **fields: Any) -> Any:
    body = {"email": email, "timezone": "Europe/Moscow", "follow": ["summit:dushanbe-2021"]}
    return client.post("/api/subscriptions", json=body | fields)


@pytest.fixture
def confirmed(client: TestClient, runtime: Runtime) -> subs.Subscriber:
    """reader@example.org, confirmed, following the Dushanbe summit, reminders P1D+PT1H."""
    assert sign_up(client).status_code == 202
    response = client.post(path(links(runtime, "reader@example.org").confirm))
    assert response.status_code == 200
    found = subscriber(runtime, "reader@example.org")
    assert found.status == "confirmed"
    return found
