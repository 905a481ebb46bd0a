"""Loading costs work linear in the schedule (regression: ``revise()`` checked every change
against every session, and the three-way merge scanned every stored session once per
changed file, so a cold load of 50,000 sessions took minutes).

Not a timing test: the work is counted. Lines executed in the ``summits`` package (a
trace function, deterministic for the same input) and SQL statements sent (a SQLAlchemy
event listener) are measured for N and 4N sessions; linear work grows about 4×, the
all-pairs loops grew 16×.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import sqlalchemy as sa
import tomli_w

from summitcal import summits
from summitcal.summits.schedule_file import load_files
from summitcal.summits.store import Store

PER_SUMMIT = 25
SMALL, LARGE = 100, 400
MAX_RATIO = 4.5  # 4× the sessions; fixed costs only bring the ratio down
PACKAGE = str(Path(summits.__file__).parent)


def _document(summit: int, sessions: int, renamed: bool = False,
              retitled: bool = False) -> dict[str, Any]:
    """One summit's file: sessions naming two of ten organisations and three of thirty
    participants (shared by every file), one participant renamed when ``renamed``,
    every title changed when ``retitled``."""
    first = date(2025, 3, 3) + timedelta(days=7 * summit)
    people = [{"id": f"p{i}", "name": f"Person {i}" + (" Jr" if renamed and i == 0 else ""),
               "role": "Minister"} for i in range(30)]
    return {
        "summit": {"id": f"s{summit}", "name": f"Summit {summit}", "city": "Madrid",
                   "country": "Spain", "timezone": "Europe/Madrid"},
        "organizations": [{"id": f"o{i}", "name": f"Organisation {i}"} for i in range(10)],
        "participants": people,
        "sessions": [{
            "id": f"x{n}", "title": f"Meeting {n}" + (" (moved)" if retitled else ""),
            "organizations": [f"o{n % 10}", f"o{(n + 3) % 10}"],
            "start": datetime.combine(first + timedelta(days=n % 4), datetime.min.time())
            .replace(hour=9 + n % 8),
            "end": datetime.combine(first + timedelta(days=n % 4), datetime.min.time())
            .replace(hour=10 + n % 8),
            "attendance": [{"participant": f"p{(n + k) % 30}", "mode": "in_person"}
                           for k in range(3)],
        } for n in range(sessions)],
    }


def _write(folder: Path, total: int, **changes: bool) -> None:
    folder.mkdir(exist_ok=True)
    for summit in range(total // PER_SUMMIT):
        (folder / f"s{summit}.toml").write_text(
            tomli_w.dumps(_document(summit, PER_SUMMIT, **changes)), encoding="utf-8")


@contextmanager
def _counting(engine: sa.Engine) -> Iterator[dict[str, int]]:
    """Counts lines executed in the summits package and statements sent to ``engine``."""
    counts = {"lines": 0, "statements": 0}

    def local(frame: FrameType, event: str, arg: Any) -> Callable[..., Any]:
        if event == "line":
            counts["lines"] += 1
        return local

    def trace(frame: FrameType, event: str, arg: Any) -> Callable[..., Any] | None:
        return local if frame.f_code.co_filename.startswith(PACKAGE) else None

    def statement(*_: Any) -> None:
        counts["statements"] += 1

    sa.event.listen(engine, "before_cursor_execute", statement)
    previous = sys.gettrace()
    sys.settrace(trace)
    try:
        yield counts
    finally:
        sys.settrace(previous)
        sa.event.remove(engine, "before_cursor_execute", statement)


def _work(url: str, folder: Path, total: int) -> dict[str, dict[str, int]]:
    """Counted work of a cold load, a reload with one participant renamed in every file
    (every session showing them is bumped) and a reload with every title changed."""
    work = {}
    with Store(url) as store:
        store.upgrade()
        for step, changes in (("cold", {}), ("renamed", {"renamed": True}),
                              ("retitled", {"renamed": True, "retitled": True})):
            _write(folder, total, **changes)
            with _counting(store.engine) as counts:
                result = store.apply_files(load_files([folder]), source="test")
            assert result.changes, step
            work[step] = counts
        assert len(store.schedule().sessions) == total
    return work


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def two_urls(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    if request.param == "sqlite":
        return (f"sqlite:///{tmp_path / 'small.sqlite3'}",
                f"sqlite:///{tmp_path / 'large.sqlite3'}")
    return request.getfixturevalue("postgres_url"), request.getfixturevalue("postgres_url")


def test_load_work_is_linear_not_all_pairs(two_urls: tuple[str, str], tmp_path: Path) -> None:
    small_url, large_url = two_urls
    small = _work(small_url, tmp_path / "small", SMALL)
    if small_url == large_url:  # PostgreSQL: one schema per test; start it empty again
        with Store(small_url) as store, store.engine.begin() as connection:
            _drop_all(connection)
    large = _work(large_url, tmp_path / "large", LARGE)
    for step, counts in small.items():
        for kind, count in counts.items():
            ratio = large[step][kind] / count
            assert ratio <= MAX_RATIO, (step, kind, count, large[step][kind], ratio)


def _drop_all(connection: sa.Connection) -> None:
    """Drop every table of the schema (the next ``Store.upgrade`` makes them again)."""
    metadata = sa.MetaData()
    metadata.reflect(connection)
    metadata.drop_all(connection)
