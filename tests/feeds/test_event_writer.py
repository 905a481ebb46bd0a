"""The VEVENT writer (``event_bytes``) against icalendar writing the same event.

``event_bytes`` writes content lines itself, because icalendar folded them one character
at a time and a feed's first build of 50,000 sessions took as long as plain icalendar.
Its bytes must stay icalendar's bytes for ``build_event``: the same ETags before and
after, and every parser test of the feeds still speaks for it. Hypothesis draws sessions
with hostile text (``test_roundtrip.texts``), in zones whose names and rules differ
(UTC and its aliases included), timed or all-day, in every status, with or without a
video link, alarms and a participant; and lines for the folding alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import example, given, settings
from hypothesis import strategies as st
from icalendar.parser.string import _foldline

from summitcal.feeds.event import build_event, duration_text, escape_text, event_bytes, fold
from summitcal.summits.model import (
    Attendance,
    Organization,
    Participant,
    Schedule,
    Session,
    SessionStatus,
    Summit,
)
from tests.feeds.test_roundtrip import NASTY, real_texts, texts

BASE = "https://cal.example.org"
ZONES = ["Europe/Madrid", "Asia/Dushanbe", "Asia/Almaty", "Africa/Casablanca",
         "America/Argentina/Buenos_Aires", "America/Port-au-Prince", "Etc/GMT+5",
         "Pacific/Chatham", "Australia/Lord_Howe", "UTC", "Etc/UTC", "Etc/Zulu", "Zulu"]
MODES = ["in_person", "video", "delegated", "absent", "unknown"]

# Lines to fold: escapes at every position, multi-byte characters across the limit.
lines = st.text(alphabet=st.sampled_from("ab\\^;,:жé€🇰𝄞 N"), max_size=400) | st.text(
    max_size=300).filter(lambda t: "\n" not in t and "\r" not in t)


@st.composite
def sessions(draw: st.DrawFn) -> tuple[Session, Schedule]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    organization = Organization("org", draw(real_texts))
    participants = {p: Participant(p, draw(real_texts), draw(texts)) for p in ("p", "q")}
    attendance = tuple(
        Attendance(p, draw(st.sampled_from(MODES)), delegate="q" if p == "p" else None,
                   note=draw(st.none() | texts))
        for p in draw(st.sampled_from([(), ("p",), ("p", "q")])))
    if draw(st.booleans()):
        start = datetime(2024, 1, 1, tzinfo=zone) + timedelta(
            minutes=draw(st.integers(0, 3 * 366 * 24 * 60)), seconds=draw(st.integers(0, 59)))
        start = datetime.fromisoformat(start.replace(tzinfo=None).isoformat()).replace(
            tzinfo=zone, fold=draw(st.integers(0, 1)))
        end = draw(st.none() | st.just(start + timedelta(minutes=draw(st.integers(0, 5000)))))
        times = {"start": start, "end": end}
    else:
        day = date(2024, 1, 1) + timedelta(days=draw(st.integers(0, 3 * 366)))
        last = draw(st.none() | st.just(day + timedelta(days=draw(st.integers(0, 9)))))
        times = {"date": day, "end_date": last}
    status = draw(st.sampled_from(list(SessionStatus)))
    modified = draw(st.none() | st.datetimes(min_value=datetime(2020, 1, 1),
                                             max_value=datetime(2030, 1, 1), timezones=st.just(UTC)))
    session = Session(
        summit="s", id=draw(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True)),
        title=draw(real_texts), timezone=zone.key, organizations=(organization.id,),
        venue=draw(st.none() | real_texts), status=status, description=draw(st.none() | texts),
        video_url=draw(st.none() | st.sampled_from(
            ["https://meet.example.org/room?id=1;a=b,c", "https://example.org/" + "x" * 90])),
        attendance=attendance, sequence=draw(st.integers(0, 10**6)), last_modified=modified,
        cancelled_at=modified if status == SessionStatus.CANCELLED else None, **times)
    schedule = Schedule(
        summits={"s": Summit("s", draw(real_texts), "Astana", "Kazakhstan", zone.key)},
        organizations={organization.id: organization}, participants=participants,
        sessions={session.key: session})
    return session, schedule


offsets = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30))


@settings(max_examples=400, deadline=None)
@given(sessions(), st.sampled_from([None, "p", "q"]), st.lists(offsets, max_size=3))
def test_event_bytes_are_icalendars_bytes(drawn: tuple[Session, Schedule],
                                          participant: str | None,
                                          alarms: list[timedelta]) -> None:
    session, schedule = drawn
    ours = event_bytes(session, schedule, BASE, participant, tuple(alarms))
    theirs = build_event(session, schedule, BASE, participant, tuple(alarms)).to_ical()
    assert ours == theirs


def test_event_bytes_are_icalendars_bytes_for_every_nasty_text() -> None:
    zone = ZoneInfo("Europe/Madrid")
    for text in NASTY:
        start = datetime(2024, 10, 27, 2, 30, tzinfo=zone, fold=1)  # the repeated hour
        session = Session("s", "x", text, zone.key, start=start, end=start + timedelta(hours=1),
                          venue=text, description=text, video_url="https://example.org/v",
                          attendance=(Attendance("p", "video", note=text),))
        schedule = Schedule(summits={"s": Summit("s", text, "Madrid", "Spain", zone.key)},
                            participants={"p": Participant("p", text, text)},
                            sessions={session.key: session})
        for participant in (None, "p"):
            alarms = (timedelta(minutes=15), timedelta(days=1, seconds=5))
            assert event_bytes(session, schedule, BASE, participant, alarms) == \
                build_event(session, schedule, BASE, participant, alarms).to_ical(), text
        cancelled = replace(session, status=SessionStatus.CANCELLED)
        assert event_bytes(cancelled, schedule, BASE, None, (timedelta(hours=1),)) == \
            build_event(cancelled, schedule, BASE, None, (timedelta(hours=1),)).to_ical()


@settings(max_examples=1000)
@given(lines)
@example("x" * 73 + "\\" + "y")  # an escape at the end of a full line moves down
@example("x" * 74 + "^" * 80)
@example("x" * 73 + "ж" + "y")  # a two-octet character that does not fit
@example("\\" + "x" * 200)
def test_folding_is_icalendars(line: str) -> None:
    assert fold(line) == _foldline(line).encode()


@settings(max_examples=1000)
@given(lines)
def test_folded_lines_fit_and_unfold_to_the_line(line: str) -> None:
    """RFC 5545 3.1: no line longer than 75 octets, unfolding (CRLF and one space
    removed) gives the line back, and each line is whole UTF-8 characters."""
    folded = fold(line)
    physical = folded.split(b"\r\n")
    assert all(len(part) <= 75 for part in physical)
    assert all(part.startswith(b" ") for part in physical[1:])
    assert [part.decode() for part in physical]  # no character cut in two
    assert folded.replace(b"\r\n ", b"").decode() == line


@given(st.text(max_size=200))
def test_escaped_text_is_icalendars(text: str) -> None:
    from summitcal.feeds.event import Text

    assert escape_text(text).encode() == Text(text).to_ical()


@given(offsets)
@example(timedelta(hours=1, seconds=5))
@example(timedelta(days=2))
def test_durations_are_icalendars(offset: timedelta) -> None:
    from icalendar import vDuration

    for value in (offset, -offset):
        assert duration_text(value).encode() == vDuration(value).to_ical()
