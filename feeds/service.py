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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from feeds.cache import FeedBuilder
from feeds.select import next_change, parse_name, select, title
from feeds.settings import FeedSettings
from feeds.versions import FeedVersions
from summitcal import metrics

if TYPE_CHECKING:
    from summitcal.runtime import Runtime

UTC = timezone.utc
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(slots=True)
class FeedResponse:
    """One feed's bytes and validators. ``last_modified`` is when these bytes were first
    built (``feeds.versions``): it never goes back and moves whenever the bytes change."""

    name: str
    body: bytes
    etag: str  # strong, quoted
    last_modified: datetime
    version: int
    expires: datetime | None
    _gzipped: bytes | None = field(default=None, repr=False)

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=6, mtime=0)
        return self._gzipped

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '-gzip"'


class FeedService:
    def __init__(self, runtime: Runtime, settings: FeedSettings,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.runtime = runtime
        self.settings = settings
        self.builder = FeedBuilder(settings)
        self.versions = FeedVersions(runtime.store.engine)
        self.clock = clock
        self._responses: dict[str, FeedResponse] = {}
        self._lock = threading.Lock()

    def get(self, name: str) -> FeedResponse:
        """The feed called ``name`` as of now; NotFound for an unknown feed."""
        kind, ident = parse_name(name)
        snapshot = self.runtime.snapshot()
        cached = self._responses.get(name)
        now = self.clock()
        if cached is not None and cached.version == snapshot.version and (
                cached.expires is None or now < cached.expires):
            return cached
        with self._lock:
            started = time.perf_counter()
            sessions = select(snapshot.schedule, kind, ident, now, self.settings.cancelled_retention)
            if kind == "sessions":
                body = self.builder.single(sessions[0], snapshot.schedule)
            else:
                body = self.builder.build(title(snapshot.schedule, kind, ident), sessions,
                                          snapshot.schedule,
                                          participant=ident if kind == "participants" else None)
            metrics.feed_built(kind, time.perf_counter() - started)
            digest = hashlib.sha256(body).hexdigest()[:32]
            shown = max((s.last_modified for s in sessions if s.last_modified), default=EPOCH)
            response = FeedResponse(name, body, f'"{digest}"',
                                    self.versions.modified(name, digest, now, shown),
                                    snapshot.version,
                                    next_change(sessions, now, self.settings.cancelled_retention))
            if len(self._responses) > 4096:
                self._responses.clear()
            self._responses[name] = response
            return response
