"""The schedule as of one revision, and a reader that keeps it current cheaply.

Layers that need the current schedule (feeds, the notification engine, pages) take a
*snapshot function*, ``() -> Snapshot`` (``Snapshots.current``), never the store itself
or the running service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from summitcal.summits.model import Schedule
from summitcal.summits.store import Store


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The schedule as of one revision (``version``: the store's revision number)."""

    version: int
    schedule: Schedule


#: What lower layers are handed to read the current schedule.
SnapshotFunction = Callable[[], Snapshot]


class Snapshots:
    """The current schedule of ``store``; one cheap query when nothing changed since the
    last call. Thread-safe."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    def current(self) -> Snapshot:
        """After a revision (made here or by another process) only the sessions it wrote
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
                current = _caught_up(current, *self.store.schedule_since(current.version))
            self._snapshot = current
            return current


def _caught_up(old: Snapshot, version: int, delta: Schedule, records: bool) -> Snapshot:
    """``old`` with the sessions written since (and the records, when they changed)."""
    before = old.schedule

    def same(new: dict[Any, Any], known: dict[Any, Any]) -> dict[Any, Any]:
        return new if records and new != known else known

    schedule = Schedule(
        summits=same(delta.summits, before.summits),
        organizations=same(delta.organizations, before.organizations),
        participants=same(delta.participants, before.participants),
        sessions={**before.sessions, **delta.sessions},
    )
    return Snapshot(version, schedule)
