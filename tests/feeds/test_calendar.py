"""Whole feeds: header, VTIMEZONEs, event order, determinism, no floating times."""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import timedelta

from icalendar import Calendar

from summitcal.feeds.calendar import feed_bytes, header_bytes, ordered, zone_spans
from summitcal.feeds.settings import FeedSettings
from summitcal.summits.model import Schedule
from tests.feeds import samples


def unfolded(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


def all_feed(schedule: Schedule, settings: FeedSettings) -> bytes:
    return feed_bytes("All", schedule.sessions.values(), schedule, settings)


def test_header(settings: FeedSettings) -> None:
    header = header_bytes("SCO summit, Astana 2024; day 1", settings).decode()
    assert header == (
        "BEGIN:VCALENDAR\r\n"
        "VERSION:2.0\r\n"
        "PRODID:-//summitcal//tests//EN\r\n"
        "CALSCALE:GREGORIAN\r\n"
        "NAME;VALUE=TEXT:SCO summit\\, Astana 2024\\; day 1\r\n"
        "X-WR-CALNAME:SCO summit, Astana 2024; day 1\r\n"
        "REFRESH-INTERVAL;VALUE=DURATION:PT2H\r\n"
        "X-PUBLISHED-TTL:PT2H\r\n"
    )


def test_calendar_properties_and_what_is_not_there(
    schedule: Schedule, settings: FeedSettings
) -> None:
    data = all_feed(schedule, settings)
    calendar = Calendar.from_ical(data)
    assert calendar["X-WR-CALNAME"] == "All"
    assert "METHOD" not in calendar
    assert "X-WR-TIMEZONE" not in calendar
    assert data.endswith(b"END:VEVENT\r\nEND:VCALENDAR\r\n")
    assert data.count(b"BEGIN:VEVENT") == len(samples.EXPECTED)


def test_no_floating_times(schedule: Schedule, settings: FeedSettings) -> None:
    times = [
        line
        for line in unfolded(all_feed(schedule, settings))
        if re.match(r"(DTSTART|DTEND|DTSTAMP|LAST-MODIFIED)[;:]", line)
        and not line.startswith("DTSTART:20")  # observance onsets inside VTIMEZONE
    ]
    assert len(times) > 3 * len(samples.EXPECTED)
    for line in times:
        assert ";TZID=" in line or line.endswith("Z") or ";VALUE=DATE:" in line, line


def uids(data: bytes) -> list[str]:
    return [
        line.removeprefix("UID:").split("@")[0]
        for line in unfolded(data)
        if line.startswith("UID:")
    ]


def test_events_in_start_order(schedule: Schedule, settings: FeedSettings) -> None:
    madrid = schedule.sessions_of("madrid-2024")
    assert uids(feed_bytes("Madrid", madrid, schedule, settings)) == [
        f"madrid-2024-{ident}"
        for ident in (
            "two-winters-ago",  # 2022-11-15 09:00Z
            "summer-2023",  # 2023-07-01 08:00Z
            "before-spring",  # 2024-03-30 09:00Z
            "across-spring",  # 2024-03-30 22:00Z
            "after-gap",  # 2024-03-31 01:30Z
            "after-spring",
            "before-autumn",
            "first-0230",  # 2024-10-27 00:30Z
            "second-0230",  # 2024-10-27 01:30Z (same wall time, later instant)
            "after-autumn",
            "open-ended",
            "new-year",  # all-day from local midnight, 2024-12-30 23:00Z
            "next-summer",
        )
    ]


def test_same_start_sorts_by_summit_then_id(schedule: Schedule, settings: FeedSettings) -> None:
    base = schedule.sessions[("astana-2024", "sco-plus")]
    same = [
        replace(base, summit="b-summit", id="b"),
        replace(base, summit="b-summit", id="a"),
        replace(base, summit="a-summit", id="z"),
    ]
    assert uids(feed_bytes("Tie", same, schedule, settings)) == [
        "a-summit-z",
        "b-summit-a",
        "b-summit-b",
    ]


def test_same_inputs_same_bytes_whatever_the_order(
    schedule: Schedule, settings: FeedSettings
) -> None:
    sessions = list(schedule.sessions.values())
    first = feed_bytes("All", sessions, schedule, settings)
    random.Random(5).shuffle(sessions)
    assert feed_bytes("All", sessions, schedule, settings) == first


def test_zone_spans_cover_timed_sessions_only(schedule: Schedule) -> None:
    spans = zone_spans(schedule.sessions.values())
    assert list(spans) == ["America/New_York", "Asia/Almaty", "Asia/Dushanbe", "Europe/Madrid"]
    assert [d.isoformat() for d in spans["Asia/Almaty"]] == ["2024-02-20", "2024-07-04"]
    # The all-day new-year session (to 2025-01-01) does not stretch Madrid's span.
    assert [d.isoformat() for d in spans["Europe/Madrid"]] == ["2022-11-15", "2025-07-01"]


def test_empty_feed_is_a_valid_calendar(settings: FeedSettings) -> None:
    data = feed_bytes("Nothing yet", [], Schedule(), settings)
    assert data == header_bytes("Nothing yet", settings) + b"END:VCALENDAR\r\n"
    assert Calendar.from_ical(data)["NAME"] == "Nothing yet"


def test_ordering(schedule: Schedule) -> None:
    chosen = ordered(schedule.sessions_of("dushanbe-2021"))
    assert [s.id for s in chosen] == ["arrivals", "csto-council", "sco-council"]


def test_refresh_interval_from_settings(schedule: Schedule) -> None:
    settings = FeedSettings(samples.BASE_URL, refresh_interval=timedelta(minutes=15))
    data = feed_bytes("x", [], schedule, settings)
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT15M\r\n" in data
    assert b"X-PUBLISHED-TTL:PT15M\r\n" in data
