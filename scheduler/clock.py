"""The clock: APScheduler 3.11 decides *when* to look; the database says *what* is due.

Three jobs with fixed ids, in the in-memory job store, re-added at every start — their
number never depends on subscribers or sessions:

- ``dispatch``, every ``tick`` (1 s): one pass (below);
- ``wakeup``, the same pass, moved after every pass to the next due instant (the next
  plan fire time, notice window end or outbox retry), so a reminder goes out within
  milliseconds of its time without polling faster;
- ``housekeeping``, every few minutes: a full replan whatever changed, old rows purged,
  and sign-ups that a web process queued but did not get to handle (it died) handled.

A pass: notice new revisions (``store.version()``, so changes made by *other* processes
too) and subscriber changes → ingest them into notice windows and replan, in one write
transaction; expire what started; close due notice windows; fire due plans (each its own
transaction: one ``INSERT … SELECT`` and the plan marked fired); wake delivery; move the
wake-up. Every step is idempotent and guarded in the database (status updates, unique
keys), so passes from two processes sharing one database never queue a message twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.jobstores.memory import MemoryJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.base import SchedulerNotRunningError  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from summitcal.core import database
from summitcal.mail import outbox
from summitcal.mail.tables import OutboxStatus
from summitcal.mail.tables import outbox as outbox_table
from summitcal.scheduler import notices, plans
from summitcal.subscriptions import subscribers as subs
from summitcal.subscriptions import tables as st
from summitcal.summits.store import Store

log = logging.getLogger("summitcal.clock")

JOB_IDS = ("dispatch", "wakeup", "housekeeping")
#: Finished plans and notice windows are kept this long (for ``outbox``-style inspection).
RETENTION = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class Pass:
    """What one pass did."""

    revisions: int = 0
    replanned: plans.Replanned | None = None
    fired: int = 0
    queued: int = 0
    notices: int = 0
    expired_plans: int = 0
    expired_rows: int = 0
    next_due: datetime | None = None


class Clock:
    """Dispatches reminders and notices for one store.

    ``delay`` is ``notices.delay``; ``wake`` (e.g. ``Delivery.wake``) is called whenever
    outbox rows became due. ``sign_up_limits`` bound the sign-up mail of leftover sign-ups
    (``subscribers.SignUpLimits``, default: its defaults). ``gate()``, when given, is asked
    before every pass and the pass is skipped while it says False (the scheduler role's
    election: ``summitcal.app.election``). ``now`` is for tests.
    ``run_once()`` is one pass without APScheduler (tests, one-shot tools).
    """

    def __init__(
        self,
        store: Store,
        delay: timedelta,
        *,
        wake: Callable[[], None] | None = None,
        tick: float = 1.0,
        housekeeping: timedelta = timedelta(minutes=5),
        now: Callable[[], datetime] | None = None,
        sign_up_limits: subs.SignUpLimits | None = None,
        gate: Callable[[], bool] | None = None,
    ) -> None:
        self.store = store
        self.sign_up_limits = sign_up_limits or subs.SignUpLimits()
        self.engine = store.engine
        self.delay = delay
        self.wake = wake or (lambda: None)
        self.tick = tick
        self.housekeeping_every = housekeeping
        self._now = now or (lambda: datetime.now(UTC))
        self._scheduler: BackgroundScheduler | None = None
        self._running = threading.Lock()
        self._again = threading.Event()
        self._force = False  # a housekeeping pass was asked for during another pass
        self._seen: tuple[int, tuple[Any, ...]] | None = None  # (version, subscribers)
        self.gate = gate or (lambda: True)
        self.last: Pass | None = None
        self.last_at: datetime | None = None  # when the last pass (that ran) began

    # --- APScheduler --------------------------------------------------------------------

    def start(self) -> None:
        """Start the jobs. The notice cursor is set up first, synchronously: changes made
        once ``start`` returned are never taken for history."""
        if self._scheduler is not None:
            return
        with database.writing(self.engine) as connection:
            notices.prepare(connection, self._now())
        # Two instances of a job: one arriving while a long pass runs (a large fan-out's
        # insert) asks ``_guarded`` for one more pass and returns at once, instead of being
        # skipped with a warning in the log.
        scheduler = BackgroundScheduler(
            jobstores={"default": MemoryJobStore()},
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"misfire_grace_time": None, "coalesce": True, "max_instances": 2},
            timezone=UTC,
        )
        now = self._now()
        scheduler.add_job(self._job, IntervalTrigger(seconds=self.tick, timezone=UTC),
                          id="dispatch", name="dispatch", replace_existing=True,
                          next_run_time=now)
        # A one-shot in spirit: its interval is only a fallback; every pass moves it.
        scheduler.add_job(self._job, IntervalTrigger(hours=1, timezone=UTC), id="wakeup",
                          name="wakeup", replace_existing=True)
        scheduler.add_job(self._housekeeping, IntervalTrigger(
            seconds=self.housekeeping_every.total_seconds(), timezone=UTC),
            id="housekeeping", name="housekeeping", replace_existing=True)
        scheduler.start()
        self._scheduler = scheduler
        log.info("clock started: jobs %s", ", ".join(j.id for j in scheduler.get_jobs()))

    def stop(self) -> None:
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is not None:
            scheduler.shutdown(wait=True)
            log.info("clock stopped")

    def poke(self) -> None:
        """A pass as soon as possible, in the scheduler's threads (e.g. on taking the lead)."""
        self._move_wakeup(self._now())

    def job_count(self) -> int:
        return len(self._scheduler.get_jobs()) if self._scheduler is not None else 0

    def _job(self) -> None:
        self._guarded(force=False)

    def _housekeeping(self) -> None:
        if not self.gate():
            return
        self._guarded(force=True)
        self.purge(self._now() - RETENTION)
        self.process_sign_ups()

    def process_sign_ups(self, now: datetime | None = None) -> int:
        """Handle sign-ups still queued (``subscribers.process_sign_ups``); how many."""
        with database.writing(self.engine) as connection:
            done = subs.process_sign_ups(connection, now or self._now(), self.sign_up_limits)
        if done:
            log.info("%d queued sign-up(s) handled", len(done))
            self.wake()
        return len(done)

    def _guarded(self, force: bool) -> None:
        """One pass at a time: a job arriving during a pass asks for one more, and returns."""
        if not self._running.acquire(blocking=False):
            self._force = self._force or force
            self._again.set()
            return
        try:
            while True:
                self._again.clear()
                force, self._force = force or self._force, False
                if not self.gate():  # not (or no longer) the active scheduler
                    return
                try:
                    started = self._now()
                    self.last = self.run_once(force=force)
                    self.last_at = started
                except Exception:  # keep ticking: the next pass retries from the database
                    log.exception("dispatch pass failed")
                    return
                self._move_wakeup(self.last.next_due)
                force = False
                if not self._again.is_set():
                    return
        finally:
            self._running.release()

    def _move_wakeup(self, when: datetime | None) -> None:
        scheduler = self._scheduler
        if scheduler is None or when is None:
            return
        try:
            scheduler.modify_job("wakeup", next_run_time=max(when, self._now()))
        except (JobLookupError, SchedulerNotRunningError):
            pass  # stopping

    # --- one pass -----------------------------------------------------------------------

    def run_once(self, force: bool = False, now: datetime | None = None) -> Pass:
        """Everything due at ``now`` (default: the clock's now), once."""
        now = now or self._now()
        revisions, replanned = self._follow(now, force)
        expired_plans, expired_rows, closed = self._close(now)
        fired = queued = 0
        for plan in self._due(now):
            with database.writing(self.engine) as connection:
                written = plans.fire(connection, plan.id, now)
            if written is not None:
                fired += 1
                queued += written
                log.info("reminder %s/%s %ss before %s: %d message(s) queued",
                         plan.summit, plan.session, plan.offset_seconds,
                         plan.starts_at.isoformat(), written)
        if queued or closed:
            self.wake()
        return Pass(revisions, replanned, fired, queued, closed, expired_plans, expired_rows,
                    self._next_due(now))

    def _follow(self, now: datetime, force: bool) -> tuple[int, plans.Replanned | None]:
        """Ingest new revisions and replan when the schedule or the subscribers changed."""
        seen = (self.store.version(), self._subscribers())
        if not force and seen == self._seen:
            return 0, None
        with database.writing(self.engine) as connection:
            ingested = notices.ingest(connection, now, self.delay)
            replanned = plans.replan(connection, now)
        self._seen = seen
        if ingested.revisions:
            log.info("revisions %s: %d session(s) changed, %d notice window(s) opened",
                     ",".join(map(str, ingested.revisions)), len(ingested.sessions),
                     ingested.opened)
        if replanned:
            log.info("replanned: %s", replanned)
        return len(ingested.revisions), replanned

    def _subscribers(self) -> tuple[Any, ...]:
        """Changes whenever a subscriber is added, removed or changes anything."""
        s = st.subscribers
        with self.engine.connect() as connection:
            return tuple(connection.execute(sa.select(
                sa.func.count(), sa.func.max(s.c.id), sa.func.max(s.c.updated_at))).one())

    def _close(self, now: datetime) -> tuple[int, int, int]:
        """Expire plans and rows whose time passed; close due notice windows."""
        p, o, w = plans.reminder_plans, outbox_table, notices.notice_windows
        late_rows = sa.and_(o.c.status == OutboxStatus.PENDING, o.c.expires_at <= now)
        with self.engine.connect() as connection:
            found = connection.execute(sa.select(
                sa.select(p.c.id).where(p.c.status == "pending", p.c.starts_at <= now)
                .exists().label("plans"),
                sa.select(o.c.id).where(late_rows).exists().label("rows"),
                sa.select(w.c.id).where(w.c.status == "open", w.c.due_at <= now)
                .exists().label("windows"))).one()
        if not any(found):
            return 0, 0, 0
        with database.writing(self.engine) as connection:
            if found.windows:  # revisions that landed since _follow extend their windows
                notices.ingest(connection, now, self.delay)
            expired_plans = plans.expire_started(connection, now)
            expired_rows = outbox.expire(connection, late_rows, now=now,
                                         reason="not sent before it expired")
            closed = notices.close_due(connection, now)
        if expired_plans or expired_rows:
            log.info("expired: %d plan(s), %d message(s)", expired_plans, expired_rows)
        return expired_plans, expired_rows, closed

    def _due(self, now: datetime) -> list[plans.Plan]:
        with self.engine.connect() as connection:
            return plans.due(connection, now)

    def _next_due(self, now: datetime) -> datetime | None:
        """The next instant after ``now`` something becomes due: a plan, a window or an
        outbox retry. (What was due by ``now`` and is still there waits for the tick.)"""
        o = outbox_table
        with self.engine.connect() as connection:
            candidates = [
                plans.next_queueing(connection, now),
                notices.next_due(connection, now),
                connection.scalar(sa.select(sa.func.min(o.c.next_attempt_at)).where(
                    o.c.status == OutboxStatus.PENDING, o.c.next_attempt_at > now)),
            ]
        found = [_aware(c) for c in candidates if c is not None]
        return min(found) if found else None

    def purge(self, before: datetime) -> int:
        """Delete finished plans and closed windows last touched before ``before``."""
        p, w = plans.reminder_plans, notices.notice_windows
        with database.writing(self.engine) as connection:
            gone = connection.execute(sa.delete(p).where(
                p.c.status != "pending", p.c.updated_at < before)).rowcount
            gone += connection.execute(sa.delete(w).where(
                w.c.status != "open", w.c.closed_at < before)).rowcount
        return gone


def _aware(value: datetime) -> datetime:
    """``min()`` over a column: SQLite gives naive UTC text back, not through the type."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
