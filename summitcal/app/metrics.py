"""Prometheus metrics, with the ``prometheus_client`` library.

Two kinds:

- **Counted by the process** where things happen (HTTP requests, messages sent and failed,
  reminder lateness, feed builds): the library's counters and histograms. With several
  processes on one machine (``summitcal web --workers N``, or web, scheduler and worker
  side by side) set ``PROMETHEUS_MULTIPROC_DIR`` to an empty folder shared by them (the operator
  empties it before each deployment start): every process writes its samples there and
  ``/metrics`` adds them up (the library's multiprocess mode). Without it, ``/metrics``
  shows the samples of the process that answers.
- **Read from the database** at each scrape (``DeploymentCollector``): the schedule
  revision, subscribers and outbox rows by status, the active scheduler and its last
  tick's age — the same for every process that answers, so any web process can be scraped.

Names follow Prometheus conventions (base units, ``_total`` for counters, ``_seconds``).
"""

from __future__ import annotations

from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from summitcal.core.metrics import exposition as counted_exposition


class DeploymentCollector(Collector):
    """Gauges read from the database at scrape time (see the module doc).

    ``runtime`` gives ``store``; ``roles`` are this process's (for ``summitcal_process_roles``).
    """

    def __init__(self, runtime: Any, roles: tuple[str, ...]) -> None:
        self.runtime = runtime
        self.roles = roles

    def collect(self) -> Any:
        from summitcal.app.presence import deployment
        from summitcal.mail import outbox
        from summitcal.subscriptions import subscribers

        engine = self.runtime.store.engine
        revision = GaugeMetricFamily("summitcal_revision",
                                     "Latest schedule revision in the database.")
        revision.add_metric([], self.runtime.store.version())
        yield revision
        with engine.connect() as connection:
            by_status = subscribers.counts(connection)
        people = GaugeMetricFamily(
            "summitcal_subscribers", "Subscribers by status (bouncing: permanent refusals "
            "reached mail.bounce_threshold; not mailed until they confirm).", labels=["status"])
        for status, count in by_status.items():
            people.add_metric([status], count)
        yield people
        rows = GaugeMetricFamily("summitcal_outbox_messages", "Outbox messages by status.",
                                 labels=["status"])
        for status, count in outbox.counts(engine).items():
            rows.add_metric([status], count)
        yield rows
        seen = deployment(engine, self.runtime.config.service.data_dir)
        backlog = GaugeMetricFamily("summitcal_outbox_due_messages",
                                    "Open messages due by now (the delivery backlog).")
        backlog.add_metric([], seen.backlog)
        yield backlog
        oldest = GaugeMetricFamily("summitcal_outbox_oldest_due_age_seconds",
                                   "Age of the oldest open message due by now (0: none).")
        oldest.add_metric([], 0.0 if seen.oldest_due is None else max(
            0.0, (seen.now - seen.oldest_due).total_seconds()))
        yield oldest
        leader = GaugeMetricFamily(
            "summitcal_scheduler_leader", "1 for the process leading the scheduling "
            "(host, pid, name as in `summitcal status`).", labels=["name", "host", "pid"])
        if seen.leader is not None:
            leader.add_metric([seen.leader.name, seen.leader.host, str(seen.leader.pid)], 1)
        yield leader
        age = GaugeMetricFamily("summitcal_scheduler_last_tick_age_seconds",
                                "Seconds since a scheduler's clock last ticked; it keeps "
                                "growing while no scheduler leads (NaN: none ticked in "
                                "the last day).")
        age.add_metric([], float("nan") if seen.last_tick_age is None else seen.last_tick_age)
        yield age
        processes = GaugeMetricFamily("summitcal_processes",
                                      "Processes seen recently, by role.", labels=["role"])
        for role in ("web", "scheduler", "worker"):
            processes.add_metric([role], len(seen.with_role(role)))
        yield processes


def exposition(runtime: Any, roles: tuple[str, ...]) -> bytes:
    """The ``/metrics`` body: this process's (or, in multiprocess mode, all processes')
    samples, then the deployment's gauges (``summitcal.core.metrics.exposition``)."""
    return counted_exposition(DeploymentCollector(runtime, roles))
