"""The schedule as of one revision, and a reader that keeps it current cheaply.

Layers that need the current schedule (feeds, the notification engine, pages) take a
*snapshot function*, ``() -> Snapshot`` (``Snapshots.current``), never the store itself
or the running service.
"""

from __future__ import annotations

import threading
from collections import deque
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

#: What one catch-up changed: (from version, to version, the keys of the sessions read
#: again, or None when a record table changed too).
Delta = tuple[int, int, frozenset[tuple[str, str]] | None]
DELTAS_KEPT = 256


class Snapshots:
    """The current schedule of ``store``; one cheap query when nothing changed since the
    last call. Thread-safe."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._deltas: deque[Delta] = deque(maxlen=DELTAS_KEPT)

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
        and ``until`` (both made by ``current``; every other session is the very same
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
