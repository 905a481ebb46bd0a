"""The one writer (``scheduler.rawmail``), checked by an independent parser (``email``):
RFC 5322 headers, MIME structure, RFC 8058 one-click unsubscribe, 7-bit bodies that
decode to what was written, and the transports sending the bytes as they are."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from icalendar import Calendar

from summitcal.feeds.event import event_bytes
from summitcal.mail.smtp import SmtpTransport
from summitcal.mail.transport import FileTransport, RawEmail
from summitcal.scheduler import samples
from summitcal.scheduler.compose import compose, render, session_ics, variables
from summitcal.scheduler.messages import Context, Reminder
from summitcal.scheduler.rawmail import multipart, text_part, write
from tests.scheduler.conftest import SmtpServer

BASE_URL = "https://cal.example.org"
SENDER = "summitcal <summitcal@cal.example.org>"
DATE = datetime(2021, 9, 15, 12, 30, tzinfo=UTC)
LONG_UNSUBSCRIBE = f"{BASE_URL}/subscriptions/unsubscribe/" + "t" * 120


def arguments(recipient: str = "reader@example.net", unsubscribe: str = f"{BASE_URL}/u/t",
              **extra: Any) -> dict[str, Any]:
    return {"sender": SENDER, "recipient": recipient, "key": f"key:{recipient}", "date": DATE,
            "base_url": BASE_URL, "unsubscribe_url": unsubscribe} | extra


def parse(data: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(data, policy=default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def written(**given: Any) -> RawEmail:
    values: dict[str, Any] = {
        "sender": SENDER, "recipient": "reader@example.net", "subject": "A subject",
        "date": DATE, "message_id": "<id@cal.example.org>", "list_id": "<list.example.org>",
        "unsubscribe_url": f"{BASE_URL}/u/t", "text": "Text\n", "html": "<p>HTML</p>\n"}
    return write(**(values | given))


def header_lines(data: bytes) -> list[bytes]:
    return data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@pytest.mark.parametrize("unsubscribe", [f"{BASE_URL}/u/t", LONG_UNSUBSCRIBE])
@pytest.mark.parametrize("context", samples.contexts(BASE_URL), ids=lambda c: c.kind)
def test_every_kind_is_crlf_seven_bit_and_folded(context: Context, unsubscribe: str) -> None:
    raw = compose(context, **arguments(unsubscribe=unsubscribe))
    assert (raw.sender, raw.recipients) == ("summitcal@cal.example.org", ("reader@example.net",))
    assert raw.data.isascii() and not raw.smtputf8
    assert b"\n" not in raw.data.replace(b"\r\n", b"")
    for line in raw.data.split(b"\r\n"):
        assert len(line) <= 78 or line.startswith(b"List-Unsubscribe: <"), line
    parsed = parse(raw.data)
    assert parsed["Message-ID"] == raw.message_id
    assert parsed["List-Unsubscribe"] == f"<{unsubscribe}>"
    assert parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert not parsed.defects and all(not part.defects for part in parsed.walk())


def test_without_an_unsubscribe_link_there_is_no_one_click_header() -> None:
    parsed = parse(written(unsubscribe_url=None).data)
    assert "List-Unsubscribe" not in parsed and "List-Unsubscribe-Post" not in parsed
    assert list(parsed.keys()) == ["From", "To", "Subject", "Date", "Message-ID",
                                   "Auto-Submitted", "List-Id", "MIME-Version", "Content-Type"]


@pytest.mark.parametrize("header", ["message_id", "list_id", "unsubscribe_url"])
@pytest.mark.parametrize("bad", ["<a@b>\r\nBcc: x@evil.example", "<ü@b>"])
def test_verbatim_headers_must_be_one_line_of_ascii(header: str, bad: str) -> None:
    with pytest.raises(ValueError, match="one line of ASCII"):
        written(**{header: bad})


def test_the_date_must_be_aware() -> None:
    with pytest.raises(ValueError, match="aware"):
        written(date=datetime(2021, 9, 15, 12))


@pytest.mark.parametrize("recipient", ["o'neil+x@example.net", "a@[127.0.0.1]",
                                       "Reader Name <reader@example.net>"])
def test_unusual_ascii_recipients_parse_back(recipient: str) -> None:
    raw = written(recipient=recipient)
    assert raw.data.isascii()
    assert str(parse(raw.data)["To"]) == recipient


def test_an_address_that_is_not_ascii_is_utf8_and_needs_smtputf8() -> None:
    raw = written(recipient="ünï@example.net", sender="Саммит <summitcal@cal.example.org>")
    assert raw.smtputf8 and raw.recipients == ("ünï@example.net",)
    assert "To: ünï@example.net".encode() in header_lines(raw.data)
    parsed = parse(raw.data)
    assert parsed["To"] == "ünï@example.net"
    assert parsed["From"] == "Саммит <summitcal@cal.example.org>"
    assert written(sender="Саммит <summitcal@cal.example.org>").data.isascii()


PRINTABLE = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=200)


def one_line(text: str) -> str:
    return " ".join(text.split())


@given(PRINTABLE.map(one_line))
@example("=?utf-8?q?looks_encoded?=")
@example(one_line("Dushanbe — moved " * 8))
def test_any_one_line_subject_parses_back(subject: str) -> None:
    raw = written(subject=subject)
    assert raw.data.isascii()
    assert all(len(line) <= 78 for line in header_lines(raw.data))
    assert parse(raw.data)["Subject"] == subject


# Ten characters: a longer name that is not ASCII takes several encoded words, and
# CPython's address parser (3.11) keeps the space between them (RFC 2047 6.2 says not to).
@given(PRINTABLE.map(one_line).filter(bool).map(lambda name: name[:10].strip()))
@example("=?utf-8?q?x?=")
@example('O"Neil, Ann (Ops)')
@example("Саммиткал")
def test_any_sender_name_parses_back(name: str) -> None:
    sender = str(Address(name, addr_spec="summitcal@cal.example.org")) if name else SENDER
    raw = written(sender=sender)
    assert raw.data.isascii() and raw.sender == "summitcal@cal.example.org"
    [address] = parse(raw.data)["From"].addresses
    assert (address.display_name, address.addr_spec) == (name or "summitcal",
                                                         "summitcal@cal.example.org")


def canonical(text: str) -> str:
    """Text as a part carries it: CR, LF and CRLF line ends as CRLF, one at the end
    (RFC 2046 4.1.1); other characters Python calls line breaks (U+2028, ...) stay."""
    return "\r\n".join(line.decode() for line in text.encode().splitlines()) + "\r\n"


@given(st.text(max_size=3000))
@example("plain ASCII, short lines\n")
@example("Главы государств — членов ОДКБ\n" * 12)
@example("x" * 200 + "\n-- \ntrailing space \n=3D literal\n.\n..\nFrom the start\n")
def test_any_text_part_is_seven_bit_and_decodes_to_the_text(text: str) -> None:
    part = text_part(text, "plain")
    assert part.isascii()
    assert all(len(line) <= 78 for line in part.split(b"\r\n"))
    parsed = parse(b"MIME-Version: 1.0\r\n" + part)
    assert parsed.get_content_type() == "text/plain" and parsed.get_param("charset") == "utf-8"
    assert parsed.get_content() == canonical(text)


@pytest.mark.parametrize(("text", "encoding"), [
    ("Plain ASCII.\n", "7bit"),
    ("Dushanbe — moved\n" * 3, "quoted-printable"),
    ("x" * 100 + "\n", "quoted-printable"),
    ("Главы государств — членов ОДКБ встречаются\n" * 12, "base64"),
])
def test_the_shorter_encoding_is_chosen(text: str, encoding: str) -> None:
    assert parse(b"MIME-Version: 1.0\r\n" + text_part(text, "plain"))[
        "Content-Transfer-Encoding"] == encoding


@pytest.mark.parametrize("name", ["dushanbe-2021-csto-council.ics", "душанбе.ics",
                                  'a "quoted" name.ics'])
def test_an_attachment_keeps_its_file_name(name: str) -> None:
    raw = written(attachment=text_part("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", "calendar",
                                       filename=name))
    parsed = parse(raw.data)
    assert parsed.get_content_type() == "multipart/mixed"
    body, attachment = parsed.iter_parts()
    assert [p.get_content_type() for p in body.iter_parts()] == ["text/plain", "text/html"]
    assert attachment.get_content_disposition() == "attachment"
    assert attachment.get_filename() == name
    assert attachment.get_content() == "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"


def test_a_boundary_never_occurs_in_the_parts() -> None:
    parts = [text_part("one\n", "plain"), text_part("two\n", "html")]
    for _ in range(20):
        data = multipart("alternative", parts)
        boundary = data.split(b'boundary="', 1)[1].split(b'"', 1)[0]
        assert all(boundary not in part for part in parts)
        assert data.count(b"--" + boundary) == 3


def test_per_recipient_parts_differ_and_the_attachment_is_shared() -> None:
    context = Reminder(samples.CSTO, samples.schedule(), "Europe/Moscow",
                       timedelta(hours=1), f"{BASE_URL}/manage/a")
    one = compose(context, **arguments("a@example.net", f"{BASE_URL}/u/a"))
    other = compose(Reminder(samples.CSTO, samples.schedule(), "Asia/Tokyo",
                             timedelta(hours=1), f"{BASE_URL}/manage/b"),
                    **arguments("b@example.net", f"{BASE_URL}/u/b"))
    first, second = parse(one.data), parse(other.data)
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


def test_the_file_transport_writes_the_bytes_as_they_are(tmp_path: Path) -> None:
    raw = compose(samples.contexts(BASE_URL)[3], **arguments())
    transport = FileTransport(tmp_path)
    transport.send(raw)
    [found] = list(tmp_path.glob("*.eml"))
    assert found == transport.path_for(raw.message_id)
    assert found.read_bytes() == raw.data


def test_the_smtp_transport_sends_the_bytes(smtp_server: SmtpServer) -> None:
    raws = [compose(context, **arguments(f"reader{n}@example.net"))
            for n, context in enumerate(samples.contexts(BASE_URL))]
    with SmtpTransport("127.0.0.1", smtp_server.port, timeout=5,
                       local_hostname="client.test") as transport:
        for raw in raws:
            transport.send(raw)
    delivered = smtp_server.handler.messages
    assert smtp_server.connections == 1
    assert [d.rcpt_tos for d in delivered] == [list(r.recipients) for r in raws]
    for raw, got in zip(raws, delivered, strict=True):
        assert got.mail_from == "summitcal@cal.example.org"
        assert got.content == raw.data


def test_one_render_per_group_still_gives_each_reader_their_own_links() -> None:
    schedule = samples.schedule()
    for number, (manage, unsubscribe) in enumerate([
            (f"{BASE_URL}/manage/a", f"{BASE_URL}/u/a"),
            (f"{BASE_URL}/manage/b?x=1&y=<2>", f"{BASE_URL}/u/b?q='\"&"),
            (f"{BASE_URL}/manage/c", LONG_UNSUBSCRIBE)]):
        context = Reminder(samples.CSTO, schedule, "Europe/Moscow", timedelta(hours=1), manage)
        given = arguments(f"reader{number}@example.net", unsubscribe)
        parsed = parse(compose(context, **given).data)
        values = variables(context, recipient=given["recipient"], base_url=BASE_URL,
                           unsubscribe_url=unsubscribe, date=DATE)
        text, html = render("reminder", values)
        assert parsed["Subject"] == values["subject"]
        assert parsed.get_body(("plain",)).get_content() == canonical(text)
        assert parsed.get_body(("html",)).get_content() == canonical(html)
