"""VTIMEZONE components: trimmed, one RDATE per line, RFC onsets, deterministic."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from icalendar import Calendar

from feeds.calendar import feed_bytes
from feeds.settings import FeedSettings
from feeds.vtimezone import vtimezone_bytes
from summits.model import Schedule


def unfolded(data: bytes) -> list[str]:
    return data.decode("utf-8").replace("\r\n ", "").split("\r\n")


def onsets(data: bytes) -> list[str]:
    """DTSTART/RDATE lines inside the observances."""
    return [line for line in unfolded(data) if line.startswith(("DTSTART", "RDATE"))]


def test_every_tzid_used_has_one_vtimezone(schedule: Schedule, settings: FeedSettings) -> None:
    lines = unfolded(feed_bytes("All", schedule.sessions.values(), schedule, settings))
    used = {m for line in lines for m in re.findall(r"^DT(?:START|END);TZID=([^:;]+)", line)}
    defined = [line.removeprefix("TZID:") for line in lines if line.startswith("TZID:")]
    assert used == {"Asia/Dushanbe", "Asia/Almaty", "Europe/Madrid", "America/New_York"}
    assert sorted(defined) == sorted(used)


def test_no_comma_separated_rdate_lists() -> None:
    data = vtimezone_bytes("Europe/Madrid", date(2015, 1, 10), date(2030, 12, 20))
    rdates = [line for line in unfolded(data) if line.startswith("RDATE")]
    assert rdates, "a 16-year span has repeated onsets"
    assert all("," not in line for line in rdates)
    # 16 springs and 16 autumns: one DTSTART each plus 15 RDATEs each.
    assert len(rdates) == 30
    assert "RDATE:20300331T020000" in rdates
    assert "RDATE:20301027T030000" in rdates


def test_trimmed_to_the_span() -> None:
    data = vtimezone_bytes("Asia/Almaty", date(2024, 7, 3), date(2024, 7, 4))
    assert onsets(data) == ["DTSTART:20240702T000000"]
    assert b"TZOFFSETTO:+0500" in data
    assert b"+0600" not in data
    assert not re.search(rb"19\d\d\d\d\d\dT", data), "no 1990s observances"


def test_almaty_change_of_standard_offset() -> None:
    data = vtimezone_bytes("Asia/Almaty", date(2024, 2, 20), date(2024, 7, 3))
    assert onsets(data) == ["DTSTART:20240219T000000", "DTSTART:20240301T000000"]
    text = data.decode()
    assert "DTSTART:20240301T000000\r\nTZNAME:+05\r\nTZOFFSETFROM:+0600\r\nTZOFFSETTO:+0500" in text


def test_zone_without_dst() -> None:
    data = vtimezone_bytes("Asia/Dushanbe", date(2021, 9, 16), date(2021, 9, 17))
    assert onsets(data) == ["DTSTART:20210915T000000"]
    assert b"TZOFFSETFROM:+0500\r\n" in data and b"TZOFFSETTO:+0500\r\n" in data
    assert b"DAYLIGHT" not in data


@pytest.mark.parametrize(
    ("zone", "spring", "autumn"),
    [
        # RFC 5545 onsets are local times in TZOFFSETFROM: 02:00 in spring (the hour
        # that is skipped starts then), 03:00 (Madrid) / 02:00 (New York) in autumn.
        ("Europe/Madrid", "DTSTART:20240331T020000", "DTSTART:20241027T030000"),
        ("America/New_York", "DTSTART:20240310T020000", "DTSTART:20241103T020000"),
    ],
)
def test_onsets_are_local_times_before_the_change(zone: str, spring: str, autumn: str) -> None:
    lines = onsets(vtimezone_bytes(zone, date(2024, 1, 15), date(2024, 12, 15)))
    assert lines[1:] == [spring, autumn]


def test_same_arguments_same_bytes() -> None:
    first = vtimezone_bytes("Europe/Madrid", date(2023, 1, 1), date(2025, 1, 1))
    again = vtimezone_bytes("Europe/Madrid", date(2023, 1, 1), date(2025, 1, 1))
    assert first == again
    assert first.startswith(b"BEGIN:VTIMEZONE\r\nTZID:Europe/Madrid\r\n")
    assert first.endswith(b"END:VTIMEZONE\r\n")


SPANS = [
    ("Europe/Madrid", date(2022, 11, 1), date(2025, 11, 30)),
    ("America/New_York", date(2024, 1, 1), date(2025, 12, 31)),
    ("Asia/Dushanbe", date(2021, 9, 1), date(2021, 9, 30)),
    ("Asia/Almaty", date(2024, 1, 15), date(2024, 7, 31)),
]


@pytest.mark.parametrize(("zone", "first", "last"), SPANS)
def test_vtimezone_agrees_with_zoneinfo_at_every_instant(
    zone: str, first: date, last: date
) -> None:
    """UTC → offset through our VTIMEZONE (dateutil, via icalendar) matches zoneinfo:
    every 15 minutes of each day with a change, and every 6 hours of the other days.
    Without the RFC onsets this fails for the hour after each spring-forward change."""
    wrapped = b"BEGIN:VCALENDAR\r\n" + vtimezone_bytes(zone, first, last) + b"END:VCALENDAR\r\n"
    [component] = Calendar.from_ical(wrapped).timezones
    ours = component.to_tz(lookup_tzid=False)
    reference = ZoneInfo(zone)
    wrong = [m for m in _instants(first, last, reference) if not _agree(m, ours, reference)]
    assert wrong == []


def _instants(first: date, last: date, zone: ZoneInfo) -> list[datetime]:
    day = datetime.combine(first, time(0), tzinfo=UTC)
    moments = []
    while day.date() <= last:
        after = day + timedelta(days=1)
        changes = day.astimezone(zone).utcoffset() != after.astimezone(zone).utcoffset()
        step = timedelta(minutes=15) if changes else timedelta(hours=6)
        moments += [day + step * i for i in range(timedelta(days=1) // step)]
        day = after
    return moments


def _agree(moment: datetime, ours: tzinfo, reference: ZoneInfo) -> bool:
    local = moment.astimezone(reference)
    other = local.replace(fold=1 - local.fold)
    # dateutil cannot tell the two occurrences of a repeated hour apart when both
    # observances are standard time (Almaty, 29 Feb 2024: +06 then +05) and gives the
    # second; the VTIMEZONE itself is right there (test_almaty_change_of_standard_offset).
    if other.utcoffset() != local.utcoffset() and other.dst() == local.dst():
        return True
    return moment.astimezone(ours).utcoffset() == local.utcoffset()


def test_rejects_a_backwards_span() -> None:
    with pytest.raises(ValueError, match="ends"):
        vtimezone_bytes("Europe/Madrid", date(2024, 2, 1), date(2024, 1, 1))


def test_unknown_zone() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        vtimezone_bytes("Mars/Olympus_Mons", date(2024, 1, 1), date(2024, 1, 2))
