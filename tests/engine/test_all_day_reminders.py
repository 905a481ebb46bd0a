"""Which midnight an all-day session's email reminder follows: the venue's (the instant
its day begins where it happens), for every reader; the private feed's VALARM instead
counts from the reader's own midnight, as calendar apps read a floating DATE. The email
says so to a reader in another zone. Delivered to a real SMTP server on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import icalendar
from fastapi.testclient import TestClient

from summitcal.core import database
from summitcal.scheduler import plans
from summitcal.subscriptions import subscribers as subs
from summitcal.web.app import create_app
from tests.engine.conftest import NOW, SUMMIT, Mailroom, messages, subscribe, text_of

# The joint meeting is all day on 4 and 5 July 2030 in Dushanbe (UTC+5).
VENUE_MIDNIGHT = datetime(2030, 7, 3, 19, 0, tzinfo=UTC)  # 4 July 00:00 in Dushanbe


def test_an_all_day_reminder_follows_the_venues_midnight_and_says_so(
        runtime, clock, mailroom: Mailroom):
    store = runtime.store
    reader = subscribe(store, "ny@example.org", f"session:{SUMMIT}/joint", reminders=("P1D",),
                       zone="America/New_York")
    mailroom.deliver(NOW)  # the welcome mail
    clock.run_once(now=NOW)
    fire_at = VENUE_MIDNIGHT - timedelta(days=1)
    queue_at = fire_at - plans.QUEUE_AHEAD  # rows are queued ahead, due at the instant
    assert clock.run_once(now=queue_at - timedelta(seconds=1)).queued == 0
    assert clock.run_once(now=queue_at).queued == 1
    (row,) = messages(store, "reminder")
    assert (row.due_at, row.expires_at) == (fire_at, VENUE_MIDNIGHT)
    mailroom.deliver(fire_at - timedelta(seconds=1))
    assert not [m for m in mailroom.received("ny@example.org") if "Joint" in m["Subject"]]

    mailroom.deliver(fire_at)
    (mail,) = [m for m in mailroom.received("ny@example.org") if "Joint" in m["Subject"]]
    assert str(mail["Subject"]) == "In 1 day: Joint meeting of the CSTO and SCO, Dushanbe"
    text = " ".join(text_of(mail).split())
    assert "Thursday 4 – Friday 5 July 2030, all day (Dushanbe)" in text
    assert ("The day begins in Dushanbe at 00:00 (UTC+5), which is 15:00 Wednesday 3 July "
            "your time (America/New_York, UTC-4).") in text

    # The private feed's alarm is relative to a floating date: the reader's own midnight
    # (4 July 00:00 in New York = 04:00 UTC) minus a day — nine hours after the email.
    with database.reading(store.engine) as connection:
        found = subs.get(connection, reader)
    assert found is not None
    feed = found.links(runtime.config).feed.removeprefix("https://summitcal.test")
    with TestClient(create_app(runtime)) as client:
        calendar = icalendar.Calendar.from_ical(client.get(feed).content)
    (event,) = [e for e in calendar.walk("VEVENT") if "Joint" in str(e["SUMMARY"])]
    assert event["DTSTART"].params.get("VALUE") == "DATE"
    (alarm,) = event.walk("VALARM")
    assert alarm.decoded("TRIGGER") == -timedelta(days=1)
    assert "RELATED" not in alarm["TRIGGER"].params or alarm["TRIGGER"].params["RELATED"] == "START"


def test_a_reader_in_the_venues_zone_gets_no_extra_line(runtime, clock, mailroom: Mailroom):
    subscribe(runtime.store, "local@example.org", f"session:{SUMMIT}/joint",
              reminders=("P1D",), zone="Asia/Dushanbe")
    clock.run_once(now=NOW)
    clock.run_once(now=VENUE_MIDNIGHT - timedelta(days=1))
    mailroom.deliver(VENUE_MIDNIGHT - timedelta(days=1))
    (mail,) = [m for m in mailroom.received("local@example.org") if "Joint" in m["Subject"]]
    assert "The day begins" not in text_of(mail)
