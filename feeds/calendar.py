"""A whole feed, assembled by concatenating pre-serialised pieces.

header (VCALENDAR properties) + one VTIMEZONE per zone of the timed sessions + the
VEVENTs in a stable order + ``END:VCALENDAR``. The pieces come from callables, so the
feed cache (``feeds.cache``) can hand in cached bytes while :func:`feed_bytes` renders
everything afresh; both give the same bytes for the same inputs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, timedelta

from icalendar import Calendar, vDuration, vUnknown

from summitcal.feeds.event import Text, event_bytes
from summitcal.feeds.settings import FeedSettings
from summitcal.feeds.vtimezone import vtimezone_bytes
from summitcal.summits.model import Schedule, Session
from summitcal.summits.text import single_line

FOOTER = b"END:VCALENDAR\r\n"

EventRenderer = Callable[[Session], bytes]
ZoneRenderer = Callable[[str, date, date], bytes]


def header_bytes(name: str, settings: FeedSettings) -> bytes:
    """``BEGIN:VCALENDAR`` and the calendar's properties (:func:`header_calendar`),
    without the footer."""
    serialised = header_calendar(name, settings).to_ical()
    assert serialised.endswith(FOOTER)
    return serialised[: -len(FOOTER)]


def header_calendar(name: str, settings: FeedSettings) -> Calendar:
    r"""A feed's calendar properties, as an (empty) icalendar ``Calendar``.

    No METHOD (this is a subscription, not an iTIP message) and no X-WR-TIMEZONE
    (every time carries its own TZID, or is UTC or a date).

    The calendar's name, e.g. "SCO summit, Astana 2024", is written twice, each the way
    its readers read it (measured with icalendar 7.3, ical 14.3, vobject 0.9.9, ical.js
    2.2 and libical 3.0; see the README):

    * ``NAME;VALUE=TEXT:SCO summit\, Astana 2024``. RFC 7986 (5.1) makes NAME a TEXT
      property, so the comma is escaped (RFC 5545 3.3.11). icalendar and ical.js do not
      know NAME's type and showed the backslash; the explicit ``VALUE=TEXT`` (RFC 5545
      3.2.20) makes them unescape it, and the others read it right either way.
    * ``X-WR-CALNAME:SCO summit, Astana 2024``, as it is. Some clients that read this
      non-standard property show its value as written, so an escaped comma would show as
      "\,"; others (Microsoft documents it as TEXT) unescape it, and a plain comma reads
      the same to them. icalendar, ical.js and libical read the plain value right;
      vobject, which reads every X- property as TEXT, stops at the comma, but reads NAME.
    """
    calendar = Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", settings.prodid)
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("NAME", Text(name), parameters={"VALUE": "TEXT"})
    calendar.add("X-WR-CALNAME", vUnknown(single_line(name)))
    interval = vDuration(settings.refresh_interval)
    calendar.add("REFRESH-INTERVAL", interval, parameters={"VALUE": "DURATION"})
    # Without the explicit type icalendar writes str(timedelta), "1:00:00".
    calendar.add("X-PUBLISHED-TTL", vDuration(settings.refresh_interval))
    return calendar


def event_header_bytes(prodid: str) -> bytes:
    """The head of a one-event calendar ("Add this session", a reminder's attachment):
    ``VERSION``, ``PRODID`` and ``CALSCALE`` only. No ``NAME``/``X-WR-CALNAME`` (Outlook
    makes a new calendar for a file that names one, and MS-OXCICAL 2.1.3.1.1.17 says to
    omit it for a single appointment), no ``REFRESH-INTERVAL`` (nothing to refresh)."""
    calendar = Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", prodid)
    calendar.add("CALSCALE", "GREGORIAN")
    serialised = calendar.to_ical()
    return serialised[: -len(FOOTER)]


def event_calendar(
    session: Session, prodid: str, event: EventRenderer, vtimezone: ZoneRenderer
) -> bytes:
    """One session as a calendar of its own: the feeds' VEVENT (same UID, SEQUENCE and
    times) and the VTIMEZONE its times need, from the same generator as the feeds'."""
    parts = [event_header_bytes(prodid)]
    parts.extend(
        vtimezone(zone, first, last) for zone, (first, last) in zone_spans([session]).items()
    )
    parts.append(event(session))
    parts.append(FOOTER)
    return b"".join(parts)


def ordered(sessions: Iterable[Session]) -> list[Session]:
    """Events in feed order: start instant, then summit, then session id."""
    return sorted(sessions, key=lambda s: (s.starts_at, s.summit, s.id))


def zone_spans(sessions: Iterable[Session]) -> dict[str, tuple[date, date]]:
    """For each zone used by a timed session: its first and last local day, by zone."""
    spans: dict[str, tuple[date, date]] = {}
    for session in sessions:
        if session.all_day:
            continue
        first, last = session.first_day, session.last_day
        if session.timezone in spans:
            known_first, known_last = spans[session.timezone]
            first, last = min(first, known_first), max(last, known_last)
        spans[session.timezone] = (first, last)
    return dict(sorted(spans.items()))


def assemble(
    name: str,
    sessions: Iterable[Session],
    settings: FeedSettings,
    event: EventRenderer,
    vtimezone: ZoneRenderer,
) -> bytes:
    """The feed's bytes from its pieces; ``event``/``vtimezone`` render (or recall) them."""
    chosen = ordered(sessions)
    parts = [header_bytes(name, settings)]
    parts.extend(vtimezone(zone, first, last) for zone, (first, last) in zone_spans(chosen).items())
    parts.extend(event(session) for session in chosen)
    parts.append(FOOTER)
    return b"".join(parts)


def feed_bytes(
    name: str,
    sessions: Iterable[Session],
    schedule: Schedule,
    settings: FeedSettings,
    participant: str | None = None,
    alarms: tuple[timedelta, ...] = (),
) -> bytes:
    """A whole feed rendered without any cache (the reference for ``FeedBuilder``)."""

    def event(session: Session) -> bytes:
        return event_bytes(session, schedule, settings.base_url, participant, alarms)

    return assemble(name, sessions, settings, event, vtimezone_bytes)
