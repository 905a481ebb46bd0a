"""One notice per subscriber per closing: a window with both an attendance change and a
schedule change gives a subscriber who asked for both kinds ONE message holding both,
with a subject naming both (SPEC, "attendance and schedule changes together"). Delivered
to a real SMTP server on loopback that answers the first MAIL with 421."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from summitcal.core import database
from summitcal.scheduler import notices
from summitcal.subscriptions import subscribers as subs
from tests.engine.conftest import (
    DELAY,
    DUSHANBE,
    NOW,
    SUMMIT,
    VIDEO,
    Mailroom,
    edit,
    messages,
    subscribe,
    summit_schedule,
    text_of,
)

SECOND = timedelta(seconds=1)
MOVED = datetime(2030, 7, 4, 11, 0, tzinfo=DUSHANBE)
ATTENDANCE = ("Vladimir Putin — video link instead of in person (Session of the CSTO "
              "Collective Security Council)")
SCHEDULE = ("Session of the CSTO Collective Security Council, Dushanbe — moved to Thursday "
            "4 July 2030, 11:00 Dushanbe time")


def putin_by_video_and_moved():
    """One revision: Putin by video link at the CSTO council, which moves an hour later."""
    schedule = summit_schedule()
    attendance = schedule.sessions[SUMMIT, "csto-council"].attendance
    return edit(schedule, "csto-council", start=MOVED, end=MOVED + timedelta(hours=3),
                attendance=tuple(VIDEO if a.participant == "putin" else a for a in attendance))


def subjects(mailroom: Mailroom, address: str) -> list[str]:
    return [str(m["Subject"]) for m in mailroom.received(address)
            if m["Subject"] != "Welcome to summitcal"]


def test_attendance_and_schedule_changes_in_one_window_make_one_message(
        runtime, clock, mailroom: Mailroom):
    store = runtime.store
    both = subscribe(store, "both@example.org", f"summit:{SUMMIT}")
    subscribe(store, "attendance@example.org", "participant:putin", notices=("attendance",))
    subscribe(store, "schedule@example.org", "organization:csto", notices=("schedule",))
    mailroom.deliver(NOW)  # the welcome mails
    store.apply(putin_by_video_and_moved(), "announcement", now=NOW)
    clock.run_once(now=NOW + SECOND)
    assert clock.run_once(now=NOW + DELAY).notices == 3
    with database.writing(store.engine) as connection:  # a re-run queues nothing twice
        assert notices.close_due(connection, NOW + 2 * DELAY) == 0

    by_kind = {m.recipient: m.kind for m in messages(
        store, "attendance_change", "schedule_change", "changes")}
    assert by_kind == {"both@example.org": "changes",
                       "attendance@example.org": "attendance_change",
                       "schedule@example.org": "schedule_change"}
    (merged,) = messages(store, "changes")
    assert merged.key == notices.notice_key("changes", both, merged.payload["windows"])

    mailroom.server.handler.mail_replies = ["421 4.7.0 Try again later"]
    mailroom.deliver(NOW + DELAY)
    mailroom.drive(until=NOW + DELAY + timedelta(hours=1))

    assert subjects(mailroom, "both@example.org") == [
        f"Attendance and schedule changes: {ATTENDANCE}; {SCHEDULE}"]
    assert subjects(mailroom, "attendance@example.org") == [f"Attendance change: {ATTENDANCE}"]
    assert subjects(mailroom, "schedule@example.org") == [f"Schedule change: {SCHEDULE}"]
    (mail,) = [m for m in mailroom.received("both@example.org")
               if m["Subject"] != "Welcome to summitcal"]
    text = " ".join(text_of(mail).split())
    assert "Vladimir Putin (President of Russia): video link instead of in person" in text
    assert ("was: Thursday 4 July 2030, 10:00–13:00 Dushanbe (UTC+5) — 08:00–11:00 your time "
            "(Europe/Moscow, UTC+3) now: Thursday 4 July 2030, 11:00–14:00 Dushanbe") in text
    assert "attendance and schedule changes" in text
    assert {m.status for m in messages(store, "attendance_change", "schedule_change",
                                       "changes")} == {"sent"}


def test_a_merged_notice_shows_only_the_kinds_its_reader_still_asks_for(
        runtime, clock, mailroom: Mailroom):
    store = runtime.store
    subscribe(store, "both@example.org", f"summit:{SUMMIT}")
    mailroom.deliver(NOW)
    store.apply(putin_by_video_and_moved(), "announcement", now=NOW)
    clock.run_once(now=NOW + SECOND)
    clock.run_once(now=NOW + DELAY)
    with database.writing(store.engine) as connection:
        found = subs.by_email(connection, "both@example.org")
        assert found is not None
        prefs = subs.check_preferences(store.schedule(), timezone="Europe/Moscow",
                                       follow=[f"summit:{SUMMIT}"], notices=["schedule"])
        subs.update(connection, found, prefs, NOW + DELAY)
    mailroom.deliver(NOW + DELAY + SECOND)
    assert subjects(mailroom, "both@example.org") == [f"Schedule change: {SCHEDULE}"]


def test_each_window_is_in_one_message_per_subscriber(runtime, clock):
    """The idempotency guarantee, kind by kind: no window reaches a subscriber twice."""
    store = runtime.store
    subscribe(store, "both@example.org", "all")
    store.apply(putin_by_video_and_moved(), "announcement", now=NOW)
    later = edit(putin_by_video_and_moved(), "sco-council", venue="Kokhi Navruz")
    clock.run_once(now=NOW + SECOND)
    store.apply(later, "venue", now=NOW + DELAY + SECOND)
    clock.run_once(now=NOW + DELAY)
    clock.run_once(now=NOW + 2 * DELAY + 2 * SECOND)
    clock.run_once(now=NOW + 3 * DELAY)
    seen: list[int] = []
    for message in messages(store, "attendance_change", "schedule_change", "changes"):
        seen += message.payload["windows"]
    assert len(seen) == len(set(seen)) == 2
    with store.engine.connect() as connection:
        keys = connection.scalars(sa.select(sa.text("key")).select_from(
            sa.text("outbox"))).all()
    assert len(keys) == len(set(keys))
