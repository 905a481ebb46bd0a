"""Composed emails: parse them back and check headers, parts, escaping and the .ics."""

from __future__ import annotations

import email
import shutil
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import default
from pathlib import Path

import pytest
from icalendar import Calendar
from jinja2 import FileSystemLoader

from summitcal.core.templating import TEMPLATES, environment
from summitcal.feeds.event import event_bytes, uid
from summitcal.scheduler import samples
from summitcal.scheduler.compose import (
    TemplateProblem,
    check_templates,
    compose,
    default_list_id,
    message_id,
    session_ics,
)
from summitcal.scheduler.messages import (
    AttendanceItem,
    AttendanceNotice,
    Confirm,
    Context,
    MessageKind,
    Reminder,
    ScheduleNotice,
    SessionChange,
    Welcome,
)
from summitcal.summits.model import Attendance

BASE_URL = "https://cal.example.org"
SENDER = "summitcal <summitcal@cal.example.org>"
RECIPIENT = "reader@example.net"
UNSUBSCRIBE = f"{BASE_URL}/unsubscribe/tok-123"
MANAGE = f"{BASE_URL}/manage/tok-123"
DATE = datetime(2021, 9, 15, 12, 30, tzinfo=UTC)
SCHEDULE = samples.schedule()
CSTO, SCO, ASTANA = samples.CSTO, samples.SCO, samples.ASTANA
HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "List-Id",
           "List-Unsubscribe", "List-Unsubscribe-Post", "MIME-Version", "Content-Type"]


def send(context: Context, key: str = "key-1", list_id: str | None = None) -> EmailMessage:
    """Compose, serialise and parse back, as a mail client would see it."""
    message = compose(context, sender=SENDER, recipient=RECIPIENT, key=key, date=DATE,
                      base_url=BASE_URL, unsubscribe_url=UNSUBSCRIBE, list_id=list_id)
    return parse(message.data)


def parse(data: bytes) -> EmailMessage:
    """``email``'s parser, independent of the writer (``scheduler.rawmail``)."""
    parsed = email.message_from_bytes(data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def text_of(message: EmailMessage) -> str:
    """The plain text as a reader sees it (lines end in CRLF on the wire)."""
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def html_of(message: EmailMessage) -> str:
    part = message.get_body(("html",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def reminder(session=CSTO, offset=timedelta(hours=1)) -> Reminder:  # type: ignore[no-untyped-def]
    return Reminder(session, SCHEDULE, "Europe/Moscow", offset, MANAGE)


@pytest.mark.parametrize("context", samples.contexts(BASE_URL), ids=lambda c: c.kind)
def test_every_kind_has_exactly_the_headers(context: Context) -> None:
    message = send(context)
    assert list(message.keys()) == HEADERS
    assert message["From"] == SENDER
    assert message["To"] == RECIPIENT
    assert message["Date"] == "Wed, 15 Sep 2021 12:30:00 +0000"
    assert message["Date"].datetime == DATE
    assert message["Message-ID"] == message_id("key-1", BASE_URL)
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["List-Id"] == "<summitcal.cal.example.org>"
    assert message["List-Unsubscribe"] == f"<{UNSUBSCRIBE}>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["MIME-Version"] == "1.0"
    for part in message.walk():
        if part is not message:
            assert "MIME-Version" not in part


@pytest.mark.parametrize("context", samples.contexts(BASE_URL), ids=lambda c: c.kind)
def test_every_kind_is_text_and_html_ending_with_why_and_unsubscribe(context: Context) -> None:
    message = send(context)
    body = message if context.kind != "reminder" else next(message.iter_parts())
    assert body.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    text, html = text_of(message), html_of(message)
    assert text.rstrip().endswith(f"Unsubscribe: {UNSUBSCRIBE}")
    assert "-- \n" in text
    assert html.rstrip().endswith("</html>")
    tail = html[html.rindex("<hr"):]
    assert f'<a href="{UNSUBSCRIBE}"' in tail and "Unsubscribe</a>" in tail
    assert ("You " in tail or "Someone asked" in tail or "An operator" in tail)
    assert "Someone, hopefully" not in tail


def test_message_id_follows_the_idempotency_key() -> None:
    first = send(reminder(), key="reminder:dushanbe-2021/csto-council:2:17:PT1H")
    again = send(reminder(), key="reminder:dushanbe-2021/csto-council:2:17:PT1H")
    other = send(reminder(), key="reminder:dushanbe-2021/csto-council:2:17:P1D")
    assert first["Message-ID"] == again["Message-ID"] != other["Message-ID"]
    assert message_id("k", "https://cal.example.org:8443/x") == message_id("k", BASE_URL)
    assert message_id("k", BASE_URL) == "<8254c329a92850f6d539dd376f4816ee@cal.example.org>"
    assert len(message_id("k", BASE_URL)) == len("<>@cal.example.org") + 32
    assert message_id("k", "http://[::1]:8080").endswith("@[::1]>")


def test_list_id_can_be_given() -> None:
    assert send(Confirm("x"), list_id="reminders.summitcal.example")["List-Id"] == (
        "<reminders.summitcal.example>")
    assert default_list_id("http://127.0.0.1:8080") == "summitcal.127.0.0.1"


def test_the_date_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        compose(Confirm("x"), sender=SENDER, recipient=RECIPIENT, key="k",
                date=datetime(2021, 9, 15, 12), base_url=BASE_URL, unsubscribe_url=UNSUBSCRIBE)


def test_date_keeps_its_offset() -> None:
    moscow = datetime(2021, 9, 15, 15, 30, tzinfo=timezone(timedelta(hours=3)))
    message = parse(compose(Confirm("x"), sender=SENDER, recipient=RECIPIENT, key="k",
                            date=moscow, base_url=BASE_URL, unsubscribe_url=UNSUBSCRIBE).data)
    assert message["Date"] == "Wed, 15 Sep 2021 15:30:00 +0300"


def test_bodies_are_seven_bit() -> None:
    raw = compose(reminder(), sender=SENDER, recipient=RECIPIENT, key="k", date=DATE,
                  base_url=BASE_URL, unsubscribe_url=UNSUBSCRIBE).data
    assert raw.isascii()
    assert max(len(line) for line in raw.splitlines()) <= 998


@pytest.mark.parametrize(("context", "subject"), [
    (Confirm("x"), "Confirm your summitcal subscription"),
    (Welcome("https://x/f.ics", MANAGE, "UTC", (), (), (), SCHEDULE), "Welcome to summitcal"),
    (reminder(), "In 1 hour: Session of the CSTO Collective Security Council, Dushanbe"),
    (Reminder(ASTANA, SCHEDULE, "Europe/Moscow", timedelta(days=2, hours=3), MANAGE),
     "In 2 days 3 hours: SCO Council of Heads of State, Astana"),
])
def test_subjects(context: Context, subject: str) -> None:
    assert send(context)["Subject"] == subject


def test_attendance_subject_for_one_person_and_several_sessions() -> None:
    sessions = [CSTO, SCO, replace(SCO, id="sco-plus", title="SCO Plus")]
    items = tuple(AttendanceItem(s, "putin", samples.IN_PERSON, samples.VIDEO) for s in sessions)
    message = send(AttendanceNotice(items, SCHEDULE, "Europe/Moscow", MANAGE))
    assert message["Subject"] == (
        "Attendance change: Vladimir Putin — video link instead of in person (3 sessions)")
    text = text_of(message)
    assert text.count("Vladimir Putin (President of Russia): video link instead of in person") == 3
    assert "Note: Self-isolation after COVID-19 cases in his entourage" in text
    assert "Announced: Tuesday 14 September 2021" in text


def test_attendance_subject_names_a_single_session() -> None:
    delegated = Attendance("modi", "delegated", delegate="jaishankar")
    item = AttendanceItem(CSTO, "modi", Attendance("modi", "in_person"), delegated)
    message = send(AttendanceNotice((item,), SCHEDULE, "Europe/Moscow", MANAGE))
    assert message["Subject"] == (
        "Attendance change: Narendra Modi — delegated to S. Jaishankar instead of in person "
        "(Session of the CSTO Collective Security Council)")


def test_attendance_item_from_a_typed_change() -> None:
    from summitcal.summits.changes import Change

    change = Change("attendance_changed", "dushanbe-2021", "csto-council", participant="putin",
                    field="attendance", old="in_person", new="video", note="Self-isolation")
    item = AttendanceItem.from_change(change, CSTO)
    assert item.old == Attendance("putin", "in_person")
    assert item.new == samples.VIDEO  # the session's own entry, with its announcement date


def test_schedule_change_moved() -> None:
    before = replace(CSTO, start=datetime(2021, 9, 17, 10, tzinfo=samples.DUSHANBE),
                     end=datetime(2021, 9, 17, 13, tzinfo=samples.DUSHANBE))
    message = send(ScheduleNotice((SessionChange(before, CSTO),), SCHEDULE, "Europe/Moscow",
                                  MANAGE))
    assert message["Subject"] == (
        "Schedule change: Session of the CSTO Collective Security Council, Dushanbe — moved to "
        "Thursday 16 September 2021, 10:00 Dushanbe time")
    text = text_of(message)
    assert ("Time\n  was: Friday 17 September 2021, 10:00–13:00 Dushanbe (UTC+5) — 08:00–11:00 "
            "your time (Europe/Moscow, UTC+3)\n  now: Thursday 16 September 2021, 10:00–13:00 "
            "Dushanbe (UTC+5) — 08:00–11:00 your time (Europe/Moscow, UTC+3)\n") in text


def test_schedule_change_cancelled_and_several_sessions() -> None:
    cancelled = SessionChange(SCO, replace(SCO, status="cancelled"))
    message = send(ScheduleNotice((cancelled,), SCHEDULE, "Europe/Moscow", MANAGE))
    assert message["Subject"] == (
        "Schedule change: SCO Council of Heads of State, Dushanbe — cancelled")
    text = text_of(message)
    assert "CANCELLED: SCO Council of Heads of State" in text
    assert "When: Friday 17 September 2021, 10:00–13:00 Dushanbe (UTC+5)" in text
    assert "Status\n  was: confirmed\n  now: cancelled\n" in text
    venue = SessionChange(replace(CSTO, venue="Kokhi Navruz, Dushanbe"), CSTO)
    message = send(ScheduleNotice((cancelled, venue), SCHEDULE, "Europe/Moscow", MANAGE))
    assert message["Subject"] == (
        "Schedule changes: 2 sessions of CSTO and SCO summits, Dushanbe 2021 "
        "(1 cancelled, 1 new venue)")
    assert "Venue\n  was: Kokhi Navruz, Dushanbe\n  now: Palace of Nations, Dushanbe\n" in (
        text_of(message))


def test_schedule_change_reinstated_and_details() -> None:
    before = replace(SCO, status="cancelled", video_url="https://old.example/stream")
    message = send(ScheduleNotice((SessionChange(before, SCO),), SCHEDULE, "UTC", MANAGE))
    assert message["Subject"] == (
        "Schedule change: SCO Council of Heads of State, Dushanbe — reinstated; details updated")
    assert "Video link\n  was: https://old.example/stream\n  now: (none)\n" in text_of(message)


def test_a_change_undone_is_not_a_message() -> None:
    with pytest.raises(ValueError, match="visible change"):
        send(ScheduleNotice((SessionChange(CSTO, replace(CSTO, sequence=5)),), SCHEDULE,
                            "UTC", MANAGE))


def test_welcome_lists_links_follows_and_offsets() -> None:
    context = samples.contexts(BASE_URL)[1]
    assert isinstance(context, Welcome)
    text = text_of(send(context))
    assert "webcal://cal.example.org/feeds/private/sample-token.ics" in text
    assert "https://cal.example.org/feeds/private/sample-token.ics" in text
    assert "- All sessions of CSTO and SCO summits, Dushanbe 2021\n" in text
    assert "- Sessions with Vladimir Putin\n" in text
    assert "Time zone: Europe/Moscow (now UTC+3)" in text
    assert "Reminders: 1 day and 1 hour before each session starts\n" in text
    assert "Notices: attendance changes and schedule changes\n" in text
    assert f"Manage your subscription: {context.manage_url}" in text


def test_confirm_has_the_link_and_says_to_ignore_it() -> None:
    message = send(Confirm(f"{BASE_URL}/subscriptions/confirm/abc?x=1&y=2"))
    assert f"{BASE_URL}/subscriptions/confirm/abc?x=1&y=2" in text_of(message)
    assert "If you didn't ask for this, ignore this message" in text_of(message)
    assert f'href="{BASE_URL}/subscriptions/confirm/abc?x=1&amp;y=2"' in html_of(message)


def test_reminder_body() -> None:
    text = text_of(send(reminder()))
    assert text.startswith("In 1 hour: Session of the CSTO Collective Security Council\n")
    assert ("When:   Thursday 16 September 2021, 10:00–13:00 Dushanbe (UTC+5) — 08:00–11:00 "
            "your time (Europe/Moscow, UTC+3)\n") in text
    assert "Where:  Palace of Nations, Dushanbe\n" in text
    assert "Status: confirmed\n" in text
    assert "Video:  https://example.org/live/csto?session=1&lang=en\n" in text
    assert ("- Vladimir Putin (President of Russia): video link — Self-isolation after COVID-19 "
            "cases in his entourage (announced Tuesday 14 September 2021)\n") in text
    assert "- Narendra Modi (Prime Minister of India): delegated to S. Jaishankar\n" in text


def test_html_is_escaped_and_text_is_not() -> None:
    title = '<script>alert("x")</script> & "quotes"'
    message = send(reminder(replace(CSTO, title=title, description="a < b & c")))
    html, text = html_of(message), text_of(message)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;" in html
    assert "a &lt; b &amp; c" in html
    assert title in text and "a < b & c" in text
    assert message["Subject"] == f"In 1 hour: {title}, Dushanbe"


def test_line_breaks_never_reach_a_header() -> None:
    message = send(reminder(replace(CSTO, title="Two\nlines\r\nBcc: x@evil.example")))
    assert message["Subject"] == "In 1 hour: Two lines Bcc: x@evil.example, Dushanbe"
    assert "Bcc" not in message


def test_reminder_attaches_the_feed_event() -> None:
    message = send(reminder())
    assert message.get_content_type() == "multipart/mixed"
    attachments = list(message.iter_attachments())
    assert len(attachments) == 1
    ics = attachments[0]
    assert ics.get_content_type() == "text/calendar"
    assert ics.get_param("charset") == "utf-8"
    assert ics.get_filename() == "dushanbe-2021-csto-council.ics"
    calendar = Calendar.from_ical(ics.get_content())
    assert "METHOD" not in calendar
    [event] = calendar.walk("VEVENT")
    assert str(event["UID"]) == uid(CSTO, BASE_URL) == "dushanbe-2021-csto-council@cal.example.org"
    assert event.decoded("DTSTART") == CSTO.start
    assert event.decoded("DTSTART").tzinfo is not None
    assert event["DTSTART"].params["TZID"] == "Asia/Dushanbe"
    assert event["SEQUENCE"] == CSTO.sequence
    assert [tz["TZID"] for tz in calendar.walk("VTIMEZONE")] == ["Asia/Dushanbe"]
    # The very bytes of the feed's VEVENT.
    assert event_bytes(CSTO, SCHEDULE, BASE_URL) in session_ics(CSTO, SCHEDULE, BASE_URL)


def test_all_day_reminder_attachment() -> None:
    message = send(Reminder(ASTANA, SCHEDULE, "America/New_York", timedelta(days=1), MANAGE))
    [ics] = list(message.iter_attachments())
    [event] = Calendar.from_ical(ics.get_content()).walk("VEVENT")
    assert event.decoded("DTSTART") == date(2024, 7, 3)
    assert "all day (Astana)" in text_of(message)
    assert "This session is tentative" in text_of(message)


def test_check_templates_composes_every_sample() -> None:
    assert check_templates(BASE_URL) == len(samples.contexts(BASE_URL))
    assert {c.kind for c in samples.contexts(BASE_URL)} == set(MessageKind) - {MessageKind.TEST}


def _broken_copy(tmp_path: Path, name: str, old: str, new: str):  # type: ignore[no-untyped-def]
    folder = tmp_path / "email"
    shutil.copytree(TEMPLATES / "email", folder)
    source = (folder / name).read_text()
    assert old in source
    (folder / name).write_text(source.replace(old, new, 1))
    return environment("email").overlay(loader=FileSystemLoader(folder))


def test_a_typo_in_a_template_stops_the_check(tmp_path: Path) -> None:
    env = _broken_copy(tmp_path, "_session.html", "session.video_url }}</a>",
                       "session.vidoe_url }}</a>")
    with pytest.raises(TemplateProblem) as caught:
        check_templates(BASE_URL, env)
    message = str(caught.value)
    assert "_session.html, line" in message and "vidoe_url" in message


def test_a_typo_in_an_untaken_branch_is_caught_too(tmp_path: Path) -> None:
    # Only some samples have a delegate-less, role-less participant or no reminders.
    env = _broken_copy(tmp_path, "welcome.txt", "{% else %}none{% endif +%}",
                       "{% else %}{{ nothing }}{% endif +%}")
    with pytest.raises(TemplateProblem, match=r"welcome\.txt, line \d+: 'nothing' is undefined"):
        check_templates(BASE_URL, env)


def test_a_syntax_error_stops_the_check(tmp_path: Path) -> None:
    env = _broken_copy(tmp_path, "confirm.txt", "{{ confirm_url }}", "{{ confirm_url }")
    with pytest.raises(TemplateProblem, match=r"confirm\.txt, line \d+"):
        check_templates(BASE_URL, env)


def test_a_missing_template_stops_the_check(tmp_path: Path) -> None:
    env = _broken_copy(tmp_path, "reminder.html", "", "")
    (tmp_path / "email" / "reminder.html").unlink()
    with pytest.raises(TemplateProblem, match="reminder.html"):
        check_templates(BASE_URL, env)


def test_regression_long_list_unsubscribe_stays_a_plain_link() -> None:
    """CPython folded a List-Unsubscribe URL longer than a line into RFC 2047 encoded
    words: parsers decode it back, but mail clients do not offer one-click unsubscribe."""
    long_url = f"{BASE_URL}/subscriptions/unsubscribe/123456.7.xf2pLPbcLJuR1qxCaMZ0bIN822M"
    message = compose(reminder(), sender=SENDER, recipient=RECIPIENT, key="k", date=DATE,
                      base_url=BASE_URL, unsubscribe_url=long_url)
    raw = message.data
    lines = raw.replace(b"\r\n", b"\n").split(b"\n")
    assert f"List-Unsubscribe: <{long_url}>".encode() in lines
    parsed = email.message_from_bytes(raw, policy=default)
    assert parsed["List-Unsubscribe"] == f"<{long_url}>"
