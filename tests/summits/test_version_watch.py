"""``Store.version`` on SQLite in WAL mode asks the database only when the wal-index header
has changed (``core.wal``), and still sees every commit, from any connection or process,
at once: counted statements, not timings."""

from __future__ import annotations

import os
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from summitcal.core.wal import BOTH_COPIES, HEADER_BYTES, WAL_INDEX_VERSION, WalWatch
from summitcal.summits.store import Store

INSERT = ("INSERT INTO revisions (created_at, source, summary) "
          "VALUES ('2026-12-01 00:00:00.000000', 'other', '')")


def statements(store: Store) -> list[str]:
    """The statements run from now on by the store's version connection."""
    seen: list[str] = []
    store.version()  # the connection exists
    store._version_connection.driver_connection.set_trace_callback(seen.append)
    return seen


def newest(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT max(id) FROM revisions").fetchone()[0] or 0


@pytest.fixture
def store(tmp_path: Path):
    found = Store(f"sqlite:///{tmp_path / 'db.sqlite3'}")
    found.upgrade()
    yield found
    found.close()


def test_regression_each_poll_queried_an_unchanged_database(store: Store) -> None:
    store.version(), store.version()  # the header is read, then trusted
    seen = statements(store)
    assert [store.version() for _ in range(100)] == [0] * 100
    assert seen == []
    other = sqlite3.connect(store.engine.url.database, isolation_level=None)
    other.execute(INSERT)
    assert store.version() == 1
    assert seen == ["SELECT max(id) FROM revisions"]
    assert store.version() == 1 and len(seen) == 1


def test_a_commit_by_another_process_is_seen_at_once(store: Store) -> None:
    path = store.engine.url.database
    for n in range(1, 6):
        store.version(), store.version()
        subprocess.run([sys.executable, "-c", "import sqlite3, sys\n"
                        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
                        f"c.execute({INSERT!r})\n"
                        "c.execute('PRAGMA wal_checkpoint(PASSIVE)')\n", path], check=True)
        assert store.version() == n


OPERATIONS = st.lists(st.sampled_from(
    ["insert", "insert twice", "rolled back", "checkpoint", "truncate", "reopen", "version",
     "drop"]), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_version_is_the_newest_revision_whatever_other_connections_do(
        tmp_path_factory: pytest.TempPathFactory, operations: list[str]) -> None:
    path = tmp_path_factory.mktemp("wal") / "db.sqlite3"
    store = Store(f"sqlite:///{path}")
    store.upgrade()
    other = sqlite3.connect(path, isolation_level=None)
    try:
        for operation in operations:
            if operation == "insert":
                other.execute(INSERT)
            elif operation == "insert twice":
                other.execute("BEGIN")
                other.execute(INSERT)
                other.execute(INSERT)
                other.execute("COMMIT")
            elif operation == "rolled back":
                other.execute("BEGIN")
                other.execute(INSERT)
                other.execute("ROLLBACK")
            elif operation == "checkpoint":
                other.execute("PRAGMA wal_checkpoint(PASSIVE)")
            elif operation == "truncate":  # the WAL restarts: the next commit has new salts
                other.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            elif operation == "reopen":
                other.close()
                other = sqlite3.connect(path, isolation_level=None)
            elif operation == "drop":  # as after a failed query: a new connection and watch
                with store._version_lock:
                    store._drop_version_connection()
            assert store.version() == newest(path), operations
    finally:
        other.close()
        store.close()


def test_without_a_wal_index_every_call_asks(tmp_path: Path) -> None:
    memory = Store("sqlite://")
    memory.upgrade()
    try:
        assert memory.version() == 0 and memory._wal is None
        seen = statements(memory)
        assert memory.version() == 0
        assert seen == ["SELECT max(id) FROM revisions"]
    finally:
        memory.close()
    journal = sqlite3.connect(tmp_path / "delete.sqlite3")
    journal.execute("PRAGMA journal_mode = DELETE")
    journal.execute("CREATE TABLE x (y)")
    assert WalWatch.of(journal) is None
    journal.close()


def shm(tmp_path: Path, copies: tuple[bytes, bytes]) -> WalWatch:
    path = tmp_path / "fake-shm"
    path.write_bytes(b"".join(copies) + bytes(64))
    return WalWatch(os.open(path, os.O_RDONLY))


def header(change: int, is_init: int = 1, version: int = WAL_INDEX_VERSION) -> bytes:
    made = struct.pack("=IIIBBHII", version, 0, change, is_init, 0, 4096, 7, 3)
    return made + bytes(HEADER_BYTES - len(made))


def test_only_a_whole_agreed_header_is_trusted(tmp_path: Path) -> None:
    good = header(5)
    cases = {(good, good): good, (good, header(6)): None, (header(5, is_init=0),) * 2: None,
             (header(5, version=3007001),) * 2: None}
    for copies, expected in cases.items():
        watch = shm(tmp_path, copies)
        assert watch.header() == expected, copies
        watch.close()
        assert watch.header() is None
        watch.close()  # idempotent
    short = tmp_path / "short-shm"
    short.write_bytes(good)  # one copy only
    watch = WalWatch(os.open(short, os.O_RDONLY))
    assert watch.header() is None
    watch.close()
    assert len(good) == HEADER_BYTES and BOTH_COPIES == 2 * HEADER_BYTES


def test_a_real_wal_index_header_is_read_and_changes_with_each_commit(store: Store) -> None:
    connection = sqlite3.connect(store.engine.url.database, isolation_level=None)
    connection.execute("SELECT 1 FROM revisions").fetchall()
    watch = WalWatch.of(connection)
    assert watch is not None
    seen = [watch.header()]
    for _ in range(3):
        connection.execute(INSERT)
        seen.append(watch.header())
    assert None not in seen and len(set(seen)) == 4
    watch.close()
    connection.close()
