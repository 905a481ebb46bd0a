"""The confirm and welcome mails through delivery: links made at render time, and a
mail that no longer fits its subscriber's state is cancelled instead of sent."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from pathlib import Path

import pytest

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.core import database
from summitcal.mail import outbox
from summitcal.mail.transport import FileTransport
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources
from summitcal.subscriptions import subscribers as subs
from tests.outbox.conftest import write_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def runtime(tmp_path, database_url):
    config = load_config(write_config(tmp_path, database_url),
                         env={"SUMMITCAL_SECRET_KEY": "k" * 32})
    runtime = Runtime.open(config)
    runtime.load([ROOT / "schedules"], source="test")
    yield runtime
    runtime.close()


def deliver_all(runtime, folder: Path) -> list[email.message.EmailMessage]:
    delivery = Delivery(runtime.store.engine, runtime.config,
                        registry(Sources.of(runtime)), lambda: FileTransport(folder),
                        workers=1)
    try:
        while delivery.run_once():
            pass
    finally:
        delivery.stop()
    return [email.message_from_bytes(p.read_bytes(), policy=default_policy)
            for p in sorted(folder.glob("*.eml"))]


def sign_up(runtime, address: str, now: datetime) -> subs.Subscriber:
    prefs = subs.check_preferences(runtime.snapshot().schedule, timezone="Europe/Moscow",
                                   follow=["summit:dushanbe-2021"],
                                   default_reminders=[timedelta(hours=1)])
    with database.writing(runtime.store.engine) as connection:
        return subs.add(connection, address, prefs, now)


def test_confirm_then_welcome(runtime, tmp_path):
    now = datetime.now(UTC)
    subscriber = sign_up(runtime, "reader@example.org", now)
    [confirm] = deliver_all(runtime, tmp_path / "one")
    links = subscriber.links(runtime.config)
    assert confirm["Subject"] == "Confirm your summitcal subscription"
    assert confirm["To"] == "reader@example.org"
    assert links.confirm in confirm.get_body(("plain",)).get_content()
    assert confirm["List-Unsubscribe"] == f"<{links.unsubscribe}>"

    with database.writing(runtime.store.engine) as connection:
        assert subs.confirm(connection, subscriber, now)
    [welcome] = deliver_all(runtime, tmp_path / "two")
    assert welcome["Subject"] == "Welcome to summitcal"
    text = welcome.get_body(("plain",)).get_content()
    assert links.feed in text and links.manage in text
    assert {m.status for m in outbox.list_messages(runtime.store.engine)} == {"sent"}


def test_a_confirm_mail_overtaken_by_events_is_cancelled(runtime, tmp_path):
    now = datetime.now(UTC)
    subscriber = sign_up(runtime, "quick@example.org", now)
    with database.writing(runtime.store.engine) as connection:
        subs.confirm(connection, subscriber, now)  # confirmed before the mail went out
    [welcome] = deliver_all(runtime, tmp_path / "mail")
    assert welcome["Subject"] == "Welcome to summitcal"
    by_kind = {m.kind: m for m in outbox.list_messages(runtime.store.engine)}
    assert by_kind["confirm"].status == "cancelled"
    assert by_kind["confirm"].last_error == "the subscriber is gone or no longer pending or bouncing"
    assert by_kind["welcome"].status == "sent"
