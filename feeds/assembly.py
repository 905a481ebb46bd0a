"""A feed kept assembled between versions, updated by the sessions that changed.

After a change, building a feed from all its sessions costs a pass over every session
(look up its piece, sort, find each zone's span, the newest change): 100 ms and more at
50,000 sessions, where the change itself touched one. An ``Assembly`` keeps a feed's
pieces in feed order with what they add up to, and ``update`` takes out the pieces of the
sessions that changed and puts in their new ones (``bisect``), so the cost is that of the
change.

The feed's gzip form and ETag come from its *runs* (``Run``): the parts from just after one
chunk end (``feeds.gzipped.ends_chunk``) to the next, with their tags joined and, once
asked for, their compressed chunks. An update rebuilds only the runs around the pieces it
took out or put in and keeps every other run as it was, so a version costs a pass over the
runs (about one per 64 kB of feed), never over every part: at 50,000 sessions, passes
over the parts (lists of parts and tags, chunk tuples to look up, tags to join) touched
objects spread over 67 MB and were most of a change's cost. The runs are cut exactly where
``gzipped.chunks`` cuts the whole list of parts, so the gzip member and the digest are
byte for byte those of the feed built whole.

It is only as right as the set of changed sessions it is given
(``Runtime.changed_since``: every other session must be the very object it was, and no
record table may have changed) and the clock: a cancelled session drops out of a feed
when its retention ends, so the assembly is not used past ``expires`` (``FeedService``
builds the feed whole then, and also on any doubt).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import chain, compress

from summitcal.feeds.cache import FOOTER_TAG, FeedBuilder, Piece
from summitcal.feeds.calendar import FOOTER
from summitcal.feeds.gzipped import Deflated, GzipJoiner, chunks, cut_points, member
from summitcal.feeds.select import dropped_at, selected
from summitcal.summits.model import Schedule

SessionKey = tuple[str, str]
#: A run's identity between versions: its first and last piece (by identity), whether it
#: opens the feed (then its head is compared too) and whether it closes it (the footer).
RunKey = tuple[int, int, bool, bool]


@dataclass(slots=True, eq=False)
class Run:
    """A run of a feed's parts that starts after a chunk end (or at the start) and ends at
    the next one (or at the end): the head's parts in the first run, the footer in the
    last. ``cuts`` are the chunk ends within it (``gzipped.cut_points``), ``tags`` its
    parts' tags joined, ``size`` its bytes; ``deflated`` its chunks compressed, made when
    first asked for (``compressed``)."""

    head: tuple[bytes, ...]
    parts: tuple[bytes, ...]
    cuts: list[int]
    tags: bytes
    size: int
    deflated: list[Deflated] | None = None

    def compressed(self, joiner: GzipJoiner) -> list[Deflated]:
        """The run's chunks compressed (``joiner`` makes or recalls each), kept."""
        if self.deflated is None:
            self.deflated = [joiner.deflated(chunk) for chunk in chunks(self.parts, self.cuts)]
        return self.deflated


@dataclass(frozen=True, slots=True)
class Chunked:
    """A feed as its runs in order: what ``feeds.service.FeedResponse`` serves."""

    runs: tuple[Run, ...]

    @property
    def digest(self) -> str:
        """``feeds.cache.Assembled.digest`` of the same parts (SHA-256 of their tags
        joined), from the runs' joined tags."""
        return hashlib.sha256(b"".join([run.tags for run in self.runs])).hexdigest()

    @property
    def length(self) -> int:
        """The feed's bytes."""
        return sum(run.size for run in self.runs)

    def parts(self) -> list[bytes]:
        """Every part in order."""
        return list(chain.from_iterable(run.parts for run in self.runs))

    def cuts(self) -> list[int]:
        """``gzipped.cut_points`` of ``parts()``."""
        found: list[int] = []
        offset = 0
        for run in self.runs:
            found.extend(offset + cut for cut in run.cuts)
            offset += len(run.parts)
        return found

    def gzip(self, joiner: GzipJoiner) -> bytes:
        """The gzip member of the feed (``gzipped.member``), from each run's chunks."""
        return member(chain.from_iterable(run.compressed(joiner) for run in self.runs))


@dataclass
class Assembly:
    """One feed's pieces in feed order, with each zone's days and the newest change.

    ``version`` is the snapshot it shows; ``shown`` the latest ``last_modified`` of its
    sessions (a session that left may still count: it is only a floor for Last-Modified);
    ``expires`` the first instant a cancelled session in it drops out (or None).
    """

    title: str  # the calendar's name
    kind: str
    ident: str | None
    participant: str | None
    version: int
    shown: datetime
    expires: datetime | None
    pieces: list[Piece] = field(default_factory=list)
    orders: list[tuple[int, int, str, str]] = field(default_factory=list)
    by_key: dict[SessionKey, Piece] = field(default_factory=dict)
    firsts: dict[str, list[date]] = field(default_factory=dict)
    lasts: dict[str, list[date]] = field(default_factory=dict)
    looked_at: int = 0  # sessions examined by updates, all told
    # Whether each piece ends a chunk, kept beside them: runs are found without a pass
    # over the pieces themselves.
    cuts: list[bool] = field(default_factory=list)
    # The runs of the last version, and the positions (in feed order, after the update)
    # whose runs must be made again (None: all of them).
    runs: dict[RunKey, Run] = field(default_factory=dict)
    dirty: set[int] | None = None
    runs_made: int = 0  # runs made so far, all told (the rest were kept)

    @classmethod
    def of(cls, title: str, kind: str, ident: str | None, participant: str | None,
           version: int, shown: datetime, expires: datetime | None,
           pieces: list[Piece]) -> Assembly:
        """The assembly of a feed just built whole from ``pieces`` (in feed order)."""
        made = cls(title, kind, ident, participant, version, shown, expires, list(pieces))
        made.orders = [piece.order for piece in made.pieces]
        made.cuts = [piece.cut for piece in made.pieces]
        made.by_key = {(piece.order[2], piece.order[3]): piece for piece in made.pieces}
        for piece in made.pieces:
            if piece.zone is not None:
                made.firsts.setdefault(piece.zone, []).append(piece.first)
                made.lasts.setdefault(piece.zone, []).append(piece.last)
        for days in (*made.firsts.values(), *made.lasts.values()):
            days.sort()
        return made

    def update(self, builder: FeedBuilder, changed: Iterable[SessionKey], schedule: Schedule,
               version: int, now: datetime, retention: timedelta) -> Chunked:
        """The feed as of ``schedule`` (snapshot ``version``), given the keys of every
        session that changed since ``self.version``."""
        removed: list[tuple[int, int, str, str]] = []
        inserted: list[Piece] = []
        for key in changed:
            self.looked_at += 1
            old = self.by_key.pop(key, None)
            if old is not None:
                self._remove(old)
                removed.append(old.order)
            session = schedule.sessions.get(key)
            if session is None or not selected(session, self.kind, self.ident, now, retention):
                continue
            piece = builder.piece(session, schedule, self.participant)
            self._insert(key, piece)
            inserted.append(piece)
            if session.last_modified is not None and session.last_modified > self.shown:
                self.shown = session.last_modified
            until = dropped_at(session, retention)
            if until is not None and until > now and (self.expires is None or
                                                      until < self.expires):
                self.expires = until
        self.version = version
        if self.dirty is not None:
            # A run changed where a piece went in, and where one came out: at the position
            # of the piece that now follows it (or the last one).
            last = len(self.orders) - 1
            self.dirty.update(min(bisect_left(self.orders, order), last)
                              for order in removed)
            self.dirty.update(bisect_left(self.orders, piece.order) for piece in inserted)
        return self.chunked(builder)

    def chunked(self, builder: FeedBuilder) -> Chunked:
        """The feed as its runs: those the last changes touched made again, the others
        kept (all made after ``of``)."""
        spans = {zone: (days[0], self.lasts[zone][-1]) for zone, days in self.firsts.items()
                 if days}
        head, head_tags = builder.head(self.title, spans)
        count = len(self.pieces)
        dirty = None if self.dirty is None else sorted(self.dirty)
        kept, made = self.runs, {}
        runs: list[Run] = []
        start = at = 0
        # A run ends at each piece that ends a chunk; the last one (maybe without pieces)
        # ends with the footer.
        ends = [*compress(range(count), self.cuts), count - 1]
        for index, end in enumerate(ends):
            opens, closes = index == 0, index == len(ends) - 1
            key = (id(self.pieces[start]) if start <= end else 0,
                   id(self.pieces[end]) if start <= end else 0, opens, closes)
            if dirty is not None:
                while at < len(dirty) and dirty[at] < start:
                    at += 1
            run = None if dirty is None or (at < len(dirty) and dirty[at] <= end) \
                else kept.get(key)
            if run is not None and opens and run.head != tuple(head):
                run = None
            if run is None:
                run = self._run(head, head_tags, start, end, opens, closes)
            made[key] = run
            runs.append(run)
            start = end + 1
        self.runs, self.dirty = made, set()
        return Chunked(tuple(runs))

    def _run(self, head: list[bytes], head_tags: list[bytes], start: int, end: int,
             opens: bool, closes: bool) -> Run:
        """The run of pieces ``start`` to ``end`` (inclusive; none when ``end < start``),
        after the head when it ``opens`` the feed, before the footer when it ``closes``
        it."""
        self.runs_made += 1
        pieces = self.pieces[start:end + 1]
        prefix, prefix_tags = (head, head_tags) if opens else ([], [])
        cuts = cut_points(prefix, prefix_tags)
        cuts.extend(len(prefix) + i for i, piece in enumerate(pieces) if piece.cut)
        parts = [*prefix, *(piece.body for piece in pieces)]
        tags = [*prefix_tags, *(piece.tag for piece in pieces)]
        if closes:
            parts.append(FOOTER)
            tags.append(FOOTER_TAG)
        return Run(tuple(head) if opens else (), tuple(parts), cuts, b"".join(tags),
                   sum(map(len, parts)))

    def _remove(self, piece: Piece) -> None:
        at = bisect_left(self.orders, piece.order)
        while self.pieces[at] is not piece:  # orders are unique: this finds it at once
            at += 1
        del self.pieces[at], self.orders[at], self.cuts[at]
        if piece.zone is not None:
            for days, day in ((self.firsts[piece.zone], piece.first),
                              (self.lasts[piece.zone], piece.last)):
                del days[bisect_left(days, day)]

    def _insert(self, key: SessionKey, piece: Piece) -> None:
        at = bisect_left(self.orders, piece.order)
        self.orders.insert(at, piece.order)
        self.pieces.insert(at, piece)
        self.cuts.insert(at, piece.cut)
        self.by_key[key] = piece
        if piece.zone is not None:
            insort(self.firsts.setdefault(piece.zone, []), piece.first)
            insort(self.lasts.setdefault(piece.zone, []), piece.last)
