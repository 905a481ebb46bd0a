"""VTIMEZONE components for IANA zones, built from the tz database and trimmed to a span.

RFC 5545 §3.6.5 lets one observance (STANDARD or DAYLIGHT) carry many onsets, as a
DTSTART plus RDATEs or an RRULE. Parsers do not read those shapes alike: Mozilla's
ical.js (Thunderbird) and libical ignore the DTSTART onset of an observance that also has
RDATEs, so sessions between the first and the second onset moved by an hour, and
comma-separated RDATE lists are misread by ical.js and vobject. And the library that used
to build these components (icalendar 7.3's ``Timezone.from_tzinfo``) skipped changes the
tz database has (Casablanca, Ramadan 2023).

So the component is written here from the zone's own history
(:func:`core.tzif.zone_history`, the pinned ``tzdata``), in the one shape every parser
reads the same way: **one observance per onset, each with a single DTSTART and no RDATE or
RRULE**. The first observance gives the offset in force at the start of the span
(TZOFFSETFROM = TZOFFSETTO); each later one is one change of offset, DST flag or
abbreviation inside the span.

Each onset is written as RFC 5545 reads it: the local time, in the offset before the
change (TZOFFSETFROM), of the instant the change happens (the RFC's examples: 02:00 for a
spring-forward change, 02:00 daylight time for the fall-back one).

DAYLIGHT or STANDARD: DAYLIGHT for a period the tz database flags as DST whose offset is
ahead of the standard time next to it; negative DST (Dublin's winter, Casablanca's
Ramadan) is written as STANDARD, the way the tz database's "rearguard" form and calendar
clients see it. Parsers take the offsets from TZOFFSETFROM/TZOFFSETTO either way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

from summitcal.core.tzif import LocalTimeType, zone_history

#: Days of margin on either side of the span, so the observance in force on the first
#: day (and any change on the last day) is always part of the component.
MARGIN = timedelta(days=1)


def vtimezone_bytes(zone: str, first: date, last: date) -> bytes:
    """Serialised VTIMEZONE for ``zone`` covering the local days ``first``..``last``.

    Deterministic: the same arguments (and tz database) give the same bytes. Raises
    ``ValueError`` for a backwards span and ``zoneinfo.ZoneInfoNotFoundError`` for an
    unknown zone.
    """
    return build_vtimezone(zone, first, last).to_ical()


def build_vtimezone(zone: str, first: date, last: date) -> Timezone:
    """The VTIMEZONE component behind :func:`vtimezone_bytes`.

    It covers the instants from local midnight starting ``first - MARGIN`` to local
    midnight ending ``last + MARGIN``.
    """
    if last < first:
        raise ValueError(f"VTIMEZONE span for {zone} ends ({last}) before it starts ({first})")
    history = zone_history(zone)
    tzinfo = ZoneInfo(zone)
    start = datetime.combine(first - MARGIN, time(0), tzinfo)
    end = datetime.combine(last + timedelta(days=1) + MARGIN, time(0), tzinfo)
    initial = history.type_at(start)
    changes = history.transitions(start, end)
    component = Timezone()
    component.add("TZID", zone)
    neighbour = changes[0].after if changes else None
    component.add_component(_observance(_local(start, initial), initial, initial, neighbour))
    for index, change in enumerate(changes):
        later = changes[index + 1].after if index + 1 < len(changes) else None
        onset = _local(change.at, change.before)
        component.add_component(_observance(onset, change.before, change.after, later))
    return component


def _local(moment: datetime, kind: LocalTimeType) -> datetime:
    """The naive wall time of the aware instant ``moment`` in ``kind``'s offset."""
    return (moment.astimezone(UTC) + kind.offset).replace(tzinfo=None)


def _observance(
    onset: datetime,
    before: LocalTimeType,
    after: LocalTimeType,
    later: LocalTimeType | None,
) -> TimezoneStandard | TimezoneDaylight:
    daylight = after.is_dst and any(
        n is not None and not n.is_dst and after.offset > n.offset for n in (before, later)
    )
    observance = TimezoneDaylight() if daylight else TimezoneStandard()
    observance.add("DTSTART", onset)
    observance.add("TZNAME", after.abbreviation)
    observance.add("TZOFFSETFROM", before.offset)
    observance.add("TZOFFSETTO", after.offset)
    return observance

