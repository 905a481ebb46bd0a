"""One active scheduler per deployment: an election by lock.

Any number of processes may run the scheduler role; one leads (its clock makes passes),
the others stand by and try again every second. The lock lives where the deployment's
state lives:

- **PostgreSQL**: a session-level advisory lock (``pg_try_advisory_lock``, PostgreSQL
  manual §13.3.5 "Advisory Locks") on a connection of its own, kept out of the pool. The
  server releases it when that session ends: a leader killed with ``kill -9``, or cut off
  so that its connection is closed, loses it, and a standby's next try (≤ 1 s later) wins.
  The key is ("SUMM", hash of the schema in use), so deployments sharing one database in
  separate schemas elect separately.
- **SQLite**: an exclusive ``flock`` on a lock file beside the database file (one
  machine, like SQLite itself); the kernel releases it when the process dies.

``still_leading()`` is asked before every pass of the clock: on PostgreSQL it runs a
query on the lock's connection (a broken connection means the lock is gone: stop at
once). Correctness never rests on the election alone — two leaders for a moment would
still queue each message once (unique keys) and send it once (row claims); the election
saves the duplicate work and makes "the scheduler" one process to watch.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("summitcal.app.election")

#: The advisory lock's first key: "SUMM" (as ``core.database``'s lock keys); the second
#: is ``hashtext(current_schema() || ':scheduler')``.
LOCK_CLASS = 0x5355_4D4D
#: ``still_leading`` answers from its last check when that is more recent than this (s):
#: the clock's wake-ups can come many times a second.
RECHECK = 0.2


def lock_tag(name: str) -> str:
    """What the lock holder leaves where readers of the lock see it, for the process named
    ``name`` (``host:pid:random``, ``presence.process_name``): ``summitcal pid:random``.
    Short, because PostgreSQL keeps 63 bytes of an ``application_name``."""
    return "summitcal " + ":".join(name.rsplit(":", 2)[-2:])


class Election(Protocol):
    """What the scheduler role needs from a lock (see the module doc)."""

    def try_lead(self) -> bool:
        """Take the lock if it is free; True when this process holds it (now or already)."""
        ...

    def still_leading(self) -> bool:
        """True while the lock is held; False from the moment it is known lost."""
        ...

    def resign(self) -> None:
        """Give the lock up (a clean stop), so a standby takes over at its next try."""
        ...


class PostgresElection:
    """The advisory-lock election on ``engine``'s database and schema."""

    def __init__(self, engine: Engine, tag: str | None = None) -> None:
        self.engine = engine
        self.tag = tag  # the lock connection's application_name (``lock_tag``)
        self._connection: Connection | None = None
        self._lock = threading.Lock()
        self._checked = 0.0

    def try_lead(self) -> bool:
        with self._lock:
            if self._connection is not None:
                return self._check()
            try:
                connection = self.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT")
            except SQLAlchemyError as error:
                log.warning("election: cannot reach the database: %s", _first_line(error))
                return False
            try:
                if self.tag:
                    connection.execute(sa.text("SELECT set_config('application_name', :tag, "
                                               "false)"), {"tag": self.tag})
                won = connection.scalar(sa.text(
                    "SELECT pg_try_advisory_lock(:class, hashtext(current_schema() || :purpose))"),
                    {"class": LOCK_CLASS, "purpose": ":scheduler"})
            except SQLAlchemyError as error:
                log.warning("election: %s", _first_line(error))
                _drop(connection)
                return False
            if not won:
                _drop(connection)  # back to no session: nothing held
                return False
            self._connection = connection
            self._checked = time.monotonic()
            return True

    def still_leading(self) -> bool:
        with self._lock:
            if self._connection is None:
                return False
            if time.monotonic() - self._checked < RECHECK:
                return True
            return self._check()

    def _check(self) -> bool:
        """The lock's session is alive (so the lock held); a failure drops it for good."""
        assert self._connection is not None
        try:
            self._connection.execute(sa.text("SELECT 1"))
        except SQLAlchemyError as error:
            log.warning("election: the lock's connection failed (%s): no longer leading",
                        _first_line(error))
            _drop(self._connection)
            self._connection = None
            return False
        self._checked = time.monotonic()
        return True

    def resign(self) -> None:
        with self._lock:
            if self._connection is not None:
                _drop(self._connection)
                self._connection = None


class FileElection:
    """The ``flock`` election on ``path`` (made with its folder when missing)."""

    def __init__(self, path: Path, tag: str | None = None) -> None:
        self.path = path
        self.tag = tag  # written into the file while held (``lock_tag``)
        self._fd: int | None = None
        self._lock = threading.Lock()

    def try_lead(self) -> bool:
        with self._lock:
            if self._fd is not None:
                return True
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, f"{self.tag or os.getpid()}\n".encode())
            self._fd = fd
            return True

    def still_leading(self) -> bool:
        return self._fd is not None

    def resign(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)  # closing the last descriptor releases the flock
                self._fd = None


@dataclass(frozen=True, slots=True)
class LockState:
    """The scheduler lock as readers see it: ``held`` (None: this process cannot tell) and
    the holder's ``tag`` (``lock_tag``; None when unknown)."""

    held: bool | None
    tag: str | None = None


def lock_state(engine: Engine, data_dir: Path) -> LockState:
    """Whether some process holds the scheduler lock of ``engine``'s deployment now, and
    which: the one fact that says who leads (a presence row can outlive a ``kill -9``, and
    a new leader writes its row a moment after it takes the lock). Takes nothing: on
    PostgreSQL it reads ``pg_locks`` with the holder's ``application_name``; on SQLite it
    asks for a shared ``flock`` without waiting, drops it at once (a standby trying in
    that instant tries again a second later) and reads the holder's tag from the file."""
    if engine.dialect.name == "postgresql":
        try:
            with engine.connect() as connection:
                row = connection.execute(sa.text(
                    "SELECT a.application_name FROM pg_locks l "
                    "LEFT JOIN pg_stat_activity a ON a.pid = l.pid "
                    "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = :class "
                    "AND l.objsubid = 2 AND l.objid = (hashtext(current_schema() || :purpose)"
                    "::bigint & 4294967295)::oid AND l.database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())"),
                    {"class": LOCK_CLASS, "purpose": ":scheduler"}).first()
        except SQLAlchemyError:
            return LockState(None)
        return LockState(False) if row is None else LockState(True, row[0] or None)
    path = _lock_path(engine, data_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return LockState(False)  # no scheduler has run here yet
    except OSError:
        return LockState(None)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            tag = os.read(fd, 200).decode("utf-8", "replace").strip()
            return LockState(True, tag or None)
        except OSError:
            return LockState(None)
    finally:
        os.close(fd)  # releases the shared lock, if it was given
    return LockState(False)


def election_for(engine: Engine, data_dir: Path, tag: str | None = None) -> Election:
    """The election for the deployment whose database ``engine`` opens: PostgreSQL's
    advisory lock, or on SQLite a lock file beside the database file (``data_dir`` for an
    in-memory database)."""
    if engine.dialect.name == "postgresql":
        return PostgresElection(engine, tag)
    return FileElection(_lock_path(engine, data_dir), tag)


def _lock_path(engine: Engine, data_dir: Path) -> Path:
    """The SQLite deployment's lock file: beside the database file, or in ``data_dir``
    for an in-memory database."""
    database = engine.url.database
    if database and database != ":memory:":
        return Path(f"{database}.scheduler-lock")
    return data_dir / "scheduler.lock"


def _drop(connection: Connection) -> None:
    """Close ``connection`` for real (not back to the pool, where its session, and a lock it
    may hold, would live on)."""
    try:
        connection.invalidate()
        connection.close()
    except SQLAlchemyError:
        pass


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
