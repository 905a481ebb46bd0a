"""A feed kept assembled between versions, updated by the sessions that changed.

After a change, building a feed from all its sessions costs a pass over every session
(look up its piece, sort, find each zone's span, the newest change): 100 ms and more at
50,000 sessions, where the change itself touched one. An ``Assembly`` keeps a feed's
pieces in feed order with what they add up to, and ``update`` takes out the pieces of the
sessions that changed and puts in their new ones (``bisect``), so the cost is that of the
change plus making the lists of parts (C speed).

It is only as right as the set of changed sessions it is given
(``Runtime.changed_since``: every other session must be the very object it was, and no
record table may have changed) and the clock: a cancelled session drops out of a feed
when its retention ends, so the assembly is not used past ``expires`` (``FeedService``
builds the feed whole then, and also on any doubt).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from itertools import compress

from summitcal.feeds.cache import FOOTER_TAG, Assembled, FeedBuilder, Piece
from summitcal.feeds.calendar import FOOTER
from summitcal.feeds.gzipped import cut_points
from summitcal.feeds.select import dropped_at, selected
from summitcal.summits.model import Schedule

SessionKey = tuple[str, str]


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
    # The pieces' bodies, tags and chunk ends, kept beside them, and their total size:
    # an update then joins lists rather than making them again.
    bodies: list[bytes] = field(default_factory=list)
    tags: list[bytes] = field(default_factory=list)
    cuts: list[bool] = field(default_factory=list)
    size: int = 0

    @classmethod
    def of(cls, title: str, kind: str, ident: str | None, participant: str | None,
           version: int, shown: datetime, expires: datetime | None,
           pieces: list[Piece]) -> Assembly:
        """The assembly of a feed just built whole from ``pieces`` (in feed order)."""
        made = cls(title, kind, ident, participant, version, shown, expires, list(pieces))
        made.orders = [piece.order for piece in made.pieces]
        made.bodies = [piece.body for piece in made.pieces]
        made.tags = [piece.tag for piece in made.pieces]
        made.cuts = [piece.cut for piece in made.pieces]
        made.size = sum(map(len, made.bodies))
        made.by_key = {(piece.order[2], piece.order[3]): piece for piece in made.pieces}
        for piece in made.pieces:
            if piece.zone is not None:
                made.firsts.setdefault(piece.zone, []).append(piece.first)
                made.lasts.setdefault(piece.zone, []).append(piece.last)
        for days in (*made.firsts.values(), *made.lasts.values()):
            days.sort()
        return made

    def update(self, builder: FeedBuilder, changed: Iterable[SessionKey], schedule: Schedule,
               version: int, now: datetime, retention: timedelta) -> Assembled:
        """The feed as of ``schedule`` (snapshot ``version``), given the keys of every
        session that changed since ``self.version``."""
        for key in changed:
            self.looked_at += 1
            old = self.by_key.pop(key, None)
            if old is not None:
                self._remove(old)
            session = schedule.sessions.get(key)
            if session is None or not selected(session, self.kind, self.ident, now, retention):
                continue
            piece = builder.piece(session, schedule, self.participant)
            self._insert(key, piece)
            if session.last_modified is not None and session.last_modified > self.shown:
                self.shown = session.last_modified
            until = dropped_at(session, retention)
            if until is not None and until > now and (self.expires is None or
                                                      until < self.expires):
                self.expires = until
        self.version = version
        spans = {zone: (days[0], self.lasts[zone][-1]) for zone, days in self.firsts.items()
                 if days}
        parts, tags = builder.head(self.title, spans)
        offset = len(parts)
        cuts = cut_points(parts, tags)
        cuts.extend(compress(range(offset, offset + len(self.cuts)), self.cuts))
        size = sum(map(len, parts)) + self.size + len(FOOTER)
        return Assembled([*parts, *self.bodies, FOOTER], [*tags, *self.tags, FOOTER_TAG],
                         cuts, size)

    def _remove(self, piece: Piece) -> None:
        at = bisect_left(self.orders, piece.order)
        while self.pieces[at] is not piece:  # orders are unique: this finds it at once
            at += 1
        del self.pieces[at], self.orders[at], self.bodies[at], self.tags[at], self.cuts[at]
        self.size -= len(piece.body)
        if piece.zone is not None:
            for days, day in ((self.firsts[piece.zone], piece.first),
                              (self.lasts[piece.zone], piece.last)):
                del days[bisect_left(days, day)]

    def _insert(self, key: SessionKey, piece: Piece) -> None:
        at = bisect_left(self.orders, piece.order)
        self.orders.insert(at, piece.order)
        self.pieces.insert(at, piece)
        self.bodies.insert(at, piece.body)
        self.tags.insert(at, piece.tag)
        self.cuts.insert(at, piece.cut)
        self.size += len(piece.body)
        self.by_key[key] = piece
        if piece.zone is not None:
            insort(self.firsts.setdefault(piece.zone, []), piece.first)
            insort(self.lasts.setdefault(piece.zone, []), piece.last)
