"""Reminders across an SMTP outage: tried until their session starts (a last try as close
to the start as is safe), and worded from the time they are actually sent. Against a real
SMTP server on loopback that refuses every connection with 421 until it comes back."""

from __future__ import annotations

import email
import email.policy
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from summitcal.mail.outbox import DEFAULT_POLICY, RetryPolicy
from summitcal.mail.smtp import SmtpTransport
from summitcal.scheduler import wording
from summitcal.scheduler.clock import Clock
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources
from summitcal.summits.model import Session
from summitcal.summits.store import Store
from tests.engine.conftest import (
    DUSHANBE,
    NOW,
    SUMMIT,
    Mailroom,
    messages,
    subscribe,
    summit_schedule,
    text_of,
)
from tests.scheduler.conftest import SmtpServer

CSTO_START = datetime(2030, 7, 4, 5, 0, tzinfo=UTC)  # 10:00 in Dushanbe


def plan_reminder(clock: Clock, mailroom: Mailroom, offset: str) -> datetime:
    """A follower of the CSTO council with one reminder ``offset`` (welcomed); the reminder
    queued. Returns its fire time."""
    store = mailroom.runtime.store
    subscribe(store, "reader@example.org", f"session:{SUMMIT}/csto-council", reminders=(offset,))
    mailroom.deliver(NOW)
    assert [str(m["Subject"]) for m in mailroom.received("reader@example.org")] == [
        "Welcome to summitcal"]
    mailroom.server.handler.messages.clear()
    clock.run_once(now=NOW)
    (plan_offset,) = {r.offset_seconds for r in _plans(store)}
    fire_at = CSTO_START - timedelta(seconds=plan_offset)
    clock.run_once(now=fire_at)
    assert len(messages(store, "reminder")) == 1
    return fire_at


def _plans(store: Store):
    from summitcal.scheduler.plans import reminder_plans

    with store.engine.connect() as connection:
        return connection.execute(sa.select(reminder_plans)).all()


def test_a_reminder_is_retried_until_its_session_starts_not_given_up_a_backoff_step_early(
        runtime, clock, mailroom: Mailroom):
    """The outage ends 20 s before the start. With the default back-off (10 min at most
    between tries) the next step falls after the start; the last try must still come
    before it — at ``last_try`` before the start, or on an earlier step after the outage."""
    store = runtime.store
    fire_at = plan_reminder(clock, mailroom, "PT1H")
    back = CSTO_START - timedelta(seconds=20)

    ran = mailroom.drive(until=CSTO_START + timedelta(minutes=30), outage_until=back)

    (row,) = messages(store, "reminder")
    assert row.status == "sent", (row.status, row.last_error, ran)
    assert back <= row.sent_at <= CSTO_START - DEFAULT_POLICY.last_try
    assert row.attempts > 5 and ran[0] == fire_at
    (mail,) = mailroom.received("reader@example.org")
    assert "421" in (row.last_error or "")
    # Sent seconds before the start, it does not claim "In 1 hour".
    assert not str(mail["Subject"]).startswith("In ")


def test_a_reminder_still_fails_for_good_if_the_outage_outlasts_the_start(
        runtime, clock, mailroom: Mailroom):
    store = runtime.store
    plan_reminder(clock, mailroom, "PT1H")
    mailroom.drive(until=CSTO_START + timedelta(hours=1),
                   outage_until=CSTO_START + timedelta(minutes=5))
    (row,) = messages(store, "reminder")
    assert row.status == "expired" and "421" in (row.last_error or "")
    assert row.updated_at < CSTO_START  # the last try came before the start, and failed
    assert mailroom.received("reader@example.org") == []


def test_a_late_reminder_names_the_start_instead_of_its_nominal_offset(
        runtime, clock, mailroom: Mailroom):
    """Due 3 minutes before; the server is back when 1 minute 24 seconds are left."""
    fire_at = plan_reminder(clock, mailroom, "PT3M")
    mailroom.down(True)
    mailroom.deliver(fire_at)
    assert mailroom.received("reader@example.org") == []
    mailroom.down(False)
    mailroom.deliver(CSTO_START - timedelta(minutes=1, seconds=24))

    (mail,) = mailroom.received("reader@example.org")
    subject = str(mail["Subject"])
    assert subject == ("Reminder: Session of the CSTO Collective Security Council starts "
                       "Thursday 4 July 2030, 10:00 Dushanbe time (08:00 your time)")
    text = " ".join(text_of(mail).split())
    assert "In 3 minutes" not in text and "3 minutes" in text  # the offset asked for
    assert text.startswith("Starts Thursday 4 July 2030, 10:00 Dushanbe time (08:00 your "
                           "time): Session of the CSTO")
    assert "This one comes late" in text


def test_an_on_time_reminder_keeps_its_relative_wording(runtime, clock, mailroom: Mailroom):
    fire_at = plan_reminder(clock, mailroom, "PT3M")
    mailroom.deliver(fire_at + timedelta(seconds=40))  # within the minute: still true
    (mail,) = mailroom.received("reader@example.org")
    assert str(mail["Subject"]) == ("In 3 minutes: Session of the CSTO Collective Security "
                                    "Council, Dushanbe")
    assert "late" not in text_of(mail)


def test_in_real_time_the_last_try_before_the_start_goes_out_when_the_server_is_back(
        loaded: Store, runtime, smtp_server: SmtpServer):
    """Real clock, delivery threads: a session 6 s ahead, a reminder queued at once, the
    server refusing connections until 1 s before the start. Back-off: 3 s, 6 s, … — the
    step after the second try falls after the start, so only the clamped last try
    (0.5 s before the start) can deliver it."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=7)
    schedule = summit_schedule()
    session = Session(SUMMIT, "flash", "Flash briefing", "Asia/Dushanbe",
                      start=start.astimezone(DUSHANBE))
    schedule.sessions[session.key] = session
    loaded.apply(schedule, "add a briefing")
    subscribe(loaded, "reader@example.org", f"session:{SUMMIT}/flash", reminders=("PT1M",),
              now=datetime.now(UTC))
    clock = Clock(loaded, timedelta(minutes=2))
    clock.run_once()  # first pass: the cursor; plans made and due (fired late: within grace)
    clock.run_once()
    (row,) = messages(loaded, "reminder")
    assert row.expires_at == start
    smtp_server.refuse_connections = 10**9
    policy = RetryPolicy(first=timedelta(seconds=3), jitter=0, last_try=timedelta(seconds=0.5))
    delivery = Delivery(loaded.engine, runtime.config, registry(Sources.of(runtime)),
                        lambda: SmtpTransport("127.0.0.1", smtp_server.port, timeout=5),
                        workers=1, policy=policy, poll=0.05)
    with delivery:
        while datetime.now(UTC) < start - timedelta(seconds=1):
            time.sleep(0.02)
        smtp_server.refuse_connections = 0
        while datetime.now(UTC) < start + timedelta(seconds=1):
            time.sleep(0.05)
    (row,) = messages(loaded, "reminder")
    assert row.status == "sent", (row.status, row.last_error, row.attempts)
    assert row.sent_at < start
    subjects = [email.message_from_bytes(m.content, policy=email.policy.default)["Subject"]
                for m in smtp_server.handler.messages]
    assert [s for s in subjects if "Flash briefing" in s] == [
        "Reminder: Flash briefing starts " + wording.starts(session, "Europe/Moscow",
                                                            "Dushanbe")]
