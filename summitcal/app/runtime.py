"""The running service's parts, wired once from the configuration: the store, the
current schedule (re-read when another process makes a revision) and the feeds."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from summitcal.app.config import Config
from summitcal.core.database import (
    alembic_config,
    at_head,
    current_revision,
    shown_url,
    usable_url,
)
from summitcal.core.errors import SummitcalError
from summitcal.summits.model import Attendance
from summitcal.summits.schedule_file import Loaded, load_files, load_text
from summitcal.summits.snapshot import Snapshot, Snapshots
from summitcal.summits.store import Result, Store

if TYPE_CHECKING:
    from summitcal.feeds.service import FeedService


class DatabaseUnavailable(SummitcalError):
    """The configured database cannot be reached or opened."""


class Runtime:
    """The wiring of one process: the configuration, the store, the current schedule
    (``snapshot``) and the feeds. Lower layers are handed the parts they need (the
    snapshot function, the engine, a typed config section), never this object."""

    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self.snapshots = Snapshots(store)
        self._lock = threading.Lock()
        self._feeds: FeedService | None = None

    @property
    def feeds(self) -> FeedService:
        """The feeds of this runtime, made on first use: a command that serves no feed
        (``load``, ``attendance``) does not import the iCalendar side at all."""
        if self._feeds is None:
            from summitcal.feeds.service import FeedService
            from summitcal.feeds.settings import FeedSettings

            with self._lock:
                if self._feeds is None:
                    self._feeds = FeedService(self.snapshots, FeedSettings(
                        base_url=self.config.service.base_url,
                        refresh_interval=self.config.feeds.refresh_interval,
                        cancelled_retention=self.config.feeds.cancelled_retention,
                    ))
        return self._feeds

    @classmethod
    def open(cls, config: Config) -> Runtime:
        """Open the store and migrate it; ``DatabaseUnavailable`` (one line) when it cannot
        be reached, opened or migrated."""
        url = config.database_url
        usable_url(url, config.database_url_key)  # names the URL's source if it is unusable
        try:
            store = Store(url)  # makes an SQLite file's folder
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot open the database {_safe_url(url)}: "
                                      f"{_reason(exc)}") from None
        try:
            problem = schema_problem(store)
            if problem:
                raise DatabaseUnavailable(problem)
            if not at_head(current_revision(store.engine)):
                _upgrade(store)
        except SummitcalError:
            store.close()
            raise
        except (SQLAlchemyError, OSError) as exc:
            store.close()
            raise DatabaseUnavailable(f"cannot open the database {_safe_url(url)}: "
                                      f"{_reason(exc)}") from None
        return cls(config, store)

    def close(self) -> None:
        self.store.close()

    def snapshot(self) -> Snapshot:
        """The current schedule (``summits.snapshot.Snapshots.current``)."""
        return self.snapshots.current()

    def load(self, paths: Sequence[str | Path], *, dry_run: bool = False,
             source: str = "load", loaded: Loaded | None = None) -> Result:
        """Apply the schedule files under ``paths``: what each changed since it was last
        applied (``Store.apply_files``). Files whose bytes are unchanged since are not
        parsed again, but still take part in the cross-file checks. A new session whose
        calendar UID a stored one has is a ``ScheduleError`` naming its file, like every
        other problem of a file. ``loaded``: those files already checked (``load_files``
        without ``applied``: a database made just now, which holds none of them)."""
        with collector_paused():
            # The files' parsed content is freed as soon as it is applied, before the
            # collector is back: its first pass then walks only what the load returns.
            if loaded is None:
                loaded = load_files(paths, applied=self.store.applied_files())
            return self.store.apply_files(loaded, source, dry_run=dry_run)

    def load_text(self, text: str, *, dry_run: bool = False, source: str = "api") -> Result:
        """Make the store look like one schedule document (the admin API's upload): a live
        edit, like ``set_attendance``, so it leaves the files' records alone."""
        return self.store.apply(load_text(text), source, dry_run=dry_run)

    def set_attendance(self, summit: str, session: str, item: Attendance, *,
                       source: str) -> Result:
        """Record one participant's attendance of one session: a live edit."""
        return self.store.set_attendance(summit, session, item, source)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off for the block, back as it was after.

    A load makes hundreds of thousands of small objects (parsed tables, sessions, rows)
    that live until it ends, and the collector's passes over them, which find no cycles,
    took a third of a cold load's time (measured at 10,000 sessions). Their memory is
    still freed by reference counting as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _upgrade(store: Store) -> None:
    """Migrate (Alembic is imported only for this); ``DatabaseUnavailable`` when it fails."""
    from alembic.util.exc import CommandError

    try:
        store.upgrade()
    except CommandError as exc:
        raise DatabaseUnavailable(f"cannot open the database {_safe_url(store.url)}: "
                                  f"{_reason(exc)}") from None


def schema_problem(store: Store) -> str | None:
    """Why this version cannot use the database's schema (migrated by a newer version), or
    None. ``DatabaseUnavailable`` when the database cannot be reached or read."""
    try:
        revision = current_revision(store.engine)
    except (SQLAlchemyError, OSError) as exc:
        raise DatabaseUnavailable(f"cannot open the database {_safe_url(store.url)}: "
                                  f"{_reason(exc)}") from None
    if revision is None or at_head(revision):
        return None
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    scripts = ScriptDirectory.from_config(alembic_config())
    try:
        scripts.get_revision(revision)
    except CommandError:
        return (f"the database {_safe_url(store.url)} is at schema revision {revision!r}, "
                f"which this version of summitcal does not know (its newest is "
                f"{scripts.get_current_head()!r}): was it migrated by a newer version?")
    return None


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong, without SQLAlchemy's statement and links."""
    if isinstance(exc, OSError) and exc.strerror:
        return f"{exc.strerror}: {exc.filename}" if exc.filename else exc.strerror
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _safe_url(url: str) -> str:
    return shown_url(url)
