"""A fresh install (no ``SUMMITCAL_SECRET_KEY``, an empty data directory) with many
messages due at once: parallel delivery workers all render their first links together,
and every message is sent, signed with one whole generated key."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.core import database
from summitcal.mail.tables import outbox
from summitcal.scheduler.clock import Clock
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources
from summitcal.subscriptions import subscribers as subs
from summitcal.subscriptions.tokens import read_token
from tests.engine.conftest import DELAY, NOW, SUMMIT, Sink, summit_schedule

READERS = 300
FIRE_AT = datetime(2030, 7, 4, 4, 0, tzinfo=UTC)  # one hour before the CSTO council


def statuses(engine) -> dict[str, int]:
    query = sa.select(outbox.c.status, sa.func.count()).group_by(outbox.c.status)
    with engine.connect() as connection:
        return dict(connection.execute(query).all())


def test_regression_a_fresh_install_sends_every_message_due_at_once(store, tmp_path: Path,
                                                                     sink: Sink):
    config_file = tmp_path / "config.toml"
    config_file.write_text(
        '[service]\nbase_url = "https://summitcal.test"\ndata_dir = "data"\n'
        f'[database]\nurl = "{store.url}"\n'
        '[mail]\ntransport = "smtp"\nfrom = "summitcal <summitcal@summitcal.test>"\n'
        f'workers = 8\n[mail.smtp]\nhost = "127.0.0.1"\nport = {sink.port}\n')
    config = load_config(config_file, env={})
    runtime = Runtime(config, store)
    store.apply(summit_schedule(), "load", now=NOW)
    prefs = subs.check_preferences(store.schedule(), timezone="Europe/Moscow",
                                   follow=[f"session:{SUMMIT}/csto-council"],
                                   reminders=["PT1H"])
    with database.writing(store.engine) as connection:
        for number in range(READERS):
            subs.add(connection, f"reader{number}@example.org", prefs, NOW, confirmed=True)
    clock = Clock(store, DELAY, now=lambda: FIRE_AT)
    clock.run_once(now=NOW)
    clock.run_once(now=FIRE_AT)
    assert statuses(store.engine) == {"pending": 2 * READERS}  # a welcome and a reminder each
    key_file = tmp_path / "data" / "secret_key"
    assert not key_file.exists()

    delivery = Delivery(store.engine, config, registry(Sources.of(runtime)), batch=5,
                        clock=lambda: FIRE_AT + timedelta(seconds=1))
    with delivery:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and statuses(store.engine).get("sent") != 2 * READERS:
            time.sleep(0.2)

    assert statuses(store.engine) == {"sent": 2 * READERS}
    assert len(sink.handler.arrived) == 2 * READERS
    key = key_file.read_text().strip()
    assert len(key) >= 32
    unsubscribe = sink.handler.arrived[0].message["List-Unsubscribe"].strip("<>")
    assert read_token(key, "unsubscribe", unsubscribe.rsplit("/", 1)[1]) is not None
