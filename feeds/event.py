"""One session as one VEVENT: a pure function from a session (and its schedule) to bytes.

icalendar does the escaping, folding (75 octets) and CRLF line ends; nothing here
depends on the clock, so the same session gives the same bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from icalendar import Alarm, Conference, Event, vCategory, vText

from summitcal.feeds import wording
from summitcal.feeds.links import session_url
from summitcal.summits.model import Schedule, Session, SessionStatus

STATUSES = {status: status.upper() for status in SessionStatus}  # RFC 5545 3.8.1.11


def event_bytes(
    session: Session,
    schedule: Schedule,
    base_url: str,
    participant: str | None = None,
    alarms: tuple[timedelta, ...] = (),
) -> bytes:
    """The session's VEVENT, serialised (``BEGIN:VEVENT`` … ``END:VEVENT`` CRLF)."""
    return build_event(session, schedule, base_url, participant, alarms).to_ical()


def build_event(
    session: Session,
    schedule: Schedule,
    base_url: str,
    participant: str | None = None,
    alarms: tuple[timedelta, ...] = (),
) -> Event:
    """The VEVENT component for ``session``.

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
        event.conferences = [Conference(session.video_url, feature="VIDEO", label="Video link")]
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
