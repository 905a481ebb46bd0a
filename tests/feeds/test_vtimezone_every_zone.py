"""Every zone's VTIMEZONE, read by the parsers that use only the VTIMEZONE in the file.

For every zone in ``zoneinfo.available_timezones()``, local times between 1970 and 2037
are drawn (from a random source seeded by Hypothesis, which keeps failing seeds: a few anywhere in the range, and a
few just around one of the zone's changes, where the faults live), and a feed is built
from sessions at those times (the feed's own code: each
zone's VTIMEZONE trimmed to the span of its sessions). ical.js (no zones registered),
vobject (dateutil) and libical then read each feed, and every start must be the instant
the tz database gives. Local times handled as SPEC says: one in a daylight-saving gap
cannot be loaded and is left out; one that happens twice is tried with both ``fold``
values (the feed writes those in UTC, see ``feeds.event.wall_time``).

icalendar and ``ical`` look a TZID up by name instead, so they cannot prove the VTIMEZONE
right and are not used here; test_interop.py covers them.

Offsets with seconds: Africa/Monrovia kept -00:44:30 until 1972. RFC 5545 allows seconds
in a UTC offset and libical reads them; ical.js 2.2 (``ICAL.UtcOffset``) and vobject keep
whole minutes, so for those two an instant may differ from the tz database's by less than a
minute, and only in such a period. Nothing else is tolerated.

"Factory" is left out: it is the tz database's placeholder for an unset zone, which the
schedule loader refuses (``core.localtime.NOT_A_PLACE``).
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, available_timezones

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from summitcal.core.localtime import NOT_A_PLACE, is_missing, is_repeated
from summitcal.core.tzif import zone_history
from summitcal.feeds.calendar import feed_bytes
from summitcal.feeds.settings import FeedSettings
from summitcal.summits.model import Schedule, Session, Summit
from tests.feeds.parsers import Parsed, parse_icaljs_many, parse_libical_many, parse_vobject

ZONES = sorted(available_timezones() - NOT_A_PLACE)
FIRST, LAST = datetime(1970, 1, 2, tzinfo=UTC), datetime(2037, 12, 30, tzinfo=UTC)
#: Minutes around a change: before, at and after the gap or the repeated hour.
NEAR = (-90, -61, -60, -31, -1, 0, 1, 29, 59, 60, 61, 90, 24 * 60)
#: Examples per run; each builds and parses one feed per zone (about 600) in each parser.
EXAMPLES = int(os.environ.get("SUMMITCAL_EVERY_ZONE_EXAMPLES", "4"))
SETTINGS = FeedSettings(
    base_url="https://cal.example.org",
    prodid="-//summitcal//tests//EN",
    refresh_interval=timedelta(hours=1),
    cancelled_retention=timedelta(days=30),
)


#: Parsers that read a UTC offset to the minute only (see the module's docstring).
MINUTES_ONLY = frozenset({"ical.js", "vobject"})


def _parse_vobject_many(feeds: Sequence[bytes]) -> list[list[Parsed]]:
    return [parse_vobject(data) for data in feeds]


ONLY_THE_VTIMEZONE: dict[str, Callable[[Sequence[bytes]], list[list[Parsed]]]] = {
    "ical.js": parse_icaljs_many,
    "vobject": _parse_vobject_many,
    "libical": parse_libical_many,
}


def zone_feed(zone: str, walls: list[datetime]) -> tuple[bytes, dict[str, datetime]]:
    """A feed with one session per wall time (two for a repeated one), and each session's
    instant as the tz database gives it, by session id (also its title)."""
    tz = ZoneInfo(zone)
    summit = Summit("every-zone", f"Every zone: {zone}", "Somewhere", "Anywhere", zone)
    sessions: dict[tuple[str, str], Session] = {}
    for index, wall in enumerate(walls):
        if is_missing(wall, tz):
            continue
        for fold in (0, 1) if is_repeated(wall, tz) else (0,):
            ident = f"s{index}-fold{fold}"
            start = wall.replace(tzinfo=tz, fold=fold)
            sessions[(summit.id, ident)] = Session(summit.id, ident, ident, zone, start=start)
    schedule = Schedule(summits={summit.id: summit}, sessions=sessions)
    data = feed_bytes(summit.name, sessions.values(), schedule, SETTINGS)
    return data, {s.id: s.starts_at for s in sessions.values()}


#: How far a zone's sessions spread: one day to three decades. Short spans put sessions in
#: the first year after the span starts, where a dropped first onset shows (madrid case).
SPANS = (timedelta(days=1), timedelta(days=200), timedelta(days=550), timedelta(days=1100),
         timedelta(days=3650), timedelta(days=11000))


def wall_times(zone: str, rng: random.Random) -> list[datetime]:
    """Wall times for one zone's sessions: three in a random window of a random length,
    and two just around one of the zone's changes in that window, if it has any."""
    tz = ZoneInfo(zone)
    length = rng.choice(SPANS)
    room = int((LAST - FIRST - length).total_seconds() // 60)
    start = FIRST + timedelta(minutes=rng.randrange(room))
    minutes = int(length.total_seconds() // 60)
    moments = [start + timedelta(minutes=rng.randrange(minutes)) for _ in range(3)]
    changes = zone_history(zone).transitions(start, start + length)
    walls = []
    if changes:
        change = rng.choice(changes).at
        moments += [change + timedelta(minutes=rng.choice(NEAR)) for _ in range(2)]
        # The wall time "at" the change read in the old offset: in a gap, or repeated.
        walls.append((change + change_before_offset(zone, change)).replace(tzinfo=None))
    return walls + [m.astimezone(tz).replace(tzinfo=None, fold=0) for m in moments]


def change_before_offset(zone: str, change: datetime) -> timedelta:
    offset = (change - timedelta(seconds=1)).astimezone(ZoneInfo(zone)).utcoffset()
    assert offset is not None
    return offset


def _tolerance(parser: str, zone: str, moment: datetime) -> timedelta:
    offset = moment.astimezone(ZoneInfo(zone)).utcoffset()
    assert offset is not None
    if parser in MINUTES_ONLY and offset % timedelta(minutes=1):
        return timedelta(minutes=1)
    return timedelta(0)


def _disagreements(
    parser: str, zones: list[str], expected: list[dict[str, datetime]], parsed: list[list[Parsed]]
) -> list[str]:
    wrong = []
    for zone, want, events in zip(zones, expected, parsed, strict=True):
        got = {event.summary: event.start for event in events}  # each title is its id
        for ident, moment in want.items():
            text = got.get(ident)
            if text is None or text.startswith(("FLOATING", "NO VTIMEZONE")):
                wrong.append(f"{parser}: {zone} {ident}: {text}")
                continue
            read = datetime.fromisoformat(text.replace("Z", "+00:00"))
            if abs(read - moment) > _tolerance(parser, zone, moment):
                local = moment.astimezone(ZoneInfo(zone))
                wrong.append(f"{parser}: {zone} {local.isoformat()} read as {text}, expected {moment:%Y-%m-%dT%H:%M:%SZ}")
    return wrong


@pytest.mark.node
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    # A failure already lists every disagreeing zone and time; shrinking a random source
    # that feeds 600 zones would take minutes and say no more.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.large_base_example],
)
@given(seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_every_zone_every_year_in_parsers_that_read_only_the_vtimezone(seed: int) -> None:
    rng = random.Random(seed)
    feeds, expected = [], []
    for zone in ZONES:
        feed, want = zone_feed(zone, wall_times(zone, rng))
        feeds.append(feed)
        expected.append(want)
    wrong = []
    for parser, parse_many in ONLY_THE_VTIMEZONE.items():
        wrong += _disagreements(parser, ZONES, expected, parse_many(feeds))
    assert wrong == [], "\n".join(wrong[:40])
