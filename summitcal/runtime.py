"""The running service's parts, wired once from the configuration: the store, the
current schedule (re-read when another process makes a revision) and the feeds."""

from __future__ import annotations

import gc
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.exc import SQLAlchemyError

from summitcal.config import Config
from summitcal.errors import SummitcalError
from summitcal.summits.database import alembic_config, at_head, current_revision
from summitcal.summits.model import Attendance, Schedule
from summitcal.summits.schedule_file import load_files, load_text
from summitcal.summits.store import Store

if TYPE_CHECKING:
    from summitcal.feeds.service import FeedService


class DatabaseUnavailable(SummitcalError):
    """The configured database cannot be reached or opened."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The schedule as of one revision."""

    version: int
    schedule: Schedule


#: What one catch-up changed: (from version, to version, the keys of the sessions read
#: again, or None when a record table changed too).
Delta = tuple[int, int, frozenset[tuple[str, str]] | None]
DELTAS_KEPT = 256


class Runtime:
    def __init__(self, config: Config, store: Store) -> None:
        self.config = config
        self.store = store
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._feeds: FeedService | None = None
        self._deltas: deque[Delta] = deque(maxlen=DELTAS_KEPT)

    @property
    def feeds(self) -> FeedService:
        """The feeds of this runtime, made on first use: a command that serves no feed
        (``load``, ``attendance``) does not import the iCalendar side at all."""
        if self._feeds is None:
            from summitcal.feeds.service import FeedService
            from summitcal.feeds.settings import FeedSettings

            with self._lock:
                if self._feeds is None:
                    self._feeds = FeedService(self, FeedSettings(
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
        """The current schedule; one cheap query when nothing changed since last time.

        After a revision (made here or by another process) only the sessions it wrote
        are read again. Unchanged sessions, and record tables that did not change, stay
        the very same objects, which is what lets the feed cache recognise them at once.
        """
        version = self.store.version()
        current = self._snapshot
        if current is not None and current.version == version:
            return current
        with self._lock:
            current = self._snapshot
            if current is None:
                version, schedule, _ = self.store.schedule_since(-1)
                current = Snapshot(version, schedule)
            elif current.version != version:
                before = current
                version, delta, records = self.store.schedule_since(current.version)
                current = _caught_up(current, version, delta, records)
                same = all(getattr(before.schedule, name) is getattr(current.schedule, name)
                           for name in ("summits", "organizations", "participants"))
                self._deltas.append((before.version, current.version,
                                     frozenset(delta.sessions) if same else None))
            self._snapshot = current
            return current

    def changed_since(self, version: int, until: int) -> frozenset[tuple[str, str]] | None:
        """The keys of the sessions that may differ between the snapshots of ``version``
        and ``until`` (both made by ``snapshot``; every other session is the very same
        object in both), or None when that is not known: a record changed in between, or
        the catch-ups from one to the other are no longer all remembered."""
        if version == until:
            return frozenset()
        found: set[tuple[str, str]] = set()
        at = version
        for start, end, keys in list(self._deltas):
            if start != at:
                continue
            if keys is None:
                return None
            found |= keys
            at = end
            if at == until:
                return frozenset(found)
        return None

    def load(self, paths: Sequence[str | Path], *, dry_run: bool = False, source: str = "load"):
        """Apply the schedule files under ``paths``: what each changed since it was last
        applied (``Store.apply_files``). Files whose bytes are unchanged since are not
        parsed again, but still take part in the cross-file checks."""
        loaded = load_files(paths, applied=self.store.applied_files())
        return self.store.apply_files(loaded, source, dry_run=dry_run)

    def load_text(self, text: str, *, dry_run: bool = False, source: str = "api"):
        """Make the store look like one schedule document (the admin API's upload): a live
        edit, like ``set_attendance``, so it leaves the files' records alone."""
        return self.store.apply(load_text(text), source, dry_run=dry_run)

    def set_attendance(self, summit: str, session: str, item: Attendance, *, source: str):
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


def _caught_up(old: Snapshot, version: int, delta: Schedule, records: bool) -> Snapshot:
    """``old`` with the sessions written since (and the records, when they changed)."""
    before = old.schedule

    def same(new: dict, known: dict) -> dict:
        return new if records and new != known else known

    schedule = Schedule(
        summits=same(delta.summits, before.summits),
        organizations=same(delta.organizations, before.organizations),
        participants=same(delta.participants, before.participants),
        sessions={**before.sessions, **delta.sessions},
    )
    return Snapshot(version, schedule)


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
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL is shown as the user wrote it
        return url
