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

import calendar
import hashlib
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from operator import attrgetter
from threading import Lock
from types import MappingProxyType
from typing import Any, Generic, TypeVar

from summitcal.feeds.calendar import FOOTER, event_calendar, header_bytes
from summitcal.feeds.event import event_bytes
from summitcal.feeds.gzipped import cut_points, ends_chunk, part_tag
from summitcal.feeds.settings import FeedSettings
from summitcal.feeds.vtimezone import vtimezone_bytes
from summitcal.summits.model import Schedule, Session

K = TypeVar("K", bound=Hashable)

EventKey = tuple[str, str, str | None, tuple[timedelta, ...]]


class LRU(Generic[K]):
    """A small thread-safe LRU of (version, value) per key."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"cache limit must be at least 1, not {limit}")
        self.limit = limit
        self._items: OrderedDict[K, tuple[Hashable, Any]] = OrderedDict()
        self._lock = Lock()

    def get(self, key: K, version: Hashable) -> Any:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] != version:
                return None
            self._items.move_to_end(key)
            return item[1]

    def items_view(self) -> Mapping[K, tuple[Hashable, Any]]:
        """Read-only access to the entries (key → (version, value)) for hot loops."""
        return MappingProxyType(self._items)

    def peek(self, key: K) -> Any:
        """The value stored for ``key`` (any version), without touching the order: the
        hot path of feed assembly, a plain dictionary read."""
        item = self._items.get(key)
        return None if item is None else item[1]

    def put(self, key: K, version: Hashable, value: Any) -> None:
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


@dataclass(slots=True)
class Piece:
    """One session's VEVENT bytes with what assembly needs to know about it.

    ``session`` and ``records`` remember the exact objects the piece was checked
    against: while a caller hands in the same objects (a schedule snapshot keeps unchanged
    sessions and record tables as they were), the piece is current without comparing
    anything. Otherwise ``version`` (see ``event_version``) decides; a piece restored
    from a file (``feeds.kept``) has only its ``digest`` (``version_digest``) until it
    is first found current.
    """

    version: Hashable | None
    session: Session | None
    records: tuple[int, int, int]
    order: tuple[int, int, str, str]  # start (POSIX seconds, microseconds), summit, id
    zone: str | None  # the TZID a timed session uses; None for all-day
    first: date
    last: date
    body: bytes
    digest: str = ""  # version_digest(version), made when first needed
    tag: bytes = b""  # part_tag(body)
    cut: bool = False  # gzipped.ends_chunk(body, tag)

    def __post_init__(self) -> None:
        if not self.tag:
            self.tag = part_tag(self.body)
        self.cut = ends_chunk(self.body, self.tag)

    def same_version(self, version: Hashable) -> bool:
        """Whether the piece was made from ``version`` (by digest for a restored piece)."""
        if self.version is not None:
            return self.version == version
        return self.digest == version_digest(version)


FOOTER_TAG = part_tag(FOOTER)


def zone_days(pieces: Iterable[Piece]) -> dict[str, tuple[date, date]]:
    """Each zone of the timed pieces with the first and last local day they touch."""
    spans: dict[str, tuple[date, date]] = {}
    for piece in pieces:
        if piece.zone is None:
            continue
        known = spans.get(piece.zone)
        if known is None:
            spans[piece.zone] = (piece.first, piece.last)
        elif piece.first < known[0] or piece.last > known[1]:
            spans[piece.zone] = (piece.first if piece.first < known[0] else known[0],
                                 piece.last if piece.last > known[1] else known[1])
    return spans


@dataclass(frozen=True, slots=True)
class Assembled:
    """A feed as its parts (header, VTIMEZONEs, VEVENTs, footer) and their tags."""

    parts: list[bytes]
    tags: list[bytes]
    cuts: list[int]  # gzipped.cut_points(parts, tags)

    @property
    def digest(self) -> str:
        """A strong validator of the feed's bytes (hex): SHA-256 of the parts' tags, each
        a digest of its part. Different bytes give a different digest; the same bytes
        give the same one, since a feed is always cut into parts the same way (one part
        per header, zone, event and footer). Costs a few bytes per part, not the body."""
        return hashlib.sha256(b"".join(self.tags)).hexdigest()

    length: int | None = None  # bytes, when known

    def __post_init__(self) -> None:
        if self.length is None:
            object.__setattr__(self, "length", sum(map(len, self.parts)))


def _records(schedule: Schedule) -> tuple[int, int, int]:
    return (id(schedule.summits), id(schedule.participants), id(schedule.organizations))


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
        """The feed called ``name`` with ``sessions`` (see ``feeds.select``): the join of
        ``parts`` with the same arguments."""
        return b"".join(self.parts(name, sessions, schedule, participant, alarms))

    def parts(
        self,
        name: str,
        sessions: Iterable[Session],
        schedule: Schedule,
        participant: str | None = None,
        alarms: tuple[timedelta, ...] = (),
    ) -> list[bytes]:
        """The feed called ``name`` with ``sessions`` (see ``feeds.select``), as its parts:
        header, VTIMEZONEs, VEVENTs, footer (the same bytes objects while they are current,
        which lets ``feeds.gzipped`` reuse their compression).

        ``participant`` is set for a participant feed (their mode in each summary),
        ``alarms`` for a private feed (one VALARM per offset before the start).
        Same bytes as ``feeds.calendar.feed_bytes`` with the same arguments, only faster:
        pieces are sorted by their memoised start, and only changed ones are rendered.
        """
        return self.assemble(name, sessions, schedule, participant, alarms).parts

    def assemble(
        self,
        name: str,
        sessions: Iterable[Session],
        schedule: Schedule,
        participant: str | None = None,
        alarms: tuple[timedelta, ...] = (),
    ) -> Assembled:
        """``parts`` with each part's ``part_tag`` beside it (recalled for the VEVENTs), so
        a caller can name the feed's bytes (``Assembled.digest``) without reading them."""
        return self.assembled(name, self.pieces(sessions, schedule, participant, alarms))

    def pieces(
        self,
        sessions: Iterable[Session],
        schedule: Schedule,
        participant: str | None = None,
        alarms: tuple[timedelta, ...] = (),
    ) -> list[Piece]:
        """The current piece of each session, in feed order (start, summit, id)."""
        alarms = tuple(alarms)
        records = _records(schedule)
        items = self.events.items_view()
        pieces = []
        for session in sessions:  # the hot loop: the fast path of ``piece``, inlined
            entry = items.get((session.summit, session.id, participant, alarms))
            known = entry[1] if entry is not None else None
            if known is not None and known.session is session and known.records == records:
                pieces.append(known)
            else:
                pieces.append(self.piece(session, schedule, participant, alarms, records))
        pieces.sort(key=attrgetter("order"))
        return pieces

    def assembled(self, name: str, pieces: list[Piece],
                  spans: dict[str, tuple[date, date]] | None = None) -> Assembled:
        """The feed called ``name`` with ``pieces`` (in feed order), as ``assemble``;
        ``spans`` (each zone's first and last day among the pieces) when known."""
        parts, tags = self.head(name, zone_days(pieces) if spans is None else spans)
        cuts = cut_points(parts, tags)
        offset = len(parts)
        cuts.extend([offset + i for i, piece in enumerate(pieces) if piece.cut])
        parts.extend([piece.body for piece in pieces])
        tags.extend([piece.tag for piece in pieces])
        parts.append(FOOTER)
        tags.append(FOOTER_TAG)
        return Assembled(parts, tags, cuts)

    def head(self, name: str, spans: dict[str, tuple[date, date]]
             ) -> tuple[list[bytes], list[bytes]]:
        """The parts before the events (header, then a VTIMEZONE per zone of ``spans``)
        and their tags."""
        parts = [header_bytes(name, self.settings)]
        parts.extend(self.vtimezone(zone, *spans[zone]) for zone in sorted(spans))
        return parts, [part_tag(part) for part in parts]

    def piece(
        self,
        session: Session,
        schedule: Schedule,
        participant: str | None = None,
        alarms: tuple[timedelta, ...] = (),
        records: tuple[int, int, int] | None = None,
    ) -> Piece:
        """The session's current piece: recalled when still current, else rendered."""
        key: EventKey = (session.summit, session.id, participant, alarms)
        records = records or _records(schedule)
        cached = self.events.peek(key)
        if cached is not None and cached.session is session and cached.records == records:
            return cached
        version = event_version(session, schedule)
        if cached is not None and cached.same_version(version):
            cached.version, cached.session, cached.records = version, session, records
            return cached
        body = event_bytes(session, schedule, self.settings.base_url, participant, alarms)
        start = session.starts_at
        order = (calendar.timegm(start.utctimetuple()), start.microsecond, session.summit,
                 session.id)
        fresh = Piece(version, session, records, order,
                      None if session.all_day else session.timezone, session.first_day,
                      session.last_day, body)
        self.events.put(key, version, fresh)
        return fresh

    def event(
        self,
        session: Session,
        schedule: Schedule,
        participant: str | None = None,
        alarms: tuple[timedelta, ...] = (),
    ) -> bytes:
        """One session's VEVENT bytes, from the cache when still current."""
        return self.piece(session, schedule, participant, tuple(alarms)).body

    def single(self, session: Session, schedule: Schedule) -> bytes:
        """The session as a calendar of its own (``feeds.calendar.event_calendar``), from
        the cached VEVENT and VTIMEZONE pieces."""
        return event_calendar(session, self.settings.prodid,
                              lambda s: self.event(s, schedule), self.vtimezone)

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


def version_digest(version: Hashable) -> str:
    """A digest of an ``event_version`` that is the same in every process (Python's own
    ``hash`` of text is not): BLAKE2b of its ``repr`` (frozen dataclasses, dates and
    aware datetimes, whose repr shows every field, ``fold`` and the zone included)."""
    return hashlib.blake2b(repr(version).encode("utf-8"), digest_size=16).hexdigest()
