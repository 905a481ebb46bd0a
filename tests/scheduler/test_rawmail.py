"""The fast path: ``compose_bytes`` is ``compose`` once parsed; transports take bytes."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from icalendar import Calendar

from summitcal.feeds.event import event_bytes
from summitcal.mail.smtp import SmtpTransport
from summitcal.mail.transport import FileTransport
from summitcal.scheduler import samples
from summitcal.scheduler.compose import POLICY, compose, session_ics
from summitcal.scheduler.messages import Context, Reminder
from summitcal.scheduler.rawmail import RawEmail, compose_bytes
from tests.scheduler.conftest import SmtpServer

BASE_URL = "https://cal.example.org"
SENDER = "summitcal <summitcal@cal.example.org>"
DATE = datetime(2021, 9, 15, 12, 30, tzinfo=UTC)
LONG_UNSUBSCRIBE = f"{BASE_URL}/subscriptions/unsubscribe/" + "t" * 120


def arguments(recipient: str = "reader@example.net", unsubscribe: str = f"{BASE_URL}/u/t",
              **extra: Any) -> dict[str, Any]:
    return {"sender": SENDER, "recipient": recipient, "key": f"key:{recipient}", "date": DATE,
            "base_url": BASE_URL, "unsubscribe_url": unsubscribe} | extra


def wire(message: EmailMessage) -> bytes:
    return message.as_bytes(policy=message.policy.clone(linesep="\r\n"))


def described(data: bytes) -> list[tuple[list[tuple[str, str]], Any]]:
    """Every part's headers (values as parsed) and decoded content; boundaries and the
    transfer encoding aside."""
    parsed = email.message_from_bytes(data, policy=default)
    out = []
    for part in parsed.walk():
        headers = [(name, part.get_content_type() if name.lower() == "content-type"
                    and part.is_multipart() else str(value))
                   for name, value in part.items()
                   if name.lower() != "content-transfer-encoding"]
        out.append((headers, None if part.is_multipart() else part.get_content()))
    return out


@pytest.mark.parametrize("unsubscribe", [f"{BASE_URL}/u/t", LONG_UNSUBSCRIBE])
@pytest.mark.parametrize("context", samples.contexts(BASE_URL), ids=lambda c: c.kind)
def test_the_bytes_are_the_composed_message(context: Context, unsubscribe: str) -> None:
    given = arguments(unsubscribe=unsubscribe)
    reference = described(wire(compose(context, **given)))
    fast = compose_bytes(context, **given)
    assert described(fast.data) == reference
    assert fast.message_id == compose(context, **given)["Message-ID"]
    assert (fast.sender, fast.recipients) == ("summitcal@cal.example.org",
                                              ("reader@example.net",))
    assert fast.data.isascii() and b"\r\n" in fast.data and b"\n" not in fast.data.replace(
        b"\r\n", b"")


@pytest.mark.parametrize("recipient", ["o'neil+x@example.net", "Ünï@example.net",
                                       "a@[127.0.0.1]"])
def test_unusual_recipients_and_lists_match_too(recipient: str) -> None:
    context = samples.contexts(BASE_URL)[2]
    given = arguments(recipient=recipient, list_id="list.example.org")
    assert described(compose_bytes(context, **given).data) == described(
        wire(compose(context, **given)))


def test_per_recipient_parts_differ_and_the_attachment_is_shared() -> None:
    context = Reminder(samples.CSTO, samples.schedule(), "Europe/Moscow",
                       timedelta(hours=1), f"{BASE_URL}/manage/a")
    one = compose_bytes(context, **arguments("a@example.net", f"{BASE_URL}/u/a"))
    other = compose_bytes(Reminder(samples.CSTO, samples.schedule(), "Asia/Tokyo",
                                   timedelta(hours=1), f"{BASE_URL}/manage/b"),
                          **arguments("b@example.net", f"{BASE_URL}/u/b"))
    first, second = (email.message_from_bytes(m.data, policy=default) for m in (one, other))
    assert first["To"] == "a@example.net" and second["To"] == "b@example.net"
    assert first["Message-ID"] != second["Message-ID"]
    assert "/u/b" in second.get_body(("plain",)).get_content()
    assert "Asia/Tokyo" in second.get_body(("plain",)).get_content()
    [ics_one], [ics_two] = list(first.iter_attachments()), list(second.iter_attachments())
    assert ics_one.get_content() == ics_two.get_content()


def test_session_ics_is_cached_per_version_and_keeps_the_feed_event() -> None:
    schedule = samples.schedule()
    first = session_ics(samples.CSTO, schedule, BASE_URL)
    assert session_ics(samples.CSTO, schedule, BASE_URL) is first
    assert event_bytes(samples.CSTO, schedule, BASE_URL) in first
    moved = samples.CSTO.__class__(**{**{f: getattr(samples.CSTO, f)
                                         for f in samples.CSTO.__dataclass_fields__},
                                      "sequence": samples.CSTO.sequence + 1})
    again = session_ics(moved, schedule, BASE_URL)
    assert again != first and event_bytes(moved, schedule, BASE_URL) in again
    [event] = Calendar.from_ical(again).walk("VEVENT")
    assert int(event["SEQUENCE"]) == samples.CSTO.sequence + 1
    assert session_ics(samples.CSTO, schedule, "https://other.example") != first


def test_raw_email_parses_back() -> None:
    raw = compose_bytes(samples.contexts(BASE_URL)[0], **arguments())
    parsed = raw.to_message()
    assert parsed.policy == POLICY and parsed["Message-ID"] == raw.message_id


def test_the_file_transport_writes_the_bytes_as_they_are(tmp_path: Path) -> None:
    raw = compose_bytes(samples.contexts(BASE_URL)[3], **arguments())
    transport = FileTransport(tmp_path)
    transport.send_bytes(raw.sender, list(raw.recipients), raw.data)
    [written] = list(tmp_path.glob("*.eml"))
    assert written == transport.path_for(raw.message_id)
    assert written.read_bytes() == raw.data


def test_the_smtp_transport_sends_the_bytes(smtp_server: SmtpServer) -> None:
    raws = [compose_bytes(context, **arguments(f"reader{n}@example.net"))
            for n, context in enumerate(samples.contexts(BASE_URL))]
    with SmtpTransport("127.0.0.1", smtp_server.port, timeout=5,
                       local_hostname="client.test") as transport:
        for raw in raws:
            transport.send_bytes(raw.sender, list(raw.recipients), raw.data)
        transport.send(compose(samples.contexts(BASE_URL)[0], **arguments("last@example.net")))
    delivered = smtp_server.handler.messages
    assert smtp_server.connections == 1
    assert [d.rcpt_tos for d in delivered[:-1]] == [list(r.recipients) for r in raws]
    for raw, got in zip(raws, delivered, strict=False):
        assert got.mail_from == "summitcal@cal.example.org"
        assert described(got.content) == described(raw.data)
    assert isinstance(raws[0], RawEmail)


def test_one_render_per_group_still_gives_each_reader_their_own_links() -> None:
    schedule = samples.schedule()
    for number, (manage, unsubscribe) in enumerate([
            (f"{BASE_URL}/manage/a", f"{BASE_URL}/u/a"),
            (f"{BASE_URL}/manage/b?x=1&y=<2>", f"{BASE_URL}/u/b?q='\"&"),
            (f"{BASE_URL}/manage/c", LONG_UNSUBSCRIBE)]):
        context = Reminder(samples.CSTO, schedule, "Europe/Moscow", timedelta(hours=1), manage)
        given = arguments(f"reader{number}@example.net", unsubscribe)
        assert described(compose_bytes(context, **given).data) == described(
            wire(compose(context, **given)))
