"""Time phrases for emails: when a session happens, in the venue's zone and the reader's.

Pure functions of a session, an IANA zone name and (optionally) the venue's city::

    Thursday 16 September 2021, 10:00–13:00 Dushanbe (UTC+5) — 08:00–11:00 your time
    (Europe/Moscow, UTC+3)

The reader's part repeats the date only when it differs from the venue's ("23:30 Wednesday
15 September your time"), and the year only when that differs too. All-day sessions say
so and name no hours: "Wednesday 3 – Thursday 4 July 2024, all day (Astana)". When the
UTC offset changes during a session (a clock change), both are given: "(UTC+2 → UTC+1)".

Day and month names come from Babel (CLDR) for the message's locale; the connecting
words are English, the only language offered so far.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.dates import format_date

from summitcal.core.localtime import format_offset, zone
from summitcal.summits.model import Session

DEFAULT_LOCALE = "en"


def city_of(zone_name: str) -> str:
    """The city an IANA zone is named after: 'America/New_York' → 'New York'."""
    return zone_name.rsplit("/", 1)[-1].replace("_", " ")


def when(session: Session, reader_zone: str, city: str | None = None,
         locale: str = DEFAULT_LOCALE) -> str:
    """The full phrase: venue time with its offset, then the reader's time with theirs.

    ``city`` names the venue's place (e.g. the summit's city: Astana keeps Asia/Almaty
    time); by default it is the city the session's zone is named after.
    """
    place = city or city_of(session.timezone)
    if session.start is None:
        return f"{day_range(session.first_day, session.last_day, locale)}, all day ({place})"
    start, end = _moments(session, zone(session.timezone))
    venue = (f"{long_date(start.date(), locale)}, {_span(start, end, start.date(), locale)} "
             f"{place} ({_offsets(start, end)})")
    if reader_zone == session.timezone:
        return f"{venue} — the same as your time ({reader_zone})"
    mine, mine_end = _moments(session, zone(reader_zone))
    return (f"{venue} — {_span(mine, mine_end, start.date(), locale)} your time "
            f"({reader_zone}, {_offsets(mine, mine_end)})")


def venue_when(session: Session, locale: str = DEFAULT_LOCALE) -> str:
    """The start in the venue's zone, short enough for a subject line.

    'Thursday 4 July 2024, 10:00' for a timed session, the days for an all-day one.
    """
    if session.start is None:
        return day_range(session.first_day, session.last_day, locale)
    start = session.start.astimezone(zone(session.timezone))
    return f"{long_date(start.date(), locale)}, {start:%H:%M}"


def starts(session: Session, reader_zone: str, city: str | None = None,
           locale: str = DEFAULT_LOCALE) -> str:
    """When a session starts, absolutely, for a message that cannot say "in 1 hour"
    (a reminder sent late): 'Thursday 4 July 2030, 10:00 Dushanbe time (08:00 your
    time)', the reader's date added when it differs; 'Thursday 4 July 2030, all day
    (Dushanbe)' for an all-day session."""
    place = city or city_of(session.timezone)
    if session.start is None:
        return f"{long_date(session.first_day, locale)}, all day ({place})"
    venue = session.start.astimezone(zone(session.timezone))
    text = f"{long_date(venue.date(), locale)}, {venue:%H:%M} {place} time"
    if reader_zone == session.timezone:
        return text
    mine = session.start.astimezone(zone(reader_zone))
    return f"{text} ({mine:%H:%M}{_day_after(mine.date(), venue.date(), locale)} your time)"


def day_begins(session: Session, reader_zone: str, city: str | None = None,
               locale: str = DEFAULT_LOCALE) -> str | None:
    """For an all-day session read in another zone: the instant its first day begins at
    the venue, in both zones — 'The day begins in Dushanbe at 00:00 (UTC+5), which is
    22:00 Wednesday 3 July your time (Europe/Moscow, UTC+3)'. None for timed sessions
    and for readers in the venue's zone. (Email reminders of all-day sessions count from
    that instant; see ``scheduler.plans``.)"""
    if session.start is not None or reader_zone == session.timezone:
        return None
    place = city or city_of(session.timezone)
    venue = session.starts_at.astimezone(zone(session.timezone))
    mine = session.starts_at.astimezone(zone(reader_zone))
    return (f"The day begins in {place} at {venue:%H:%M} ({format_offset(venue.utcoffset())}), "
            f"which is {mine:%H:%M}{_day_after(mine.date(), venue.date(), locale)} your time "
            f"({reader_zone}, {format_offset(mine.utcoffset())})")


def long_date(day: date, locale: str = DEFAULT_LOCALE) -> str:
    """'Thursday 16 September 2021'."""
    return format_date(day, "EEEE d MMMM y", locale=locale)


def day_range(first: date, last: date, locale: str = DEFAULT_LOCALE) -> str:
    """'Thursday 16 September 2021', 'Wednesday 3 – Thursday 4 July 2024',
    'Friday 30 August – Sunday 1 September 2024',
    'Tuesday 31 December 2024 – Wednesday 1 January 2025'."""
    if last <= first:
        return long_date(first, locale)
    if (first.year, first.month) == (last.year, last.month):
        head = format_date(first, "EEEE d", locale=locale)
    elif first.year == last.year:
        head = format_date(first, "EEEE d MMMM", locale=locale)
    else:
        head = long_date(first, locale)
    return f"{head} – {long_date(last, locale)}"


def duration(delta: timedelta) -> str:
    """'1 hour', '30 minutes', '2 days 3 hours' (seconds are dropped)."""
    if delta < timedelta(0):
        raise ValueError(f"a duration cannot be negative: {delta}")
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [_count(n, unit) for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute"))
             if n]
    return " ".join(parts) or "0 minutes"


def relative(offset: timedelta) -> str:
    """How long until a session starts, as a subject begins: 'In 1 hour', 'In 2 days 3 hours'.

    Less than a minute is 'Starting now'.
    """
    if offset < timedelta(minutes=1):
        if offset < timedelta(0):
            raise ValueError(f"a reminder offset cannot be negative: {offset}")
        return "Starting now"
    return f"In {duration(offset)}"


def offset_now(zone_name: str, at: datetime) -> str:
    """The zone's UTC offset at the instant ``at``: 'UTC+3'."""
    if at.tzinfo is None:
        raise ValueError(f"expected an aware datetime, got {at!r}")
    return format_offset(at.astimezone(zone(zone_name)).utcoffset())


def _count(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"


def _moments(session: Session, tz: ZoneInfo) -> tuple[datetime, datetime | None]:
    assert session.start is not None
    if session.start.tzinfo is None:
        raise ValueError(f"session {session.summit}/{session.id} has a naive start time")
    end = session.end.astimezone(tz) if session.end is not None else None
    return session.start.astimezone(tz), end


def _span(start: datetime, end: datetime | None, ref: date, locale: str) -> str:
    """'10:00', '10:00–13:00', '23:30 Wednesday 15 September', '22:00 – 01:00 Friday 1 March'.

    A date follows a time only when it differs from the one before (``ref`` for the start).
    """
    if end is None or end.date() == start.date():
        times = f"{start:%H:%M}" if end is None else f"{start:%H:%M}–{end:%H:%M}"
        return times + _day_after(start.date(), ref, locale)
    return (f"{start:%H:%M}{_day_after(start.date(), ref, locale)} – "
            f"{end:%H:%M}{_day_after(end.date(), start.date(), locale)}")


def _day_after(day: date, ref: date, locale: str) -> str:
    if day == ref:
        return ""
    pattern = "EEEE d MMMM" if day.year == ref.year else "EEEE d MMMM y"
    return " " + format_date(day, pattern, locale=locale)


def _offsets(start: datetime, end: datetime | None) -> str:
    first = format_offset(start.utcoffset())
    if end is None or end.utcoffset() == start.utcoffset():
        return first
    return f"{first} → {format_offset(end.utcoffset())}"
