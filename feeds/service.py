"""Feed responses: bytes, gzip, ETag and Last-Modified, cached per revision.

A feed is rebuilt (from per-session pieces, see ``feeds.cache``) only when the store's
revision changes — also when another process made it — or when a cancelled session's
retention runs out. A cached GET costs a version check (``Store.version``) and a dictionary look-up.
"""

from __future__ import annotations

import gzip
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from summitcal.core import metrics
from summitcal.feeds.assembly import Assembly, Chunked
from summitcal.feeds.cache import Assembled, FeedBuilder
from summitcal.feeds.gzipped import GzipJoiner, part_tag
from summitcal.feeds.select import next_change, parse_name, select, title
from summitcal.feeds.settings import FeedSettings
from summitcal.feeds.versions import FeedVersions
from summitcal.summits.snapshot import Snapshot, Snapshots

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MAX_ASSEMBLIES = 256  # feeds kept assembled for updates (the least recently built go)


class FeedResponse:
    """One feed as of one version: its bytes, validators and (on first use) gzip form.
    ``last_modified`` is when these bytes were first built (``feeds.versions``): it never
    goes back and moves whenever the bytes change.

    Built from ``parts`` (``body=None``), the body is joined only when first asked for:
    a client that takes gzip is served from the compressed chunks, and the response
    holds no second copy of the feed's bytes.
    """

    __slots__ = ("name", "_body", "etag", "last_modified", "version", "expires", "_parts",
                 "joiner", "_cuts", "chunked", "length", "_gzipped", "_lock", "headers")

    def __init__(self, name: str, body: bytes | None, etag: str, last_modified: datetime,
                 version: int, expires: datetime | None, parts: Sequence[bytes] = (),
                 joiner: GzipJoiner | None = None, cuts: Sequence[int] | None = None,
                 length: int | None = None, chunked: Chunked | None = None) -> None:
        self.name = name
        self._body = body
        self.etag = etag  # strong, quoted
        self.last_modified = last_modified
        self.version = version
        self.expires = expires
        self._parts = parts
        self.joiner = joiner
        self._cuts = cuts
        self.chunked = chunked  # the feed as runs of parts (``feeds.assembly``), if so
        self.length = len(body) if body is not None else (  # bytes
            length if length is not None else chunked.length if chunked is not None
            else sum(map(len, parts)))
        self._gzipped: bytes | None = None
        self._lock = threading.Lock()
        self.headers: dict[object, object] = {}  # for the HTTP layer's prepared headers

    @property
    def parts(self) -> Sequence[bytes]:
        """The feed's parts in order (header, VTIMEZONEs, VEVENTs, footer)."""
        return self.chunked.parts() if self.chunked is not None else self._parts

    @property
    def cuts(self) -> Sequence[int] | None:
        """``gzipped.cut_points`` of ``parts``, when known."""
        return self.chunked.cuts() if self.chunked is not None else self._cuts

    @property
    def body(self) -> bytes:
        """The feed's bytes (joined from its parts once, on first use)."""
        if self._body is None:
            with self._lock:
                if self._body is None:
                    self._body = b"".join(self.parts)
        return self._body

    @property
    def gzipped(self) -> bytes:
        """The body gzipped (RFC 1952), made once however many requests ask at once; from
        the compressed chunks of unchanged parts when built with a ``joiner`` (and from
        the runs an update kept, when ``chunked``)."""
        if self._gzipped is None:
            with self._lock:
                if self._gzipped is None:
                    if self.joiner is None:
                        self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
                    elif self.chunked is not None:
                        self._gzipped = self.chunked.gzip(self.joiner)
                    else:
                        self._gzipped = self.joiner.gzip(self._parts, self._cuts)
        return self._gzipped

    def adopt_gzip(self, gzipped: bytes) -> None:
        """Take ``gzipped`` as the gzip form (made earlier from the same parts)."""
        self._gzipped = gzipped

    def made(self, compress: bool) -> bool:
        """Whether the bytes to send (gzipped or plain) are made already."""
        return (self._gzipped if compress else self._body) is not None

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'


class FeedService:
    """Feed responses for one process. ``snapshots`` (``summits.snapshot.Snapshots``)
    gives the current schedule, says which sessions changed between two of its
    snapshots, and holds the store (its version and the ``feed_versions`` table)."""

    def __init__(self, snapshots: Snapshots, settings: FeedSettings,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.snapshots = snapshots
        self.settings = settings
        self.builder = FeedBuilder(settings)
        self.versions = FeedVersions(snapshots.store.engine)
        self.joiner = GzipJoiner()
        self.clock = clock
        self._responses: dict[str, FeedResponse] = {}
        self._lock = threading.Lock()
        #: Feeds built, by name: one per feed version however many requests ask at once.
        self.builds: Counter[str] = Counter()
        self._assemblies: dict[str, Assembly] = {}  # oldest first

    def get(self, name: str) -> FeedResponse:
        """The feed called ``name`` as of now; NotFound for an unknown feed. Requests that
        arrive together after a change share one build (the others wait for it)."""
        kind, ident = parse_name(name)
        cached = self.cached(name)  # before the snapshot, which may be catching up
        if cached is not None:
            return cached
        snapshot = self.snapshots.current()
        with self._lock:
            now = self.clock()
            cached = self._current(name, snapshot.version, now)
            if cached is not None:  # built while this request waited
                return cached
            started = time.perf_counter()
            retention = self.settings.cancelled_retention
            if kind == "sessions":
                sessions = select(snapshot.schedule, kind, ident, now, retention)
                single = self.builder.single(sessions[0], snapshot.schedule)
                assembled = Assembled([single], [part_tag(single)], [])
                shown = sessions[0].last_modified or EPOCH
                expires = next_change(sessions, now, retention)
                chunked = None
            else:
                chunked, assembly = self._assembled(name, kind, ident, snapshot, now)
                shown, expires = assembly.shown, assembly.expires
            digest = (chunked or assembled).digest[:32]
            self.builds[name] += 1
            metrics.feed_built(kind, time.perf_counter() - started)
            modified = self.versions.modified(name, digest, now, shown)
            if chunked is not None:
                response = FeedResponse(name, None, f'"{digest}"', modified, snapshot.version,
                                        expires, joiner=self.joiner, chunked=chunked)
            else:
                response = FeedResponse(name, None, f'"{digest}"', modified, snapshot.version,
                                        expires, tuple(assembled.parts), self.joiner,
                                        assembled.cuts, assembled.length)
            if len(self._responses) > 4096:
                self._responses.clear()
            self._responses[name] = response
            return response

    def _assembled(self, name: str, kind: str, ident: str | None, snapshot: Snapshot,
                   now: datetime) -> tuple[Chunked, Assembly]:
        """The feed's parts as of ``snapshot``: its kept assembly updated by the sessions
        that changed since (``feeds.assembly``), or built whole when that is not known,
        or a cancelled session in it has dropped out since."""
        retention = self.settings.cancelled_retention
        kept = self._assemblies.get(name)
        if kept is not None and (kept.expires is None or now < kept.expires):
            changed = self.snapshots.changed_since(kept.version, snapshot.version)
            if changed is not None:
                return kept.update(self.builder, changed, snapshot.schedule, snapshot.version,
                                   now, retention), kept
        sessions = select(snapshot.schedule, kind, ident, now, retention)
        participant = ident if kind == "participants" else None
        pieces = self.builder.pieces(sessions, snapshot.schedule, participant)
        shown = max((s.last_modified for s in sessions if s.last_modified), default=EPOCH)
        kept = Assembly.of(title(snapshot.schedule, kind, ident), kind, ident, participant,
                           snapshot.version, shown, next_change(sessions, now, retention),
                           pieces)
        self._assemblies.pop(name, None)
        if len(self._assemblies) >= MAX_ASSEMBLIES:
            self._assemblies.pop(next(iter(self._assemblies)))
        self._assemblies[name] = kept
        return kept.chunked(self.builder), kept

    def assembly(self, name: str) -> Assembly | None:
        """The feed's kept assembly (``feeds.assembly``), if it has one."""
        return self._assemblies.get(name)

    def responses(self) -> list[FeedResponse]:
        """The feeds built so far (``all`` first), for ``feeds.kept``."""
        found = list(self._responses.values())
        return sorted(found, key=lambda r: r.name != "all")

    def adopt(self, response: FeedResponse) -> None:
        """Serve ``response`` (kept from before a restart) while its version is current."""
        self._responses[response.name] = response

    def warm(self) -> None:
        """Make ``all`` and its gzip form, and check every piece against the current
        schedule, so that neither the first request nor the first change after a start
        pays for it (run in the background while serving starts)."""
        _ = self.get("all").gzipped  # made now, ready for the first request
        snapshot = self.snapshots.current()
        with self._lock:
            if "all" not in self._assemblies:  # restored rather than built: assemble it
                self._assembled("all", "all", None, snapshot, self.clock())

    def cached(self, name: str, now: datetime | None = None) -> FeedResponse | None:
        """The feed called ``name`` when a response for the current version is at hand
        (a version check and a dictionary look-up, never a build), else None; ``now``
        is the clock's time when the caller has it."""
        return self._current(name, self.snapshots.store.version(), now or self.clock())

    def _current(self, name: str, version: int, now: datetime) -> FeedResponse | None:
        cached = self._responses.get(name)
        if (
            cached is not None
            and cached.version >= version
            and (cached.expires is None or now < cached.expires)
        ):
            return cached
        return None
