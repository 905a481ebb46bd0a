"""VTIMEZONE components for IANA zones, trimmed to a span and readable by every parser.

icalendar builds the component from ``zoneinfo`` (the pinned ``tzdata``); two things are
then put right before it is serialised:

* icalendar writes every further onset of an observance as one comma-separated RDATE
  list. ical.js and vobject misread such lists, so each onset gets its own RDATE line.
* For a spring-forward onset icalendar writes the first wall time *after* the gap
  (``03:00`` for Madrid), but RFC 5545 reads an observance's DTSTART/RDATE as local time
  in its TZOFFSETFROM (the RFC's own examples say ``02:00``), which puts the change an
  hour late for any parser that follows the RFC. Each onset is rewritten as the true
  transition instant seen in TZOFFSETFROM. Fall-back onsets are already right.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Timezone, TimezoneDaylight, TimezoneStandard

#: Days of margin on either side of the span, so the observance in force on the first
#: day (and any change on the last day) is always part of the component.
MARGIN = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_UTC = UTC


def vtimezone_bytes(zone: str, first: date, last: date) -> bytes:
    """Serialised VTIMEZONE for ``zone`` covering the local days ``first``..``last``.

    Deterministic: the same arguments (and tz database) give the same bytes.
    """
    return build_vtimezone(zone, first, last).to_ical()


def build_vtimezone(zone: str, first: date, last: date) -> Timezone:
    """The VTIMEZONE component behind :func:`vtimezone_bytes`."""
    if last < first:
        raise ValueError(f"VTIMEZONE span for {zone} ends ({last}) before it starts ({first})")
    tzinfo = ZoneInfo(zone)
    component = Timezone.from_tzinfo(
        tzinfo,
        tzid=zone,
        first_date=first - MARGIN,
        # from_tzinfo stops *before* last_date: +1 day keeps changes on the last day.
        last_date=last + timedelta(days=1) + MARGIN,
    )
    for observance in component.subcomponents:
        if isinstance(observance, (TimezoneStandard, TimezoneDaylight)):
            _fix_observance(observance, tzinfo)
    return component


def _fix_observance(observance: TimezoneStandard | TimezoneDaylight, tzinfo: ZoneInfo) -> None:
    """Onsets as RFC 5545 local times, and one RDATE property per onset."""
    before, after = observance.TZOFFSETFROM, observance.TZOFFSETTO
    assert before is not None and after is not None  # from_tzinfo always sets both
    onsets = [observance.DTSTART, *_rdates(observance)]
    observance.pop("RDATE", None)
    onsets = [_rfc_onset(onset, before, after, tzinfo) for onset in onsets]
    observance.DTSTART = onsets[0]
    for onset in onsets[1:]:
        observance.add("RDATE", onset)


def _rdates(observance: TimezoneStandard | TimezoneDaylight) -> list[datetime]:
    values = observance.get("RDATE", [])
    if not isinstance(values, list):
        values = [values]
    return [item.dt for value in values for item in value.dts]


def _rfc_onset(onset: datetime, before: timedelta, after: timedelta, tzinfo: ZoneInfo) -> datetime:
    """The onset as the wall time, in the old offset, of the instant the offset changes.

    ``onset`` is naive local time. It is kept if it already is that (fall-back changes and
    the first observance of the span, whose offsets do not change); a spring-forward onset
    written in the new offset is moved back by the size of the gap.
    """
    if before == after:
        return onset
    for offset in (before, after):
        instant = (onset - offset).replace(tzinfo=_UTC)
        if (
            instant.astimezone(tzinfo).utcoffset() == after
            and (instant - _SECOND).astimezone(tzinfo).utcoffset() == before
        ):
            return (instant + before).replace(tzinfo=None)
    return onset
