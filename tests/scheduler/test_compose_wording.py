"""Time phrases in emails, against strings written by hand from the tz rules.

* Asia/Dushanbe: UTC+5 all year. Europe/Moscow: UTC+3 all year (since 2014).
* America/New_York: EDT (UTC-4) in September 2021; EST (UTC-5) in December.
* Asia/Almaty (Astana): UTC+6 until 1 March 2024, UTC+5 after; the clocks went back from
  00:00 to 23:00 on 29 February 2024.
* Europe/Madrid: CEST (UTC+2) until 27 October 2024 03:00, then CET (UTC+1); 02:00–03:00
  that night happens twice.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from summitcal.core.localtime import format_offset
from summitcal.scheduler.wording import (
    city_of,
    day_begins,
    day_range,
    duration,
    relative,
    starts,
    venue_when,
    when,
)
from summitcal.summits.model import Session

DUSHANBE = ZoneInfo("Asia/Dushanbe")
ALMATY = ZoneInfo("Asia/Almaty")
MADRID = ZoneInfo("Europe/Madrid")


def timed(zone: ZoneInfo, start: datetime, end: datetime | None = None) -> Session:
    return Session(summit="s", id="x", title="T", timezone=zone.key,
                   start=start.replace(tzinfo=zone),
                   end=end.replace(tzinfo=zone) if end is not None else None)


def all_day(zone: ZoneInfo, first: date, last: date | None = None) -> Session:
    return Session(summit="s", id="x", title="T", timezone=zone.key, date=first, end_date=last)


def test_the_spec_example() -> None:
    session = timed(DUSHANBE, datetime(2021, 9, 16, 10))
    assert when(session, "Europe/Moscow") == (
        "Thursday 16 September 2021, 10:00 Dushanbe (UTC+5) — 08:00 your time "
        "(Europe/Moscow, UTC+3)")


def test_start_and_end() -> None:
    session = timed(DUSHANBE, datetime(2021, 9, 16, 10), datetime(2021, 9, 16, 13))
    assert when(session, "Europe/Moscow") == (
        "Thursday 16 September 2021, 10:00–13:00 Dushanbe (UTC+5) — 08:00–11:00 your time "
        "(Europe/Moscow, UTC+3)")


def test_the_readers_date_is_said_when_it_differs() -> None:
    session = timed(DUSHANBE, datetime(2021, 9, 16, 8, 30))
    assert when(session, "America/New_York") == (
        "Thursday 16 September 2021, 08:30 Dushanbe (UTC+5) — 23:30 Wednesday 15 September "
        "your time (America/New_York, UTC-4)")


def test_the_readers_span_crosses_midnight() -> None:
    session = timed(DUSHANBE, datetime(2021, 9, 16, 8, 30), datetime(2021, 9, 16, 10))
    assert when(session, "America/New_York") == (
        "Thursday 16 September 2021, 08:30–10:00 Dushanbe (UTC+5) — 23:30 Wednesday "
        "15 September – 01:00 Thursday 16 September your time (America/New_York, UTC-4)")


def test_the_year_is_said_when_it_differs() -> None:
    session = timed(DUSHANBE, datetime(2025, 1, 1, 8))
    assert when(session, "America/Los_Angeles") == (
        "Wednesday 1 January 2025, 08:00 Dushanbe (UTC+5) — 19:00 Tuesday 31 December 2024 "
        "your time (America/Los_Angeles, UTC-8)")


def test_astana_is_utc_plus_5_in_july_2024() -> None:
    session = timed(ALMATY, datetime(2024, 7, 3, 10), datetime(2024, 7, 3, 12))
    assert when(session, "Europe/Moscow", "Astana") == (
        "Wednesday 3 July 2024, 10:00–12:00 Astana (UTC+5) — 08:00–10:00 your time "
        "(Europe/Moscow, UTC+3)")


def test_astana_was_utc_plus_6_in_february_2024() -> None:
    session = timed(ALMATY, datetime(2024, 2, 20, 10), datetime(2024, 2, 20, 11))
    assert when(session, "Europe/Moscow", "Astana") == (
        "Tuesday 20 February 2024, 10:00–11:00 Astana (UTC+6) — 07:00–08:00 your time "
        "(Europe/Moscow, UTC+3)")


def test_without_a_city_the_zone_names_the_place() -> None:
    session = timed(ALMATY, datetime(2024, 7, 3, 10))
    assert when(session, "Asia/Kolkata").startswith("Wednesday 3 July 2024, 10:00 Almaty (UTC+5)")
    assert when(session, "Asia/Kolkata").endswith("10:30 your time (Asia/Kolkata, UTC+5:30)")
    assert city_of("America/New_York") == "New York"


def test_a_session_across_the_change_of_offset() -> None:
    session = timed(ALMATY, datetime(2024, 2, 29, 22), datetime(2024, 3, 1, 1))
    assert when(session, "Europe/Moscow", "Astana") == (
        "Thursday 29 February 2024, 22:00 – 01:00 Friday 1 March Astana (UTC+6 → UTC+5) — "
        "19:00–23:00 your time (Europe/Moscow, UTC+3)")


def test_madrid_second_occurrence_of_the_repeated_hour() -> None:
    session = timed(MADRID, datetime(2024, 10, 27, 2, 30, fold=1), datetime(2024, 10, 27, 3, 30))
    assert when(session, "Europe/Moscow") == (
        "Sunday 27 October 2024, 02:30–03:30 Madrid (UTC+1) — 04:30–05:30 your time "
        "(Europe/Moscow, UTC+3)")


def test_madrid_first_occurrence_to_second_occurrence() -> None:
    session = timed(MADRID, datetime(2024, 10, 27, 2, 30, fold=0),
                    datetime(2024, 10, 27, 2, 30, fold=1))
    assert when(session, "Europe/Moscow") == (
        "Sunday 27 October 2024, 02:30–02:30 Madrid (UTC+2 → UTC+1) — 03:30–04:30 your time "
        "(Europe/Moscow, UTC+3)")


def test_the_readers_own_zone() -> None:
    session = timed(DUSHANBE, datetime(2021, 9, 16, 10))
    assert when(session, "Asia/Dushanbe") == (
        "Thursday 16 September 2021, 10:00 Dushanbe (UTC+5) — the same as your time "
        "(Asia/Dushanbe)")


def test_all_day() -> None:
    assert when(all_day(DUSHANBE, date(2021, 9, 16)), "Europe/Moscow") == (
        "Thursday 16 September 2021, all day (Dushanbe)")


def test_several_days() -> None:
    session = all_day(ALMATY, date(2024, 7, 3), date(2024, 7, 4))
    assert when(session, "America/New_York", "Astana") == (
        "Wednesday 3 – Thursday 4 July 2024, all day (Astana)")


@pytest.mark.parametrize(("first", "last", "expected"), [
    (date(2024, 8, 30), date(2024, 9, 1), "Friday 30 August – Sunday 1 September 2024"),
    (date(2024, 12, 31), date(2025, 1, 1), "Tuesday 31 December 2024 – Wednesday 1 January 2025"),
    (date(2024, 7, 3), date(2024, 7, 3), "Wednesday 3 July 2024"),
])
def test_day_ranges(first: date, last: date, expected: str) -> None:
    assert day_range(first, last) == expected


def test_venue_when_for_subjects() -> None:
    assert venue_when(timed(ALMATY, datetime(2024, 7, 4, 10))) == "Thursday 4 July 2024, 10:00"
    assert venue_when(all_day(ALMATY, date(2024, 7, 3), date(2024, 7, 4))) == (
        "Wednesday 3 – Thursday 4 July 2024")


@pytest.mark.parametrize(("offset", "expected"), [
    (timedelta(hours=1), "In 1 hour"),
    (timedelta(days=1), "In 1 day"),
    (timedelta(minutes=30), "In 30 minutes"),
    (timedelta(days=2, hours=3), "In 2 days 3 hours"),
    (timedelta(weeks=1), "In 7 days"),
    (timedelta(days=1, minutes=1), "In 1 day 1 minute"),
    (timedelta(0), "Starting now"),
])
def test_relative(offset: timedelta, expected: str) -> None:
    assert relative(offset) == expected


def test_durations() -> None:
    assert duration(timedelta(hours=2, seconds=59)) == "2 hours"
    with pytest.raises(ValueError, match="negative"):
        relative(timedelta(minutes=-5))


def test_naive_times_are_refused() -> None:
    session = Session(summit="s", id="x", title="T", timezone="Asia/Dushanbe",
                      start=datetime(2021, 9, 16, 10))
    with pytest.raises(ValueError, match="naive"):
        when(session, "Europe/Moscow")


def test_instants_not_wall_times_decide() -> None:
    # A start given in UTC is shown in the venue's zone.
    session = Session(summit="s", id="x", title="T", timezone="Asia/Dushanbe",
                      start=datetime(2021, 9, 16, 5, tzinfo=UTC))
    assert when(session, "Europe/Moscow").startswith("Thursday 16 September 2021, 10:00 Dushanbe")


# --- absolute phrases for late reminders and all-day sessions (properties) ----------------

ZONE_NAMES = sorted(z for z in available_timezones() if "/" in z and not z.startswith("Etc"))
zones = st.sampled_from(ZONE_NAMES)
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2037, 12, 31),
                        timezones=st.just(UTC))
days = st.dates(min_value=date(1990, 1, 1), max_value=date(2037, 12, 31))


@settings(max_examples=300, deadline=None)
@given(venue=zones, reader=zones, instant=instants)
def test_starts_gives_the_venue_and_reader_clock_times_of_the_instant(venue, reader, instant):
    session = Session("s", "x", "X", venue, start=instant.astimezone(ZoneInfo(venue)))
    phrase = starts(session, reader, "Here")
    local = instant.astimezone(ZoneInfo(venue))
    assert phrase.startswith(f"{local:%A} {local.day} {local:%B} {local.year}, "
                             f"{local:%H:%M} Here time")
    mine = instant.astimezone(ZoneInfo(reader))
    if reader == venue:
        assert "your time" not in phrase
    else:
        assert re.search(rf"\({mine:%H:%M}( [A-Z][a-z]+ \d+ [A-Z][a-z]+( \d{{4}})?)? your "
                         r"time\)$", phrase), phrase
        if mine.date() != local.date():
            assert f"{mine:%A} {mine.day} {mine:%B}" in phrase


@settings(max_examples=300, deadline=None)
@given(venue=zones, reader=zones, day=days)
def test_day_begins_names_the_venues_midnight_in_the_readers_time(venue, reader, day):
    session = Session("s", "x", "X", venue, date=day)
    phrase = day_begins(session, reader, "Here")
    if reader == venue:
        assert phrase is None
        return
    begins = session.starts_at
    local, mine = begins.astimezone(ZoneInfo(venue)), begins.astimezone(ZoneInfo(reader))
    assert phrase is not None
    assert phrase.startswith(f"The day begins in Here at {local:%H:%M} "
                             f"({format_offset(local.utcoffset())}), which is {mine:%H:%M}")
    assert phrase.endswith(f"your time ({reader}, {format_offset(mine.utcoffset())})")
    assert local.date() == day  # midnight, or the first instant of the day after a gap
