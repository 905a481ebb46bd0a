"""From outbox row to email: the renderers ``serve`` hands to delivery turn the clock's
payloads into reminders and notices with both time phrases, the .ics attachment, and
withdrawn when the message no longer applies."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default

import icalendar
import pytest

from summitcal.app.runtime import Runtime
from summitcal.mail.outbox import Message
from summitcal.scheduler.clock import Clock
from summitcal.scheduler.messages import MessageKind, Withdrawn
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources
from tests.engine.conftest import (
    DELAY,
    NOW,
    SUMMIT,
    VIDEO,
    edit,
    messages,
    subscribe,
    summit_schedule,
)

CSTO_START = datetime(2030, 7, 4, 5, 0, tzinfo=UTC)


def render(runtime: Runtime, message: Message, now: datetime) -> EmailMessage:
    """The row rendered, parsed back by ``email`` (independent of the writer)."""
    raw = registry(Sources.of(runtime)).render(message, now)
    parsed = email.message_from_bytes(raw.data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def body(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body((subtype,))
    assert part is not None
    return part.get_content().replace("\r\n", "\n")


def test_the_registry_has_a_renderer_for_every_kind(runtime: Runtime) -> None:
    assert set(registry(Sources.of(runtime))) == set(MessageKind)


def test_a_withdrawn_message_is_cancelled_or_expired() -> None:
    assert Withdrawn("the subscriber left").status == "cancelled"
    assert Withdrawn("the session started", "expired").status == "expired"
    with pytest.raises(ValueError, match="cancelled or expired"):
        Withdrawn("sent anyway", "sent")  # type: ignore[arg-type]


def test_a_reminder_shows_both_times_and_attaches_the_event(runtime: Runtime, clock: Clock):
    store = runtime.store
    subscribe(store, "reader@example.org", f"session:{SUMMIT}/csto-council")
    clock.run_once(now=NOW)
    fire_at = CSTO_START - timedelta(hours=1)
    clock.run_once(now=fire_at)
    (message,) = messages(store, "reminder")

    mail = render(runtime, message, fire_at)

    assert mail["Subject"] == "In 1 hour: Session of the CSTO Collective Security Council, " \
                               "Dushanbe"
    assert mail["To"] == "reader@example.org"
    text = body(mail)
    assert ("Thursday 4 July 2030, 10:00–13:00 Dushanbe (UTC+5) — 08:00–11:00 your time "
            "(Europe/Moscow, UTC+3)") in " ".join(text.split())
    assert mail["List-Unsubscribe"].startswith("<https://summitcal.test/subscriptions/")
    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    calendar = icalendar.Calendar.from_ical(attachment.get_content())
    (event,) = calendar.walk("VEVENT")
    assert str(event["UID"]) == "dushanbe-2030-csto-council@summitcal.test"
    assert event.decoded("DTSTART") == CSTO_START
    assert str(event["DTSTART"].params["TZID"]) == "Asia/Dushanbe"


def test_a_reminder_for_a_moved_or_cancelled_session_is_skipped(runtime: Runtime, clock):
    store = runtime.store
    subscribe(store, "reader@example.org", f"session:{SUMMIT}/csto-council")
    clock.run_once(now=NOW)
    clock.run_once(now=CSTO_START - timedelta(hours=1))
    (message,) = messages(store, "reminder")
    moved = CSTO_START + timedelta(minutes=30)
    store.apply(edit(summit_schedule(), "csto-council", start=moved, end=None), "move",
                now=CSTO_START - timedelta(minutes=59))
    with pytest.raises(Withdrawn) as skipped:
        render(runtime, message, CSTO_START - timedelta(minutes=59))
    assert skipped.value.status == "cancelled"

    store.apply(summit_schedule(), "back", now=CSTO_START - timedelta(minutes=58))
    with pytest.raises(Withdrawn) as late:
        render(runtime, message, CSTO_START + timedelta(seconds=1))
    assert late.value.status == "expired"


def test_an_attendance_notice_lists_each_session_old_to_new_with_the_note(runtime, clock):
    store = runtime.store
    subscribe(store, "reader@example.org", "participant:putin")
    schedule = summit_schedule()
    for session in ("csto-council", "sco-council"):
        attendance = schedule.sessions[SUMMIT, session].attendance
        schedule = edit(schedule, session, attendance=tuple(
            VIDEO if a.participant == "putin" else a for a in attendance))
    store.apply(schedule, "announcement", now=NOW)
    clock.run_once(now=NOW + timedelta(seconds=1))
    clock.run_once(now=NOW + DELAY)
    (message,) = messages(store, "attendance_change")

    mail = render(runtime, message, NOW + DELAY)

    assert mail["Subject"] == ("Attendance change: Vladimir Putin — video link instead of "
                                "in person (2 sessions)")
    text = " ".join(body(mail).split())
    assert text.count("Vladimir Putin (President of Russia): video link instead of "
                      "in person") == 2
    assert text.count(VIDEO.note) == 2
    assert "Session of the CSTO Collective Security Council" in text
    assert "SCO Council of Heads of State" in text


def test_a_schedule_notice_shows_the_old_and_the_new_time(runtime: Runtime, clock: Clock):
    store = runtime.store
    subscribe(store, "reader@example.org", f"summit:{SUMMIT}", zone="Asia/Tokyo")
    later = CSTO_START + timedelta(hours=1)
    store.apply(edit(summit_schedule(), "csto-council", start=later,
                     end=later + timedelta(hours=3)), "move", now=NOW)
    clock.run_once(now=NOW + timedelta(seconds=1))
    clock.run_once(now=NOW + DELAY)
    (message,) = messages(store, "schedule_change")

    mail = render(runtime, message, NOW + DELAY)

    assert mail["Subject"].startswith("Schedule change: Session of the CSTO Collective "
                                       "Security Council, Dushanbe — moved to Thursday 4 "
                                       "July 2030, 11:00 Dushanbe time")
    text = " ".join(body(mail).split())
    assert "10:00–13:00 Dushanbe (UTC+5) — 14:00–17:00 your time (Asia/Tokyo, UTC+9)" in text
    assert "11:00–14:00 Dushanbe (UTC+5) — 15:00–18:00 your time (Asia/Tokyo, UTC+9)" in text


def test_mail_to_a_subscriber_who_left_is_skipped(runtime: Runtime, clock: Clock):
    from summitcal.core import database
    from summitcal.subscriptions import subscribers as subs

    store = runtime.store
    subscribe(store, "reader@example.org", f"session:{SUMMIT}/csto-council")
    clock.run_once(now=NOW)
    clock.run_once(now=CSTO_START - timedelta(hours=1))
    (message,) = messages(store, "reminder")
    with database.writing(store.engine) as connection:
        found = subs.by_email(connection, "reader@example.org")
        assert found is not None
        subs.unsubscribe(connection, found, CSTO_START - timedelta(minutes=59))
    with pytest.raises(Withdrawn):
        render(runtime, message, CSTO_START - timedelta(minutes=59))


def test_a_reminder_the_subscriber_no_longer_wants_is_skipped(runtime: Runtime, clock: Clock):
    from summitcal.core import database
    from summitcal.subscriptions import subscribers as subs

    store = runtime.store
    subscribe(store, "reader@example.org", f"session:{SUMMIT}/csto-council")
    clock.run_once(now=NOW)
    at = CSTO_START - timedelta(hours=1)
    clock.run_once(now=at)
    (message,) = messages(store, "reminder")
    assert render(runtime, message, at)["To"] == "reader@example.org"
    for follow, reminders in (([f"session:{SUMMIT}/sco-council"], ["PT1H"]),
                              ([f"session:{SUMMIT}/csto-council"], ["PT2H"])):
        with database.writing(store.engine) as connection:
            found = subs.by_email(connection, "reader@example.org")
            assert found is not None
            prefs = subs.check_preferences(store.schedule(), timezone="Europe/Moscow",
                                           follow=follow, reminders=reminders)
            subs.update(connection, found, prefs, at)
        with pytest.raises(Withdrawn):
            render(runtime, message, at)


def test_a_notice_kind_the_subscriber_dropped_is_skipped(runtime: Runtime, clock: Clock):
    from summitcal.core import database
    from summitcal.subscriptions import subscribers as subs

    store = runtime.store
    subscribe(store, "reader@example.org", "participant:putin")
    store.apply(edit(summit_schedule(), "sco-council", attendance=(VIDEO,)), "video", now=NOW)
    clock.run_once(now=NOW + timedelta(seconds=1))
    clock.run_once(now=NOW + DELAY)
    (message,) = messages(store, "attendance_change")
    with database.writing(store.engine) as connection:
        found = subs.by_email(connection, "reader@example.org")
        assert found is not None
        prefs = subs.check_preferences(store.schedule(), timezone="Europe/Moscow",
                                       follow=["participant:putin"], notices=["schedule"])
        subs.update(connection, found, prefs, NOW + DELAY)
    with pytest.raises(Withdrawn):
        render(runtime, message, NOW + DELAY)
