"""One session as one VEVENT: a pure function from a session (and its schedule) to bytes.

``event_bytes`` writes the content lines itself: TEXT escaping (RFC 5545 3.3.11), the
properties in icalendar's order, and folding at 75 octets (RFC 5545 3.1). It gives the
bytes icalendar 7.3 gives for ``build_event`` (the same event as an icalendar component),
byte for byte, which the tests hold on every session they can draw; icalendar spends most
of an event's time folding one character at a time, so a feed's first build of 50,000
sessions took as long as plain icalendar. Nothing here depends on the clock, so the same
session gives the same bytes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Alarm, Conference, Event, vCategory, vText
from icalendar.timezone.tzid import tzid_from_tzinfo

from summitcal.feeds import wording
from summitcal.feeds.links import session_url
from summitcal.summits.model import Schedule, Session, SessionStatus

STATUSES = {status: status.upper() for status in SessionStatus}  # RFC 5545 3.8.1.11
VIDEO_LABEL = "Video link"
FOLD_OCTETS = 74  # octets of a content line before a fold (RFC 5545 3.1: at most 75)
_QUOTED_PARAMETER = re.compile("[,;:\u2019]")  # a parameter value with these is quoted


def event_bytes(
    session: Session,
    schedule: Schedule,
    base_url: str,
    participant: str | None = None,
    alarms: tuple[timedelta, ...] = (),
) -> bytes:
    """The session's VEVENT, serialised (``BEGIN:VEVENT`` … ``END:VEVENT`` CRLF).

    The same bytes as ``build_event(...).to_ical()``: properties in icalendar's order
    (``SUMMARY DTSTART DTEND DTSTAMP UID SEQUENCE``, then the others by name), each
    content line folded before it passes 74 octets without splitting a UTF-8 character
    or ending a line on ``\\`` or ``^``, VALARMs last. About 20 times faster."""
    title = wording.summary(session, schedule, participant)
    lines = ["BEGIN:VEVENT", "SUMMARY:" + escape_text(title)]
    lines.extend(_time_lines(session))
    stamp = _utc_text(changed_at(session))
    lines.append("DTSTAMP:" + stamp)
    lines.append("UID:" + escape_text(uid(session, base_url)))
    lines.append(f"SEQUENCE:{session.sequence:d}")
    names = wording.categories(session, schedule)
    if names:
        lines.append("CATEGORIES:" + ",".join(escape_text(name) for name in names))
    if session.video_url:
        lines.append(f"CONFERENCE;FEATURE=VIDEO;LABEL={VIDEO_LABEL};VALUE=URI:"
                     + session.video_url)
    text = wording.description(session, schedule)
    if text:
        lines.append("DESCRIPTION:" + escape_text(text))
    lines.append("LAST-MODIFIED:" + stamp)
    place = wording.location(session, schedule)
    if place:
        lines.append("LOCATION:" + escape_text(place))
    lines.append("STATUS:" + escape_text(STATUSES[session.status]))
    lines.append("TRANSP:TRANSPARENT")
    lines.append("URL:" + session_url(session, base_url))
    if session.status != SessionStatus.CANCELLED:
        for offset in alarms:
            lines += ("BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:" + escape_text(title),
                      "TRIGGER:" + duration_text(-offset), "END:VALARM")
    lines.append("END:VEVENT")
    return b"\r\n".join(fold(line) for line in lines) + b"\r\n"


def escape_text(value: str) -> str:
    r"""``value`` as an iCalendar TEXT value (RFC 5545 3.3.11): backslash, semicolon and
    comma escaped, each line end (CR LF, LF or a lone CR) written ``\n``.

    The two characters ``\N`` stay a backslash and an ``N`` (written ``\\N``), as in
    ``Text``: icalendar reads them as a line break."""
    return "\\\\N".join(
        piece.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
        .replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n")
        for piece in value.split("\\N"))


def fold(line: str) -> bytes:
    """One content line as UTF-8, folded (RFC 5545 3.1: CRLF and a space) so that no
    line holds more than ``FOLD_OCTETS`` octets, as icalendar folds: each line takes
    as many whole characters as fit, less a last ``\\`` or ``^``, which starts the next
    line instead (so that no client sees an escape cut in two)."""
    data = line.encode()
    end = len(data)
    if end <= FOLD_OCTETS:
        return data
    parts = []
    start = 0
    while end - start > FOLD_OCTETS:
        cut = start + FOLD_OCTETS
        while data[cut] & 0xC0 == 0x80:  # inside a UTF-8 sequence: before its first byte
            cut -= 1
        if data[cut - 1] in b"\\^" and cut - 1 > start:
            cut -= 1
        parts.append(data[start:cut])
        start = cut
    parts.append(data[start:])
    return b"\r\n ".join(parts)


def duration_text(offset: timedelta) -> str:
    """``offset`` as an iCalendar DURATION (RFC 5545 3.3.6), in icalendar's form:
    ``-PT15M``, ``-P1D``, ``-P1DT2H``, ``PT1H0M5S``."""
    sign = ""
    if offset.days < 0:
        sign, offset = "-", -offset
    time = ""
    if offset.seconds:
        hours, rest = divmod(offset.seconds, 3600)
        minutes, seconds = divmod(rest, 60)
        time = "T" + (f"{hours}H" if hours else "") + \
            (f"{minutes}M" if minutes or (hours and seconds) else "") + \
            (f"{seconds}S" if seconds else "")
    if offset.days == 0 and time:
        return f"{sign}P{time}"
    return f"{sign}P{offset.days}D{time}"


def _time_lines(session: Session) -> list[str]:
    """DTSTART and DTEND: DATE values for an all-day session (DTEND the day after its
    last, RFC 5545 3.6.1), else ``wall_time`` with the zone's TZID, or in UTC."""
    if session.start is None:
        assert session.date is not None
        return ["DTSTART;VALUE=DATE:" + _date_text(session.date),
                "DTEND;VALUE=DATE:" + _date_text(session.last_day + timedelta(days=1))]
    zone = ZoneInfo(session.timezone)
    lines = ["DTSTART" + _date_time_text(wall_time(session.start, zone))]
    if session.end is not None:
        lines.append("DTEND" + _date_time_text(wall_time(session.end, zone)))
    return lines


def _date_text(day: date) -> str:
    return f"{day.year:04}{day.month:02}{day.day:02}"


def _wall_text(moment: datetime) -> str:
    """``moment``'s wall time as a DATE-TIME without its zone (RFC 5545 3.3.5), to the
    second."""
    return _date_text(moment) + f"T{moment.hour:02}{moment.minute:02}{moment.second:02}"


def _utc_text(moment: datetime) -> str:
    """A DATE-TIME in UTC (RFC 5545 3.3.5, form 2), to the second."""
    return _wall_text(moment.astimezone(UTC)) + "Z"


def _date_time_text(moment: datetime) -> str:
    """``:`` or ``;TZID=...:`` and the DATE-TIME (RFC 5545 3.3.5): in UTC (``Z``) when
    the zone is UTC or one of its aliases, else the wall time with the zone's TZID."""
    tzid = _tzid(moment.tzinfo)
    text = _wall_text(moment)
    if tzid == "UTC":
        return ":" + text + "Z"
    return ";TZID=" + tzid + ":" + text


@lru_cache(maxsize=1024)
def _tzid(zone: object) -> str:
    """The TZID a time in ``zone`` is written with: icalendar's choice (the zone's key,
    or ``UTC`` for UTC and its aliases), as a parameter value (RFC 5545 3.2: quoted when
    it holds ``,``, ``;`` or ``:``; ``^``, ``"`` and line ends escaped as RFC 6868 says)."""
    tzid = tzid_from_tzinfo(zone)  # type: ignore[arg-type]
    if tzid is None:
        raise ValueError(f"no TZID for the zone {zone!r}")
    if tzid == "UTC":
        return tzid
    value = (tzid.replace("^", "^^").replace("\r\n", "^n").replace("\n", "^n")
             .replace("\r", "^n").replace('"', "^'"))
    return f'"{value}"' if _QUOTED_PARAMETER.search(value) else value


def build_event(
    session: Session,
    schedule: Schedule,
    base_url: str,
    participant: str | None = None,
    alarms: tuple[timedelta, ...] = (),
) -> Event:
    """The VEVENT component for ``session``, built with icalendar: ``event_bytes`` writes
    its bytes (``to_ical()``) directly, and the tests hold the two together.

    ``participant`` (an id) makes the summary say how that participant takes part, as in a
    participant feed. ``alarms`` are offsets before the start, one VALARM each; a
    cancelled session gets none.
    """
    event = Event()
    event.add("UID", uid(session, base_url))
    event.add("SEQUENCE", session.sequence)
    stamp = changed_at(session)
    event.add("DTSTAMP", stamp)
    event.add("LAST-MODIFIED", stamp)
    _add_times(event, session)
    title = Text(wording.summary(session, schedule, participant))
    event.add("SUMMARY", title)
    place = wording.location(session, schedule)
    if place:
        event.add("LOCATION", Text(place))
    text = wording.description(session, schedule)
    if text:
        event.add("DESCRIPTION", Text(text))
    event.add("STATUS", STATUSES[session.status])
    event.add("TRANSP", "TRANSPARENT")
    event.add("URL", session_url(session, base_url))
    names = wording.categories(session, schedule)
    if names:
        categories = vCategory([])
        categories.cats = [Text(name) for name in names]
        event.add("CATEGORIES", categories)
    if session.video_url:
        event.conferences = [Conference(session.video_url, feature="VIDEO", label=VIDEO_LABEL)]
    if session.status != SessionStatus.CANCELLED:
        for offset in alarms:
            event.add_component(_alarm(offset, title))
    return event


def uid(session: Session, base_url: str) -> str:
    """``{summit}-{session}@{host of base_url}``: stable for the session's whole life.

    The part before ``@`` is ``session.event_key``, which loading keeps unique (see
    ``summits.model.event_key``), so no two sessions share a UID.
    """
    host = urlsplit(base_url).hostname or "localhost"
    return f"{session.event_key}@{host}"


def changed_at(session: Session) -> datetime:
    """When the session last changed, in UTC: DTSTAMP and LAST-MODIFIED.

    A session straight from a schedule file has no ``last_modified``; it then gets its
    own start instant, which depends only on the data (never on the clock).
    """
    if session.last_modified is not None:
        return session.last_modified.astimezone(UTC)
    return session.starts_at


def _add_times(event: Event, session: Session) -> None:
    if session.start is None:
        assert session.date is not None
        event.add("DTSTART", session.date)
        event.add("DTEND", session.last_day + timedelta(days=1))
        return
    zone = ZoneInfo(session.timezone)
    event.add("DTSTART", wall_time(session.start, zone))
    if session.end is not None:
        event.add("DTEND", wall_time(session.end, zone))


def wall_time(moment: datetime, zone: ZoneInfo) -> datetime:
    """``moment`` as written in the feed: local time with the zone's TZID, or UTC.

    A local time that occurs twice (the repeated hour when clocks go back) is written in
    UTC, whichever occurrence it is. With a TZID, RFC 5545 (3.3.5) says it means the
    first occurrence and offers no way to say "the second one"; and ical.js 2.2 reads it
    as the *standard-time* occurrence anyway (``want_daylight = false`` in its
    ``Timezone.utcOffset``), which is the second one in Madrid. UTC is read the same way
    by every client.
    """
    local = moment.astimezone(zone)
    if local.replace(fold=1 - local.fold).utcoffset() != local.utcoffset():
        return local.astimezone(UTC)
    return local


def _alarm(offset: timedelta, title: Text) -> Alarm:
    alarm = Alarm()
    alarm.add("ACTION", "DISPLAY")
    alarm.add("TRIGGER", -offset)
    alarm.add("DESCRIPTION", title)
    return alarm


class Text(vText):
    r"""A TEXT value whose backslashes all stay backslashes.

    icalendar 7.3 reads the two characters ``\N`` in a value as a line break ("To add a
    line break, use \n or \N", in vText's documentation; ``_escape_char`` starts with
    ``replace(r"\N", "\n")``), so "C:\New folder" would reach subscribers as "C:", a
    new line and "ew folder". Here each piece between such pairs is escaped by icalendar
    as usual, and each pair is written as an escaped backslash followed by ``N``.
    """

    __slots__ = ()

    def to_ical(self) -> bytes:
        pieces = str(self).split("\\N")
        return b"\\\\N".join(vText(piece).to_ical() for piece in pieces)
