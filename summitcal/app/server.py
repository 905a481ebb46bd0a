"""``summitcal serve``: the web app on uvicorn, with the schedules loaded at start-up, the
clock (reminder plans, change notices) and delivery (the outbox's workers) beside it.

Start-up order, for every role: everything that can be checked first (the environment,
see ``summitcal.app.preflight``; the email templates: a broken template stops the boot, not a
reminder at 3 a.m.), then the port is bound (roles with ``web``; a busy port stops here,
before any work), the secret key made, the database opened and migrated, the schedules
loaded (roles with ``scheduler``, when ``schedules.load_on_start``), delivery and the
clock started, and HTTP served on the bound socket. Any failure up to there is one line
and exit status 1 (``StartupError`` and the other ``SummitcalError``). On shutdown
(SIGTERM, Ctrl-C) uvicorn returns (or, without ``web``, the wait ends) and the clock stops
first (no new rows), then delivery (messages in flight finish, the rest are given back).
With ``web``, feed pieces kept by the last clean stop are restored before serving,
/feeds/all.ics is built in the background once the clock has started (its first run on a
database is one long write transaction, not to be slowed down by the build) while serving
starts, and the pieces are kept in the data folder again on shutdown (``feeds.kept``).
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn

from summitcal.app import preflight
from summitcal.app.config import Config, load_config
from summitcal.app.http_server import listen, protocol
from summitcal.app.metrics import DeploymentCollector
from summitcal.app.presence import ROLES, Presence, process_name
from summitcal.app.runtime import Runtime
from summitcal.app.scheduling import Scheduling
from summitcal.feeds.kept import keep_service, restore_service
from summitcal.scheduler.compose import check_templates
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources

if TYPE_CHECKING:
    from summitcal.web.feed_answers import FeedAnswers

log = logging.getLogger("summitcal")
PIECES_FILE = "feed-pieces.bin"  # in service.data_dir: see feeds.kept
#: Set for the processes of ``summitcal web --workers N``: the roles their app reports.
ROLES_ENV = "SUMMITCAL_ROLES"


def serve(config: Config, host: str | None = None, port: int | None = None, *,
          roles: tuple[str, ...] = ROLES, web_workers: int = 1) -> None:
    """Run ``roles`` (web, scheduler, worker; default all three) in this process until
    SIGTERM or Ctrl-C (see the module doc); ``web_workers`` > 1: that many uvicorn
    processes serve HTTP on the one bound socket."""
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"roles must be some of {ROLES}, not {roles}")
    preflight.check(config)
    composed = check_templates(config.service.base_url)
    host, port = host or config.http.host, port or config.http.port
    listener = listen(host, port) if "web" in roles else None
    # Logging from here on: a start refused above is its error lines alone.
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per tick otherwise
    log.info("email templates checked: %d sample messages composed", composed)
    try:
        config.secret_key()  # made now, once, rather than by the first renders at once
        runtime = Runtime.open(config)
        kept = config.service.data_dir / PIECES_FILE
        try:
            if "web" in roles:
                restored = restore_service(runtime.feeds, kept, runtime.store.revision())
                log.info("feed pieces restored: %d (feeds current: %s; gzip chunks: %d)",
                         restored.pieces, ", ".join(restored.feeds) or "none", restored.chunks)
            if config.schedules.load_on_start and "scheduler" in roles:
                _load(runtime)
            # The feed is warmed once the scheduler has started: its first run on a
            # database remembers every session in one write transaction, which the warm
            # build's CPU work (holding the GIL) stretched from 7 s to over 30 s at 50,000
            # sessions, past other writers' busy timeout.
            _run(runtime, listener, host, port, roles, web_workers,
                 started=(lambda: _warm(runtime)) if "web" in roles else None)
        finally:
            if "web" in roles:
                try:
                    log.info("feed pieces kept: %d", keep_service(
                        runtime.feeds, kept, runtime.store.revision()))
                except OSError as exc:
                    log.warning("feed pieces not kept in %s: %s", kept, exc.strerror)
            runtime.close()
    finally:
        if listener is not None:
            listener.close()


def _warm(runtime: Runtime) -> None:
    """Build /feeds/all.ics and its gzip form (unless kept from before the restart) and
    check the kept pieces in the background while serving starts (a request for it
    meanwhile waits for this build instead of making its own).

    Then everything alive is frozen (``gc.freeze``): the modules, the schedule snapshot
    and the feed's pieces live as long as the process, and the cyclic garbage collector
    would otherwise walk all of them at each of its full passes, which come more often
    the more requests allocate (at 50,000 sessions, millions of objects: a pause on the
    event loop each time). They are still freed by reference counting as usual."""

    def build() -> None:
        try:
            runtime.feeds.warm()
        except Exception:  # the first request will build it (and report) as usual
            log.exception("warming /feeds/all.ics failed")
        gc.freeze()  # no collection first: a full pass would hold the event loop

    threading.Thread(target=build, name="warm-feeds", daemon=True).start()


def _load(runtime: Runtime) -> None:
    result = runtime.load(runtime.config.schedules.paths, source="serve start-up")
    for override in result.overrides:
        log.warning("schedule file overrides a live edit: %s", override)
    log.info(
        "schedules loaded: %s",
        f"revision {result.revision}, {len(result.changes)} change(s)"
        if result.changes
        else "no changes",
    )


def _run(
    runtime: Runtime,
    listener: socket.socket | None,
    host: str,
    port: int,
    roles: tuple[str, ...],
    web_workers: int,
    started: Callable[[], None] | None = None,
) -> None:
    """Run the roles until stopped; ``started`` is called once the worker and the
    scheduler have started, before serving."""
    config = runtime.config
    delivery = (Delivery(runtime.store.engine, config, registry(Sources.of(runtime)))
                if "worker" in roles else None)
    name = process_name()
    scheduling = (Scheduling(runtime, wake=delivery.wake if delivery else None, name=name)
                  if "scheduler" in roles else None)
    presence = Presence(runtime.store.engine, roles, name=name,
                        leading=lambda: scheduling.leading_since if scheduling else None,
                        last_tick=lambda: scheduling.last_tick() if scheduling else None)
    if scheduling is not None:
        scheduling.on_lead = presence.beat
    previous = _exit_on_sigterm()
    presence.start()
    try:
        if delivery is not None:
            delivery.start()
        try:
            if scheduling is not None:
                scheduling.start()
            if started is not None:
                started()
            try:
                log.info("running: %s", ", ".join(roles))
                if listener is not None:
                    _serve_http(runtime, listener, host, port, roles, web_workers)
                else:
                    _wait_for_stop()
            finally:
                if scheduling is not None:
                    scheduling.stop()
        finally:
            if delivery is not None:
                delivery.stop()
    finally:
        presence.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _serve_http(
    runtime: Runtime,
    listener: socket.socket,
    host: str,
    port: int,
    roles: tuple[str, ...],
    web_workers: int,
) -> None:
    """uvicorn on ``listener``: in this process, or in ``web_workers`` processes (each
    opening its own runtime from the same configuration: ``app_from_environment``)."""
    config = runtime.config
    options: dict[str, Any] = {
        "host": host, "port": port, "log_level": "info", "proxy_headers": False,
        "server_header": False, "date_header": False,  # the app writes Date (web.hardening)
        "access_log": config.http.access_log,
        "http": protocol(config.http.header_timeout.total_seconds()),
    }
    log.info("listening on http://%s:%d", host, port)
    if web_workers <= 1:
        with _interrupt_is_a_stop():
            uvicorn.Server(uvicorn.Config(web_app(runtime, roles), **options)).run(
                sockets=[listener])
        return
    from uvicorn.supervisors import Multiprocess

    if config.path is not None:
        os.environ["SUMMITCAL_CONFIG"] = str(config.path.resolve())
    os.environ[ROLES_ENV] = ",".join(roles)
    settings = uvicorn.Config(
        "summitcal.app.server:app_from_environment", factory=True, workers=web_workers, **options
    )
    with _interrupt_is_a_stop():
        Multiprocess(settings, sockets=[listener]).run()


def app_from_environment() -> FeedAnswers:
    """The web app of one ``summitcal web --workers N`` process: the configuration from
    ``$SUMMITCAL_CONFIG`` (set by the parent) and the environment, a runtime of its own."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    runtime = Runtime.open(load_config())
    roles = tuple(os.environ.get(ROLES_ENV, "web").split(","))
    return web_app(runtime, roles)


def web_app(runtime: Runtime, roles: tuple[str, ...] = ("web",)) -> FeedAnswers:
    """The web app of ``runtime`` as ``serve`` and ``web`` run it (``serving_app``: feed
    answers in front of FastAPI), its ``/metrics`` with the deployment's gauges read from
    the database (``summitcal.app.metrics.DeploymentCollector``)."""
    from summitcal.web.app import serving_app

    return serving_app(runtime, roles, [DeploymentCollector(runtime, roles)])


@contextmanager
def _interrupt_is_a_stop() -> Iterator[None]:
    """Ctrl-C while serving is a clean stop, as SIGTERM is: uvicorn shuts down gracefully
    on SIGINT, then raises it again (``KeyboardInterrupt``), which would end ``serve``
    with "aborted" and exit status 1 once the clock and delivery had stopped."""
    try:
        yield
    except KeyboardInterrupt:
        log.info("interrupted: stopping")


def _wait_for_stop() -> None:
    """Sleep until SIGTERM (``SystemExit`` from ``_exit_on_sigterm``) or Ctrl-C."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        log.info("interrupted: stopping")


def _exit_on_sigterm() -> Callable[[int, FrameType | None], Any] | int | None:
    """Make SIGTERM unwind (``SystemExit(0)``) rather than kill the process.

    uvicorn handles SIGTERM itself while it serves; after its graceful shutdown it puts the
    previous handler back and raises the signal again. With the default handler that
    would end the process before the clock and delivery are stopped.
    """
    if threading.current_thread() is not threading.main_thread():
        return None

    def stop(number: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    return signal.signal(signal.SIGTERM, stop)


def render_sources(runtime: Runtime) -> Sources:
    """What the renderers read, from ``runtime``: its engine, snapshot function and
    configuration."""
    return Sources(runtime.store.engine, runtime.snapshot, runtime.config)
