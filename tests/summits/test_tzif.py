"""The TZif reader against CPython's zoneinfo, an independent reader of the same files.

For every zone in the pinned tz database: both sides of every transition we list agree
with zoneinfo (so each listed change is real), zoneinfo changes nowhere between two listed
transitions (probed every few days and at random instants, so none is missed), and the
footer's POSIX rule agrees with zoneinfo far beyond the explicit transitions.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from datetime import UTC, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summitcal.core.tzif import (
    LocalTimeType,
    Transition,
    TzifError,
    parse_tz_string,
    parse_tzif,
    zone_history,
)

ZONES = sorted(available_timezones())
START = datetime(1970, 1, 1, tzinfo=UTC)
END = datetime(2038, 1, 1, tzinfo=UTC)


@cache
def listed(zone: str) -> tuple[LocalTimeType, list[Transition]]:
    history = zone_history(zone)
    return history.type_at(START), history.transitions(START, END)


@cache
def listed_instants(zone: str) -> list[datetime]:
    return [change.at for change in listed(zone)[1]]


def ours_at(zone: str, moment: datetime) -> LocalTimeType:
    initial, changes = listed(zone)
    index = bisect_right(listed_instants(zone), moment)
    return changes[index - 1].after if index else initial


def theirs(zone: str, moment: datetime) -> tuple[timedelta, str]:
    local = moment.astimezone(ZoneInfo(zone))
    offset = local.utcoffset()
    assert offset is not None
    return offset, str(local.tzname())


def test_every_transition_of_every_zone_is_real() -> None:
    wrong = []
    for zone in ZONES:
        for change in listed(zone)[1]:
            before = theirs(zone, change.at - timedelta(seconds=1))
            after = theirs(zone, change.at)
            if before != (change.before.offset, change.before.abbreviation):
                wrong.append((zone, change.at, "before", before, change.before))
            if after != (change.after.offset, change.after.abbreviation):
                wrong.append((zone, change.at, "after", after, change.after))
    assert wrong == []


def test_no_zone_changes_between_listed_transitions() -> None:
    """Probed every 3 days and 7 hours from 1970 to 2037, each zone."""
    wrong = []
    step = timedelta(days=3, hours=7)
    for zone in ZONES:
        moment = START
        while moment < END:
            kind = ours_at(zone, moment)
            if theirs(zone, moment) != (kind.offset, kind.abbreviation):
                wrong.append((zone, moment))
                break
            moment += step
    assert wrong == []


@settings(max_examples=300, deadline=None)
@given(
    zone=st.sampled_from(ZONES),
    moment=st.datetimes(
        min_value=datetime(1970, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)
    ),
)
def test_type_at_agrees_with_zoneinfo(zone: str, moment: datetime) -> None:
    kind = zone_history(zone).type_at(moment)
    assert theirs(zone, moment) == (kind.offset, kind.abbreviation)
    assert ours_at(zone, moment) == kind


FOOTER_ZONES = [z for z in ZONES if (r := zone_history(z).rule) and r.daylight]


@pytest.mark.parametrize("zone", FOOTER_ZONES)
def test_footer_rule_agrees_with_zoneinfo_until_2100(zone: str) -> None:
    """Past the explicit transitions, both readers apply the POSIX rule on their own."""
    history = zone_history(zone)
    start, end = datetime(2037, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
    changes = history.transitions(start, end)
    assert len(changes) >= 2 * 60
    for change in changes:
        assert theirs(zone, change.at - timedelta(seconds=1)) == (
            change.before.offset,
            change.before.abbreviation,
        )
        assert theirs(zone, change.at) == (change.after.offset, change.after.abbreviation)


def hours(value: float) -> timedelta:
    return timedelta(hours=value)


def test_tz_string_offsets_count_west_of_greenwich() -> None:
    rule = parse_tz_string("CET-1CEST,M3.5.0,M10.5.0/3")
    assert rule.standard == LocalTimeType(hours(1), False, "CET")
    assert rule.daylight == LocalTimeType(hours(2), True, "CEST")
    assert (rule.start_time, rule.end_time) == (7200, 10800)


def test_tz_string_quoted_names_and_minutes() -> None:
    rule = parse_tz_string("<+0330>-3:30")
    assert rule.standard == LocalTimeType(hours(3.5), False, "+0330")
    assert rule.daylight is None


def test_tz_string_negative_rule_time() -> None:
    """America/Nuuk: DST from the last Sunday in March at -01:00 local (RFC 8536 §3.3.1)."""
    rule = parse_tz_string("<-02>2<-01>,M3.5.0/-1,M10.5.0/0")
    assert rule.start_time == -3600 and rule.end_time == 0
    history = parse_tzif("Test/Nuuk", _tzif_with_footer(b"<-02>2<-01>,M3.5.0/-1,M10.5.0/0"))
    [spring, autumn] = history.transitions(
        datetime(2030, 1, 1, tzinfo=UTC), datetime(2030, 12, 31, tzinfo=UTC)
    )
    # Sunday 31 March 2030, -01:00 local (-02) = 30 March 23:00 local = 01:00 UTC.
    assert spring.at == datetime(2030, 3, 31, 1, tzinfo=UTC)
    # Sunday 27 October 2030, 00:00 local (-01) = 01:00 UTC.
    assert autumn.at == datetime(2030, 10, 27, 1, tzinfo=UTC)


def test_tz_string_dst_all_year_has_no_changes() -> None:
    """``EST5EDT,0/0,J365/25`` (RFC 8536 §3.3.1's example of DST all year)."""
    history = parse_tzif("Test/AllYear", _tzif_with_footer(b"EST5EDT,0/0,J365/25"))
    start, end = datetime(2030, 1, 10, tzinfo=UTC), datetime(2035, 12, 31, tzinfo=UTC)
    assert history.transitions(start, end) == []
    assert history.type_at(start) == LocalTimeType(hours(-4), True, "EDT")


def test_tz_string_julian_days_skip_february_29() -> None:
    """``J60`` is 1 March in every year; ``59`` (zero-based) is 29 February in a leap year."""
    history = parse_tzif("Test/Julian", _tzif_with_footer(b"XST0XDT,J60/0,59/0"))
    changes = history.transitions(
        datetime(2028, 1, 1, tzinfo=UTC), datetime(2028, 12, 31, tzinfo=UTC)
    )
    assert [c.at for c in changes] == [
        datetime(2028, 2, 28, 23, tzinfo=UTC),  # day 59 counting from 0: 29 Feb, 00:00 XDT
        datetime(2028, 3, 1, tzinfo=UTC),  # J60: 1 March, 00:00 XST
    ]


def test_southern_hemisphere_rule_starts_late_in_the_year() -> None:
    rule_zone = parse_tzif("Test/Sydney", _tzif_with_footer(b"AEST-10AEDT,M10.1.0,M4.1.0/3"))
    mid_winter = datetime(2030, 7, 1, tzinfo=UTC)
    mid_summer = datetime(2030, 1, 1, tzinfo=UTC)
    assert rule_zone.type_at(mid_winter).abbreviation == "AEST"
    assert rule_zone.type_at(mid_summer).abbreviation == "AEDT"


@pytest.mark.parametrize(
    ("text", "message"),
    [("CET-1CEST", "unsupported TZ string"), ("C-1", "unsupported TZ string")],
)
def test_tz_string_refused(text: str, message: str) -> None:
    with pytest.raises(TzifError, match=message):
        parse_tz_string(text)


def test_not_a_tzif_file() -> None:
    with pytest.raises(TzifError, match="not a TZif file"):
        parse_tzif("Test/Junk", b"JUNK" + bytes(100))


def test_version_1_has_no_64_bit_data() -> None:
    data = bytearray(_tzif_with_footer(b"UTC0"))
    data[4:5] = b"\0"
    with pytest.raises(TzifError, match="version"):
        parse_tzif("Test/Old", bytes(data))


def test_leap_second_tables_are_refused() -> None:
    with pytest.raises(TzifError, match="leap-second"):
        parse_tzif("Test/Leap", _tzif_with_footer(b"UTC0", leapcnt=1))


def test_unknown_zone_is_zoneinfo_s_error() -> None:
    with pytest.raises(ZoneInfoNotFoundError):
        zone_history("Mars/Olympus_Mons")
    with pytest.raises((ZoneInfoNotFoundError, ValueError)):
        zone_history("../../etc/passwd")


def test_naive_instants_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        zone_history("Europe/Madrid").type_at(datetime(2024, 1, 1))


def test_initial_type_before_the_first_transition() -> None:
    """RFC 8536 §3.2: instants before the first transition use local time type 0."""
    madrid = zone_history("Europe/Madrid")
    assert madrid.type_at(datetime(1800, 1, 1, tzinfo=UTC)).abbreviation == "LMT"


def _tzif_with_footer(footer: bytes, leapcnt: int = 0) -> bytes:
    """A TZif v2 file with one local time type, no transitions, and ``footer``."""
    header = struct.Struct(">4sc15x6l")
    chars = b"XST\0"
    v1 = header.pack(b"TZif", b"2", 0, 0, 0, 0, 1, len(chars)) + struct.pack(">lBB", 0, 0, 0) + chars
    body = struct.pack(">lBB", 0, 0, 0) + chars + bytes(12 * leapcnt)
    v2 = header.pack(b"TZif", b"2", 0, 0, leapcnt, 0, 1, len(chars)) + body
    return v1 + v2 + b"\n" + footer + b"\n"
