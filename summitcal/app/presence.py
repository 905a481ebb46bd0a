"""Each process of a deployment says it is there: a row in ``processes`` (its roles, host,
pid), written again every ``EVERY`` seconds, with whether it leads the scheduling and
when its clock last ticked; removed on a clean stop. ``summitcal status`` and ``/metrics``
read the deployment from these rows (``deployment``).

A process that died keeps its row until ``PURGE_AFTER`` (anyone's heartbeat deletes
older rows); it just stops being "seen recently" (``RECENT``). A scheduler that stops
cleanly after its clock ticked keeps its row too, with no roles, so the deployment's
last tick stays known (and keeps ageing) when no scheduler runs.

Who leads is the election lock's fact (``election.lock_state``), not a row's: a leader
killed with ``kill -9`` leaves a row that still says it leads.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from secrets import token_hex

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from summitcal.app.election import LockState, lock_state, lock_tag
from summitcal.mail.outbox import write_transaction
from summitcal.mail.tables import OPEN, outbox, processes

log = logging.getLogger("summitcal.app.presence")

EVERY = 2.0  # seconds between heartbeats
RECENT = timedelta(seconds=15)  # "seen recently": a few missed heartbeats
PURGE_AFTER = timedelta(days=1)
ROLES = ("web", "scheduler", "worker")


def process_name() -> str:
    """``host:pid:random``, the form of outbox lease owners (at most 100 characters)."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{token_hex(3)}"


class Presence:
    """This process's row, kept fresh by a daemon thread.

    ``leading()`` gives the instant this process became the active scheduler (None: it
    does not lead) and ``last_tick()`` its clock's last pass; both are read at each beat.
    """

    def __init__(self, engine: Engine, roles: tuple[str, ...], *,
                 leading: Callable[[], datetime | None] = lambda: None,
                 last_tick: Callable[[], datetime | None] = lambda: None,
                 every: float = EVERY, name: str | None = None) -> None:
        self.engine = engine
        self.roles = roles
        self.name = name or process_name()
        self.leading = leading
        self.last_tick = last_tick
        self.every = every
        self.started_at = datetime.now(UTC)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.beat()
        self._thread = threading.Thread(target=self._run, name="presence", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop beating and remove the row; a row whose clock ticked stays, without roles
        or lead, as the deployment's record of its last tick."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        mine = processes.c.name == self.name
        ticked = self.last_tick()
        try:
            with write_transaction(self.engine) as connection:
                if ticked is None:
                    connection.execute(sa.delete(processes).where(mine))
                else:
                    connection.execute(sa.update(processes).where(mine).values(
                        roles="", leading_since=None, last_tick_at=ticked))
        except SQLAlchemyError:
            pass  # the row ages out

    def beat(self) -> None:
        """Write the row now (and purge rows of processes long gone)."""
        now = datetime.now(UTC)
        values = {"roles": ",".join(self.roles), "host": socket.gethostname()[:255],
                  "pid": os.getpid(), "seen_at": now, "leading_since": self.leading(),
                  "last_tick_at": self.last_tick()}
        with write_transaction(self.engine) as connection:
            updated = connection.execute(sa.update(processes).where(
                processes.c.name == self.name).values(values)).rowcount
            if not updated:
                connection.execute(sa.insert(processes).values(
                    name=self.name, started_at=self.started_at, **values))
            connection.execute(sa.delete(processes).where(
                processes.c.seen_at < now - PURGE_AFTER))

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.beat()
            except SQLAlchemyError as error:
                log.warning("cannot record this process's heartbeat: %s",
                            str(getattr(error, "orig", error)).strip().splitlines()[0])


@dataclass(frozen=True, slots=True)
class Seen:
    """One process as its last heartbeat left it."""

    name: str
    roles: tuple[str, ...]
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    leading_since: datetime | None
    last_tick_at: datetime | None


@dataclass(frozen=True, slots=True)
class Deployment:
    """The deployment as the database shows it at ``now`` (``deployment``)."""

    now: datetime
    processes: tuple[Seen, ...]  # running, seen within RECENT, newest first
    leader: Seen | None  # the most recent to take the lead, while the lock is held
    backlog: int  # open (pending or sending) messages due by now
    oldest_due: datetime | None  # the earliest due_at among them
    last_tick_at: datetime | None = None  # the latest tick of any scheduler, dead or alive

    def with_role(self, role: str) -> list[Seen]:
        return [p for p in self.processes if role in p.roles]

    @property
    def last_tick_age(self) -> float | None:
        """Seconds since a scheduler's clock last ticked, whether one leads now or not
        (None: no tick in the last ``PURGE_AFTER``)."""
        if self.last_tick_at is None:
            return None
        return max(0.0, (self.now - self.last_tick_at).total_seconds())


def deployment(engine: Engine, data_dir: Path, now: datetime | None = None) -> Deployment:
    """Read the deployment: running processes seen within ``RECENT``; the leader (the
    holder of the election lock, ``election.lock_state``: see ``_leader``); the last
    tick; the backlog."""
    now = now or datetime.now(UTC)
    o = outbox
    with engine.connect() as connection:
        rows = connection.execute(sa.select(processes).where(processes.c.roles != "")
                                  .order_by(processes.c.seen_at.desc())).all()
        last_tick = connection.scalar(sa.select(sa.func.max(processes.c.last_tick_at)))
        backlog, oldest = connection.execute(sa.select(
            sa.func.count(), sa.func.min(o.c.due_at)).where(
            o.c.status.in_(OPEN), o.c.due_at <= now)).one()
    running = tuple(Seen(r.name, tuple(r.roles.split(",")), r.host, r.pid, r.started_at,
                         r.seen_at, r.leading_since, r.last_tick_at)
                    for r in rows)
    seen = tuple(p for p in running if p.seen_at >= now - RECENT)
    local = engine.dialect.name != "postgresql"  # SQLite: every process on this machine
    leader = _leader(running, seen, lock_state(engine, data_dir), local)
    return Deployment(now, seen, leader, backlog, _aware(oldest), _aware(last_tick))


def _leader(running: tuple[Seen, ...], seen: tuple[Seen, ...], lock: LockState,
            local: bool) -> Seen | None:
    """Nobody when the lock is free; else the process whose tag the lock carries (its
    heartbeat may be late: holding the lock, it is alive). When the tag names no process
    (a new holder writes its tag a moment after it takes the lock) or cannot be read, the
    latest of those seen to take the lead. With ``local`` (SQLite: one machine) a process
    that is no longer running is never the leader, whatever its row or an old tag says."""
    if lock.held is False:
        return None
    if local:
        running = tuple(p for p in running if _running(p.pid))
        seen = tuple(p for p in seen if _running(p.pid))
    if lock.tag is not None:
        for process in running:
            if lock_tag(process.name) == lock.tag:
                return process
    leaders = sorted((p for p in seen if p.leading_since is not None),
                     key=lambda p: p.leading_since)  # type: ignore[arg-type, return-value]
    return leaders[-1] if leaders else None


def _running(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # it exists, owned by another user
    return True


def _aware(value: datetime | str | None) -> datetime | None:
    """A UTC datetime from an aggregate: on SQLite, min() and max() come back as text,
    not through the column's type."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value is not None and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value
