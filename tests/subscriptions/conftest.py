"""Fixtures for subscriptions: a runtime with the shipped schedules, an HTTP client, the
links of a subscriber, a look into the outbox, and ``post``: delivery of every kind of
message to the fault-injecting aiosmtpd server of ``tests/scheduler/conftest.py``."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.app.server import web_app
from summitcal.core import database
from summitcal.mail.outbox import RetryPolicy
from summitcal.mail.smtp import SmtpTransport
from summitcal.mail.tables import outbox
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources
from summitcal.subscriptions import subscribers as subs
from tests.scheduler.conftest import (  # noqa: F401  (the fault-injecting SMTP server)
    SmtpServer,
    make_smtp_server,
    smtp_server,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "test-secret-key-for-subscriptions"
BASE = "https://summitcal.test"
NOW = datetime(2021, 9, 1, 12, 0, tzinfo=UTC)


def config_text(database_url: str, mail: str = "") -> str:
    """A config on ``database_url``; ``mail``: lines for its ``[mail]`` section."""
    return (f'[service]\nbase_url = "{BASE}"\n[database]\nurl = "{database_url}"\n'
            f'[schedules]\npaths = ["{ROOT / "schedules"}"]\n'
            + (f"[mail]\n{mail}\n" if mail else ""))


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
    with TestClient(web_app(runtime)) as client:
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


class Post:
    """Delivery of every kind of message (one worker, retries at once) to ``server``."""

    def __init__(self, runtime: Runtime, server: SmtpServer) -> None:
        self.server = server
        self.delivery = Delivery(
            runtime.store.engine, runtime.config, registry(Sources.of(runtime)),
            lambda: SmtpTransport("127.0.0.1", server.port, timeout=5), workers=1,
            policy=RetryPolicy(first=timedelta(0), jitter=0), poll=0.05)

    def deliver(self, rounds: int = 50) -> None:
        """Send what is due (a few rounds at most: retries come due at once)."""
        for _ in range(rounds):
            if not self.delivery.run_once():
                return

    def received(self, address: str) -> list[EmailMessage]:
        found = []
        for message in self.server.handler.messages:
            if address in message.rcpt_tos:
                parsed = email.message_from_bytes(message.content, policy=email.policy.default)
                assert isinstance(parsed, EmailMessage)
                found.append(parsed)
        return found


@pytest.fixture
def post(runtime: Runtime, smtp_server: SmtpServer) -> Iterator[Post]:  # noqa: F811
    found = Post(runtime, smtp_server)
    yield found
    found.delivery.stop()


def text_of(message: EmailMessage) -> str:
    """The plain-text body, whitespace collapsed."""
    body = message.get_body(("plain",))
    assert body is not None
    return " ".join(str(body.get_content()).split())
