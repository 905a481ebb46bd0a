"""Metrics counted by the process where things happen — HTTP requests, messages sent and
failed, reminder lateness, feed builds — with the ``prometheus_client`` library's counters
and histograms, so every layer can count without knowing how metrics are exposed.
``summitcal.app.metrics`` adds the gauges read from the database and writes the text
exposition (multiprocess mode included). Names follow Prometheus conventions (base units,
``_total`` for counters, ``_seconds``).
"""

from __future__ import annotations

import os
from datetime import datetime

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.registry import Collector

from summitcal.core.errors import ConfigError
from summitcal.core.multiprocess import MULTIPROC_ENV, multiprocess_folder_problem

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# The library opens a file in that folder for every metric made below: without the
# folder, importing this module would fail with a bare "No such file or directory".
_problem = multiprocess_folder_problem(os.environ.get(MULTIPROC_ENV))
if _problem is not None:
    raise ConfigError(_problem)

HTTP_REQUESTS = Counter("summitcal_http_requests", "HTTP requests by route and status.",
                        ["method", "route", "status"])
MESSAGES_SENT = Counter("summitcal_messages_sent", "Messages the SMTP server accepted, by "
                        "kind (reminder, change notices, confirm, welcome, test, …).", ["kind"])
MESSAGES_FAILED = Counter("summitcal_messages_failed", "Messages given up as failed "
                          "(a permanent refusal or a render error), by kind.", ["kind"])
REMINDER_LATENESS = Histogram(
    "summitcal_reminder_lateness_seconds",
    "Reminders: the server's acceptance minus the instant the reminder was due.",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900))
FEED_BUILD = Histogram(
    "summitcal_feed_build_seconds", "Feed builds (a cache miss) by feed kind: how long each took.",
    ["kind"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))


def message_done(kind: str, status: str | None, due_at: datetime, at: datetime) -> None:
    """Count one delivery outcome (``sent``/``failed``; others are not counted here) and,
    for a sent reminder, its lateness (``at - due_at``, seconds, 0 when early)."""
    if status == "sent":
        MESSAGES_SENT.labels(kind).inc()
        if kind == "reminder":
            REMINDER_LATENESS.observe(max(0.0, (at - due_at).total_seconds()))
    elif status == "failed":
        MESSAGES_FAILED.labels(kind).inc()


def feed_built(kind: str, seconds: float) -> None:
    """Count one feed build of ``kind`` (all, summits, …) that took ``seconds``."""
    FEED_BUILD.labels(kind).observe(seconds)


def exposition(*collectors: Collector) -> bytes:
    """The Prometheus text exposition: this process's samples — or, with
    ``PROMETHEUS_MULTIPROC_DIR`` set, every process's, added up by the library's
    multiprocess mode — then what ``collectors`` (read at scrape time) yield."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    extra = CollectorRegistry()
    for collector in collectors:
        extra.register(collector)
    return generate_latest(counted) + generate_latest(extra)
