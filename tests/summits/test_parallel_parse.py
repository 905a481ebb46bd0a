"""Parsing schedule files on two CPUs (``summits.parallel``) gives what parsing them here
gives, whoever parsed which file, also when the worker dies or a file changes under it.

The worker is a real process (``spawn``). To be sure it takes part, this process's own
parsing is slowed down (``_slow_here``): the worker then claims batches as it would under
a cold load of thousands of files.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import time
from pathlib import Path
from typing import Any

import pytest

from summitcal.core.errors import Problem
from summitcal.summits import parallel
from summitcal.summits.content import Stored
from summitcal.summits.parallel import Item, parse_all
from summitcal.summits.schedule_file import load_files, parse_file
from summitcal.summits.validate import Document
from tests.summits.broken_cases import BASE, CASES

ROOT = Path(__file__).resolve().parents[2]
PARENT = "SUMMITCAL_TEST_PARSING_PARENT"


Parsed = tuple[Document | Problem, Stored | None]


def _slow_here(text: str, name: str) -> Parsed:
    """``parse_file`` (what a load parses with), slower in the test's own process than in
    the worker."""
    if os.environ.get(PARENT) == str(os.getpid()):
        time.sleep(0.02)
    return parse_file(text, name)


def _dies_in_the_worker(text: str, name: str) -> Parsed:
    """``parse_file`` here; in the worker, the process ends at once."""
    if os.environ.get(PARENT) != str(os.getpid()):
        os._exit(3)
    return _slow_here(text, name)


_parsed_in_this_process = 0


def _dies_in_the_worker_later(text: str, name: str) -> Parsed:
    """``_slow_here``; in the worker, the process ends at its sixth file, after it sent
    the results of the batches before."""
    global _parsed_in_this_process
    if os.environ.get(PARENT) != str(os.getpid()):
        _parsed_in_this_process += 1
        if _parsed_in_this_process == 6:
            time.sleep(0.5)  # the sending thread has long sent the five batches before
            os._exit(3)
    return _slow_here(text, name)


def _texts() -> list[tuple[str, str]]:
    """Schedule texts of every kind: the real schedules, the examples (one broken), the
    base case and every broken case that is text, and one that is not TOML."""
    found = [(p.read_text(encoding="utf-8"), p.name)
             for p in [*sorted((ROOT / "schedules").glob("*.toml")),
                       *sorted((ROOT / "examples").glob("*.toml"))]]
    found.append((BASE, "base.toml"))
    for case in CASES:
        try:
            found.append((case.text().decode("utf-8"), f"{case.name}.toml"))
        except UnicodeDecodeError:
            continue
    found.append(("[summit\nid = ", "not-toml.toml"))
    return found


def _items(folder: Path, texts: list[tuple[str, str]]) -> list[Item]:
    items = []
    for n, (text, name) in enumerate(texts):
        path = folder / f"{n:03d}-{name}"
        path.write_bytes(text.encode("utf-8"))
        items.append(Item(text, str(path), str(path),
                          hashlib.sha256(text.encode("utf-8")).hexdigest()))
    return items


def _shape(parsed: Parsed) -> Any:
    """Everything a load reads from a parsed file, its stored form included."""
    result, kept = parsed
    if isinstance(result, Problem):
        return result, kept
    return (result.file, result.problems, result.summit, result.organizations,
            result.participants, result.sessions, result.session_ids, result.referenced,
            result.references, kept)


@pytest.fixture
def parent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PARENT, str(os.getpid()))
    monkeypatch.setattr(parallel, "BATCH_BYTES", 1)  # one file per batch


def test_two_processes_parse_what_one_parses(tmp_path: Path, parent: None) -> None:
    items = _items(tmp_path, _texts()) * 3
    here = [parse_file(item.text, item.name) for item in items]
    before = parallel.stats.worker_batches
    both = parse_all(_slow_here, items, min_bytes=0)
    assert parallel.stats.worker_batches > before, "the worker parsed nothing"
    assert [_shape(r) for r in both] == [_shape(r) for r in here]
    assert sum(isinstance(r, Problem) or bool(r.problems) for r, _ in both) > 10
    assert sum(kept is not None for _, kept in both) > 10


def test_a_file_changed_after_it_was_read_is_parsed_as_it_was_read(
        tmp_path: Path, parent: None) -> None:
    items = _items(tmp_path, _texts())
    first = items[0]
    Path(first.path).write_text(first.text.replace('name = "', 'name = "Renamed '),
                                encoding="utf-8")
    results = parse_all(_slow_here, items, min_bytes=0)
    assert _shape(results[0]) == _shape(parse_file(first.text, first.name))
    assert "Renamed" not in repr(_shape(results[0]))


def test_a_worker_that_dies_loses_no_file(tmp_path: Path, parent: None) -> None:
    items = _items(tmp_path, _texts())
    started = time.monotonic()
    results = parse_all(_dies_in_the_worker, items, min_bytes=0)
    assert [_shape(r) for r in results] == [_shape(parse_file(i.text, i.name)) for i in items]
    assert time.monotonic() - started < 60


def test_a_worker_that_dies_after_sending_some_batches_loses_no_file(
        tmp_path: Path, parent: None) -> None:
    items = _items(tmp_path, _texts())
    before = parallel.stats.worker_batches
    results = parse_all(_dies_in_the_worker_later, items, min_bytes=0)
    assert [_shape(r) for r in results] == [_shape(parse_file(i.text, i.name)) for i in items]
    assert parallel.stats.worker_batches - before == 5


def test_small_loads_stay_in_one_process(tmp_path: Path, parent: None) -> None:
    items = _items(tmp_path, _texts())
    before = (parallel.stats.worker_batches, parallel.stats.local_batches)
    assert len(parse_all(_slow_here, items)) == len(items)  # far below MIN_BYTES
    assert (parallel.stats.worker_batches, parallel.stats.local_batches) == before


def test_the_model_pickles_back_to_equal_objects() -> None:
    loaded = load_files([ROOT / "schedules"])
    sessions = list(loaded.schedule.sessions.values())
    back = pickle.loads(parallel.dumps(sessions))
    assert back == sessions
    assert [s.start.fold if s.start else None for s in back] == \
        [s.start.fold if s.start else None for s in sessions]
    assert [type(s.status) for s in back] == [type(s.status) for s in sessions]
