"""Feed responses: bytes, gzip, ETag and Last-Modified, cached per revision.

A feed is rebuilt (from per-session pieces, see ``feeds.cache``) only when the store's
revision changes — also when another process made it — or when a cancelled session's
retention runs out. A cached GET costs one version query and a dictionary look-up.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Engine

from summitcal.core import metrics
from summitcal.feeds.cache import FeedBuilder
from summitcal.feeds.gzipped import GzipJoiner
from summitcal.feeds.select import next_change, parse_name, select, title
from summitcal.feeds.settings import FeedSettings
from summitcal.feeds.versions import FeedVersions
from summitcal.summits.snapshot import SnapshotFunction

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class FeedResponse:
    """One feed as of one version: its bytes, validators and (on first use) gzip form.
    ``last_modified`` is when these bytes were first built (``feeds.versions``): it never
    goes back and moves whenever the bytes change."""

    name: str
    body: bytes
    etag: str  # strong, quoted
    last_modified: datetime
    version: int
    expires: datetime | None
    parts: Sequence[bytes] = field(default=(), repr=False)
    joiner: GzipJoiner | None = field(default=None, repr=False)
    _gzipped: bytes | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def gzipped(self) -> bytes:
        """The body gzipped (RFC 1952), made once however many requests ask at once; from
        the compressed chunks of unchanged parts when built with a ``joiner``."""
        if self._gzipped is None:
            with self._lock:
                if self._gzipped is None:
                    self._gzipped = (
                        self.joiner.gzip(self.parts, self.body)
                        if self.joiner is not None
                        else gzip.compress(self.body, compresslevel=6, mtime=0)
                    )
                    self.parts = ()
        return self._gzipped

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'


class FeedService:
    """Feed responses for one process: ``snapshot`` gives the current schedule
    (``summits.snapshot``), ``engine`` holds the ``feed_versions`` table."""

    def __init__(
        self,
        snapshot: SnapshotFunction,
        engine: Engine,
        settings: FeedSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.snapshot = snapshot
        self.settings = settings
        self.builder = FeedBuilder(settings)
        self.versions = FeedVersions(engine)
        self.joiner = GzipJoiner()
        self.clock = clock
        self._responses: dict[str, FeedResponse] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> FeedResponse:
        """The feed called ``name`` as of now; NotFound for an unknown feed. Requests that
        arrive together after a change share one build (the others wait for it)."""
        kind, ident = parse_name(name)
        snapshot = self.snapshot()
        cached = self._current(name, snapshot.version, self.clock())
        if cached is not None:
            return cached
        with self._lock:
            now = self.clock()
            cached = self._current(name, snapshot.version, now)
            if cached is not None:  # built while this request waited
                return cached
            started = time.perf_counter()
            sessions = select(
                snapshot.schedule, kind, ident, now, self.settings.cancelled_retention
            )
            if kind == "sessions":
                parts: tuple[bytes, ...] = (self.builder.single(sessions[0], snapshot.schedule),)
            else:
                parts = tuple(
                    self.builder.parts(
                        title(snapshot.schedule, kind, ident),
                        sessions,
                        snapshot.schedule,
                        participant=ident if kind == "participants" else None,
                    )
                )
            body = b"".join(parts)
            metrics.feed_built(kind, time.perf_counter() - started)
            digest = hashlib.sha256(body).hexdigest()[:32]
            shown = max((s.last_modified for s in sessions if s.last_modified), default=EPOCH)
            response = FeedResponse(
                name,
                body,
                f'"{digest}"',
                self.versions.modified(name, digest, now, shown),
                snapshot.version,
                next_change(sessions, now, self.settings.cancelled_retention),
                parts,
                self.joiner,
            )
            if len(self._responses) > 4096:
                self._responses.clear()
            self._responses[name] = response
            return response

    def _current(self, name: str, version: int, now: datetime) -> FeedResponse | None:
        cached = self._responses.get(name)
        if (
            cached is not None
            and cached.version >= version
            and (cached.expires is None or now < cached.expires)
        ):
            return cached
        return None
