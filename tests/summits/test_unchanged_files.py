"""A reload parses only the files whose bytes changed since they were last applied
(regression: every load parsed and validated every file, 4.7 s at 10,000 sessions for a
one-line change), yet the unchanged files still take part in the cross-file checks, and
every problem is reported as a full parse reports it, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import tomli_w

from summitcal.core.errors import ScheduleError
from summitcal.summits.schedule_file import load_files
from summitcal.summits.store import Store


def document(summit: str, declares: dict[str, str], names: list[str],
             title: str = "Opening") -> dict[str, Any]:
    """A summit file declaring participants ``declares`` (id → name), with one session
    attended by ``names``."""
    return {
        "summit": {"id": summit, "name": f"Summit {summit}", "city": "Madrid",
                   "country": "Spain", "timezone": "Europe/Madrid"},
        "participants": [{"id": p, "name": n} for p, n in declares.items()],
        "sessions": [{"id": "opening", "title": title, "start": _at(9), "end": _at(10),
                      "attendance": [{"participant": p, "mode": "in_person"} for p in names]}],
    }


def _at(hour: int) -> Any:
    from datetime import datetime

    return datetime(2025, 5, 5, hour)


def write(folder: Path, name: str, data: dict[str, Any]) -> None:
    (folder / f"{name}.toml").write_text(tomli_w.dumps(data), encoding="utf-8")


@pytest.fixture
def folder(tmp_path: Path, store: Store) -> Path:
    """Three files applied once: ``a`` declares participant ``x``, ``b`` and ``c`` name it."""
    target = tmp_path / "schedules"
    target.mkdir()
    write(target, "a", document("a", {"x": "Xavier"}, ["x"]))
    write(target, "b", document("b", {}, ["x"]))
    write(target, "c", document("c", {"y": "Yolanda"}, ["x", "y"]))
    store.apply_files(load_files([target]), "first")
    return target


def reload(store: Store, folder: Path):
    loaded = load_files([folder], applied=store.applied_files())
    return loaded, store.apply_files(loaded, "reload")


def test_reload_parses_only_the_changed_file(store: Store, folder: Path) -> None:
    write(folder, "b", document("b", {}, ["x"], title="Opening plenary"))
    loaded, result = reload(store, folder)
    assert [f.summit for f in loaded.files] == ["b"]
    assert sorted(loaded.unchanged) == ["a", "c"]
    assert [(c.summit, c.field, c.new) for c in result.changes] == [
        ("b", "title", "Opening plenary")]
    assert store.session("b", "opening").title == "Opening plenary"
    loaded, result = reload(store, folder)
    assert loaded.files == () and result.changes == ()


def test_unchanged_file_naming_a_record_no_longer_declared_is_reported(
        store: Store, folder: Path) -> None:
    write(folder, "a", document("a", {}, []))  # x is declared nowhere now
    with pytest.raises(ScheduleError) as fast:
        reload(store, folder)
    with pytest.raises(ScheduleError) as full:
        load_files([folder])
    assert fast.value.problems == full.value.problems
    assert {(Path(p.file).name, p.path) for p in fast.value.problems} == {
        ("b.toml", "sessions[0].attendance[0].participant"),
        ("c.toml", "sessions[0].attendance[0].participant")}
    assert store.session("a", "opening").attendance  # nothing applied


def test_changed_file_redeclaring_a_record_differently_is_reported(
        store: Store, folder: Path) -> None:
    write(folder, "b", document("b", {"y": "Yolanda Z."}, ["x", "y"]))
    with pytest.raises(ScheduleError) as fast:
        reload(store, folder)
    with pytest.raises(ScheduleError) as full:
        load_files([folder])
    assert fast.value.problems == full.value.problems
    assert any("differs from its declaration" in p.message for p in fast.value.problems)


def test_file_moved_with_the_same_bytes_is_parsed(store: Store, folder: Path,
                                                  tmp_path: Path) -> None:
    moved = tmp_path / "moved"
    folder.rename(moved)
    loaded, result = reload(store, moved)
    assert sorted(f.summit for f in loaded.files) == ["a", "b", "c"]
    assert result.changes == ()
