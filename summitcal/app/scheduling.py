"""The scheduler role: stand for election every second; while leading, run the clock.

    scheduling = Scheduling(runtime, wake=delivery.wake)   # wake: None without a worker
    scheduling.start()     # returns at once; leads now if the lock was free
    scheduling.stop()      # the clock stops, the lock is given up

A standby tries the lock (``summitcal.app.election``) every ``retry`` second; when it wins, it
starts its clock (or lets it pass again), which resumes from the database: the notice
cursor, the windows and the plans are there, whoever wrote them. The clock asks
``still_leading()`` before every pass, so a leader that lost its lock (its connection
broke) stops at once, and stands for election again like any standby.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime

from summitcal.app.election import Election, election_for, lock_tag
from summitcal.app.runtime import Runtime
from summitcal.scheduler.clock import Clock
from summitcal.subscriptions.subscribers import SignUpLimits

log = logging.getLogger("summitcal.app.scheduling")

RETRY = 1.0  # seconds between a standby's tries: takeover within about this of a death


class Scheduling:
    """The clock of ``runtime``, run only while this process leads (see the module doc)."""

    def __init__(self, runtime: Runtime, *, wake: Callable[[], None] | None = None,
                 election: Election | None = None, retry: float = RETRY,
                 name: str | None = None) -> None:
        config = runtime.config
        self.election = election or election_for(
            runtime.store.engine, config.service.data_dir,
            lock_tag(name) if name is not None else None)
        self.clock = Clock(runtime.store, config.notices.delay, wake=wake,
                           sign_up_limits=SignUpLimits.from_section(config.mail),
                           gate=self.election.still_leading)
        self.retry = retry
        #: Called as soon as this process takes the lead (the process's presence row is
        #: written then, not at its next heartbeat, so the deployment names the new
        #: leader at once rather than the dead one for a beat).
        self.on_lead: Callable[[], None] = lambda: None
        self.leading_since: datetime | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Try once now (so a lone scheduler leads before this returns), then keep trying
        (or checking) every ``retry`` seconds in a daemon thread."""
        self._stand()
        self._thread = threading.Thread(target=self._run, name="election", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        self.clock.stop()
        self.election.resign()
        if self.leading_since is not None:
            log.info("scheduler stopped leading")
            self.leading_since = None

    def last_tick(self) -> datetime | None:
        """The clock's last pass here (None: it never ran here), leading now or not: it
        stays the deployment's record of a tick after a clean stop."""
        return self.clock.last_at

    def _run(self) -> None:
        while not self._stop.wait(self.retry):
            try:
                self._stand()
            except Exception:  # keep standing: the next try starts afresh
                log.exception("election round failed")

    def _stand(self) -> None:
        if self.leading_since is not None:
            if not self.election.still_leading():
                log.warning("scheduler lost the lead; standing by")
                self.leading_since = None
            return
        if not self.election.try_lead():
            return
        self.leading_since = datetime.now(UTC)
        log.info("scheduler leads: the clock runs here")
        try:
            self.on_lead()
        except Exception:  # the heartbeat writes it again within seconds
            log.exception("cannot record taking the lead")
        if self.clock.job_count():
            self.clock.poke()  # already started (led before): a pass at once
        else:
            self.clock.start()
