"""Several writers at once, in threads and in separate processes: nothing is corrupted,
no revision is lost or made twice."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

from summitcal.summits.model import Attendance, Schedule
from summitcal.summits.store import Store

MODES = ("video", "in_person")
ROUNDS = 5


def _apply(url: str, schedule: Schedule) -> int | None:
    with Store(url) as store:
        store.upgrade()  # every process migrates at start-up, at the same time
        return store.apply(schedule, "process").revision


def _toggle(url: str, session: str, participant: str) -> list[int | None]:
    with Store(url) as store:
        return [
            store.set_attendance(
                "dushanbe-2021", session, Attendance(participant, MODES[i % 2]), f"{session} {i}"
            ).revision
            for i in range(ROUNDS)
        ]


def _pool(processes: int) -> multiprocessing.pool.Pool:
    # spawn: a fresh interpreter, nothing inherited from this one (no shared connections).
    return multiprocessing.get_context("spawn").Pool(processes)


def test_processes_applying_the_same_files_make_exactly_one_revision(database_url, dushanbe):
    with _pool(4) as pool:
        revisions = pool.starmap(_apply, [(database_url, dushanbe)] * 4)
    assert sorted(revisions, key=str) == [1, None, None, None]
    with Store(database_url) as store:
        assert store.version() == 1
        assert len(store.revisions()) == 1
        assert {s.sequence for s in store.schedule().sessions.values()} == {0}


def test_processes_editing_different_sessions_lose_nothing(store, dushanbe):
    store.apply(dushanbe, "load")
    jobs = [(store.url, "csto-council", "rahmon"), (store.url, "sco-council", "putin")]
    with _pool(2) as pool:
        results = pool.starmap(_toggle, jobs)
    made = sorted(r for rs in results for r in rs)
    assert made == list(range(2, 2 + 2 * ROUNDS))  # every edit its own revision, no gaps
    assert store.version() == 1 + 2 * ROUNDS
    for session, participant in (("csto-council", "rahmon"), ("sco-council", "putin")):
        stored = store.session("dushanbe-2021", session)
        assert stored.sequence == ROUNDS
        assert stored.attendance_of(participant).mode == MODES[(ROUNDS - 1) % 2]
    for _revision, changes in store.revisions(limit=100)[:-1]:
        assert [c.kind for c in changes] == ["attendance_changed"]


def test_threads_sharing_one_store(store, dushanbe, edit):
    store.apply(dushanbe, "load")
    venues = [edit(dushanbe, "arrivals", venue=f"Gate {i}") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda s: store.apply(s, "thread"), venues))
    assert sorted(r.revision for r in results) == list(range(2, 10))
    arrivals = store.session("dushanbe-2021", "arrivals")
    assert arrivals.sequence == 8
    last = max(results, key=lambda r: r.revision)
    assert arrivals.venue == last.changes[0].new
