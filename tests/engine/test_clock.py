"""The clock in real time: APScheduler with three fixed jobs, a wake-up moved to the next
due instant (so a reminder goes out on time even when the periodic tick is slow), and a
clean stop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.mail.smtp import SmtpTransport
from summitcal.scheduler import plans
from summitcal.scheduler.clock import JOB_IDS, Clock
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources
from summitcal.summits.model import Schedule, Session
from summitcal.summits.store import Store
from tests.engine.conftest import (
    DELAY,
    DUSHANBE,
    SUMMIT,
    Sink,
    messages,
    subscribe,
    summit_schedule,
)


def wait(check, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.02)
    return check()


@pytest.fixture
def runtime(store: Store, sink: Sink, tmp_path: Path) -> Iterator[Runtime]:
    config = tmp_path / "config.toml"
    config.write_text(
        '[service]\nbase_url = "https://summitcal.test"\ndata_dir = "data"\n'
        f'[database]\nurl = "{store.url}"\n'
        f'[mail]\ntransport = "smtp"\nworkers = 1\n'
        f'[mail.smtp]\nhost = "127.0.0.1"\nport = {sink.port}\ntimeout = "PT5S"\n')
    yield Runtime(load_config(config, env={"SUMMITCAL_SECRET_KEY": "k" * 32}), store)


def starting_in(seconds: float) -> tuple[Schedule, datetime]:
    """The summit plus a session starting ``seconds`` from now (whole seconds)."""
    start = (datetime.now(UTC) + timedelta(seconds=seconds)).replace(microsecond=0)
    session = Session(SUMMIT, "soon", "Session starting soon", "Asia/Dushanbe",
                      start=start.astimezone(DUSHANBE))
    schedule = summit_schedule()
    schedule.sessions[session.key] = session
    return schedule, start


def test_three_fixed_jobs_whatever_the_number_of_subscribers(store: Store):
    store.apply(summit_schedule(), "load")
    clock = Clock(store, DELAY, tick=0.2)
    clock.start()
    try:
        assert sorted(j.id for j in clock._scheduler.get_jobs()) == sorted(JOB_IDS)
        for number in range(40):
            subscribe(store, f"reader{number}@example.org", "all", reminders=("PT1H", "P1D"),
                      now=datetime.now(UTC))
        assert wait(lambda: clock.last is not None and clock.last.replanned is not None)
        time.sleep(0.5)
        assert clock.job_count() == len(JOB_IDS) == 3
        with store.engine.connect() as connection:
            assert connection.scalar(sa.select(sa.func.count()).select_from(
                plans.reminder_plans)) == 4 * 2
    finally:
        clock.stop()
    assert clock.job_count() == 0
    assert not [t for t in threading.enumerate() if t.name.startswith("APScheduler")]


def test_the_wakeup_job_fires_a_reminder_on_time_with_a_slow_tick(runtime: Runtime, sink,
                                                                  monkeypatch):
    # Rows are queued QUEUE_AHEAD before the instant (30 s); 2 s here keeps the test short.
    monkeypatch.setattr(plans, "QUEUE_AHEAD", timedelta(seconds=2))
    store = runtime.store
    # Queued 6 s from now: time enough, on a loaded machine, to see the wake-up job
    # waiting for that instant before it runs.
    schedule, start = starting_in(12)
    store.apply(schedule, "load")
    subscribe(store, "reader@example.org", f"session:{SUMMIT}/soon", reminders=("PT4S",),
              now=datetime.now(UTC))
    fire_at = start - timedelta(seconds=4)
    delivery = Delivery(store.engine, runtime.config, registry(Sources.of(runtime)),
                        transport_factory=lambda: SmtpTransport("127.0.0.1", sink.port,
                                                                timeout=5))
    # A 60 s tick: only the wake-up job can be on time.
    clock = Clock(store, DELAY, wake=delivery.wake, tick=60)
    delivery.start()
    clock.start()
    try:
        queue_at = fire_at - plans.QUEUE_AHEAD
        wakeup = wait(lambda: clock._scheduler.get_job("wakeup").next_run_time == queue_at)
        assert wakeup, "the wake-up job is moved to when the plan's rows are queued"
        arrived = sink.wait_for(lambda: [
            a for a in sink.to("reader@example.org")
            if str(a.message["Subject"]).startswith("Starting now")], timeout=15)
    finally:
        clock.stop()
        delivery.stop()
    assert len(arrived) == 1
    with store.engine.connect() as connection:
        fired = connection.execute(sa.select(plans.reminder_plans).where(
            plans.reminder_plans.c.session == "soon")).one()
    assert fired.status == "fired"
    assert timedelta(0) <= fired.updated_at - queue_at < timedelta(milliseconds=300)
    print(f"plan's rows queued {(fired.updated_at - queue_at).total_seconds() * 1000:.0f} ms "
          f"late, mail arrived {(arrived[0].at - fire_at.timestamp()) * 1000:.0f} ms after due")
    assert 0 <= arrived[0].at - fire_at.timestamp() < 1.0, "sent at its instant, not before"
    assert arrived[0].message["Subject"] == "Starting now: Session starting soon, Dushanbe"
    assert [m.status for m in messages(store, "reminder")] == ["sent"]
