"""The feed cache: each VEVENT serialised once per version, each VTIMEZONE once per span.

A ``FeedBuilder`` is long-lived (one per process) and safe to share between threads.

VEVENT entries are keyed by (summit, session, variant), where the variant is what else
changes the bytes of a session's event: the participant whose mode the summary shows and
the alarm offsets. An entry is only reused while its *version* matches: the session's
``sequence`` plus the session itself (sessions read straight from schedule files all have
sequence 0) and the schedule records the event shows (participant names and roles,
organisation names, the summit's place and sources), which can change without a session's
sequence moving. Storing a newer version replaces the older one, so superseded sequences
never pile up; ``max_events``/``max_zones`` bound the rest, least recently used first out.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable, Iterable
from datetime import date, timedelta
from threading import Lock
from typing import Generic, TypeVar

from feeds.calendar import assemble
from feeds.event import event_bytes
from feeds.settings import FeedSettings
from feeds.vtimezone import vtimezone_bytes
from summits.model import Schedule, Session

K = TypeVar("K", bound=Hashable)

EventKey = tuple[str, str, str | None, tuple[timedelta, ...]]


class LRU(Generic[K]):
    """A small thread-safe LRU of (version, bytes) per key."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"cache limit must be at least 1, not {limit}")
        self.limit = limit
        self._items: OrderedDict[K, tuple[Hashable, bytes]] = OrderedDict()
        self._lock = Lock()

    def get(self, key: K, version: Hashable) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != version:
                return None
            self._items.move_to_end(key)
            return item[1]

    def put(self, key: K, version: Hashable, value: bytes) -> None:
        with self._lock:
            self._items[key] = (version, value)
            self._items.move_to_end(key)
            while len(self._items) > self.limit:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


class FeedBuilder:
    """Builds feed bytes from sessions, reusing each piece's bytes while it is current."""

    def __init__(
        self, settings: FeedSettings, max_events: int = 100_000, max_zones: int = 1_000
    ) -> None:
        self.settings = settings
        self.events: LRU[EventKey] = LRU(max_events)
        self.zones: LRU[tuple[str, date, date]] = LRU(max_zones)

    def build(
        self,
        name: str,
        sessions: Iterable[Session],
        schedule: Schedule,
        participant: str | None = None,
        alarms: tuple[timedelta, ...] = (),
    ) -> bytes:
        """The feed called ``name`` with ``sessions`` (see ``feeds.select``).

        ``participant`` is set for a participant feed (their mode in each summary),
        ``alarms`` for a private feed (one VALARM per offset before the start).
        Same as ``feeds.calendar.feed_bytes`` with the same arguments, only faster.
        """
        alarms = tuple(alarms)

        def event(session: Session) -> bytes:
            return self.event(session, schedule, participant, alarms)

        return assemble(name, sessions, self.settings, event, self.vtimezone)

    def event(
        self,
        session: Session,
        schedule: Schedule,
        participant: str | None = None,
        alarms: tuple[timedelta, ...] = (),
    ) -> bytes:
        """One session's VEVENT bytes, from the cache when still current."""
        key: EventKey = (session.summit, session.id, participant, alarms)
        version = event_version(session, schedule)
        cached = self.events.get(key, version)
        if cached is None:
            cached = event_bytes(session, schedule, self.settings.base_url, participant, alarms)
            self.events.put(key, version, cached)
        return cached

    def vtimezone(self, zone: str, first: date, last: date) -> bytes:
        """A zone's VTIMEZONE bytes for a span, from the cache when known."""
        key = (zone, first, last)
        cached = self.zones.get(key, None)
        if cached is None:
            cached = vtimezone_bytes(zone, first, last)
            self.zones.put(key, None, cached)
        return cached


def event_version(session: Session, schedule: Schedule) -> Hashable:
    """Everything besides the variant that the session's VEVENT bytes depend on.

    The UTC instants are included because two aware datetimes in the same zone compare
    equal when only ``fold`` differs (the repeated hour), yet the feed must change.
    """
    people = {a.participant for a in session.attendance}
    people |= {a.delegate for a in session.attendance if a.delegate}
    context = (
        schedule.summits.get(session.summit),
        tuple(schedule.participants.get(p) for p in sorted(people)),
        tuple(schedule.organizations.get(o) for o in session.organizations),
    )
    instants = (session.starts_at, session.ends_at)
    return (session.sequence, session, instants, context)
