"""VTIMEZONE components: trimmed, one RDATE per line, RFC onsets, deterministic."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from icalendar import Calendar

from summitcal.feeds.calendar import feed_bytes
from summitcal.feeds.settings import FeedSettings
from summitcal.feeds.vtimezone import vtimezone_bytes
from summitcal.summits.model import Schedule


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


def observances(data: bytes) -> list[list[str]]:
    """The lines of each STANDARD/DAYLIGHT component, in order."""
    found: list[list[str]] = []
    for line in unfolded(data):
        if line in ("BEGIN:STANDARD", "BEGIN:DAYLIGHT"):
            found.append([line])
        elif found and not found[-1][-1].startswith("END:"):
            found[-1].append(line)
    return found


def test_ical_js_dropped_onsets_one_observance_per_onset() -> None:
    """ical.js and libical ignore the DTSTART onset of an observance that also has RDATEs
    (../shared/cases/madrid-two-summers.toml): every observance has exactly one DTSTART
    and no RDATE or RRULE, whatever the span."""
    data = vtimezone_bytes("Europe/Madrid", date(2015, 1, 10), date(2030, 12, 20))
    parts = observances(data)
    # The winter observance in force on 9 January 2015, then 16 springs and 16 autumns.
    assert len(parts) == 1 + 32
    for part in parts:
        assert sum(line.startswith("DTSTART") for line in part) == 1
        assert not any(line.startswith(("RDATE", "RRULE")) for line in part)
    starts = onsets(data)
    assert starts[0] == "DTSTART:20150109T000000"
    assert starts[-2:] == ["DTSTART:20300331T020000", "DTSTART:20301027T030000"]


def test_casablanca_ramadan_2023_is_in_the_vtimezone() -> None:
    """icalendar's Timezone.from_tzinfo skipped Morocco's 2023 Ramadan change
    (../shared/cases/casablanca-ramadan-2023.toml); the tz database has it:
    +01 → +00 on 19 March 03:00, back to +01 on 23 April 02:00 (local)."""
    data = vtimezone_bytes("Africa/Casablanca", date(2023, 3, 1), date(2024, 3, 20)).decode()
    assert "DTSTART:20230319T030000\r\nTZNAME:+00\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000" in data
    assert "DTSTART:20230423T020000\r\nTZNAME:+01\r\nTZOFFSETFROM:+0000\r\nTZOFFSETTO:+0100" in data
    assert "DTSTART:20240310T030000\r\nTZNAME:+00\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0000" in data


@pytest.mark.parametrize(
    ("zone", "first", "last", "expected"),
    [
        # Moscow: +03/+04 with DST until 2011, +04 all year from 27 March 2011, +03 all
        # year from 26 October 2014 (02:00 → 01:00).
        (
            "Europe/Moscow",
            date(2010, 6, 1),
            date(2015, 6, 1),
            [
                ("DAYLIGHT", "DTSTART:20100531T000000", "+0400", "+0400"),
                ("STANDARD", "DTSTART:20101031T030000", "+0400", "+0300"),
                ("STANDARD", "DTSTART:20110327T020000", "+0300", "+0400"),
                ("STANDARD", "DTSTART:20141026T020000", "+0400", "+0300"),
            ],
        ),
        # Tehran: +0330/+0430 until DST was abolished in 2022 (last change 21 Sep 2022).
        (
            "Asia/Tehran",
            date(2022, 1, 1),
            date(2023, 6, 1),
            [
                ("STANDARD", "DTSTART:20211231T000000", "+0330", "+0330"),
                ("DAYLIGHT", "DTSTART:20220322T000000", "+0330", "+0430"),
                ("STANDARD", "DTSTART:20220922T000000", "+0430", "+0330"),
            ],
        ),
        # Lord Howe: half-hour DST, +1030 / +11 (southern hemisphere).
        (
            "Australia/Lord_Howe",
            date(2024, 1, 1),
            date(2024, 12, 31),
            [
                ("DAYLIGHT", "DTSTART:20231231T000000", "+1100", "+1100"),
                ("STANDARD", "DTSTART:20240407T020000", "+1100", "+1030"),
                ("DAYLIGHT", "DTSTART:20241006T020000", "+1030", "+1100"),
            ],
        ),
        # Dublin: the tz database flags winter GMT as (negative) DST; written as STANDARD.
        (
            "Europe/Dublin",
            date(2024, 1, 1),
            date(2024, 12, 31),
            [
                ("STANDARD", "DTSTART:20231231T000000", "+0000", "+0000"),
                ("STANDARD", "DTSTART:20240331T010000", "+0000", "+0100"),
                ("STANDARD", "DTSTART:20241027T020000", "+0100", "+0000"),
            ],
        ),
    ],
)
def test_zones_whose_rules_changed(
    zone: str, first: date, last: date, expected: list[tuple[str, str, str, str]]
) -> None:
    parts = observances(vtimezone_bytes(zone, first, last))
    got = [
        (
            part[0].removeprefix("BEGIN:"),
            next(line for line in part if line.startswith("DTSTART")),
            next(line for line in part if line.startswith("TZOFFSETFROM")).split(":")[1],
            next(line for line in part if line.startswith("TZOFFSETTO")).split(":")[1],
        )
        for part in parts
    ]
    assert got == expected


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
