"""``summitcal serve``: the web app on uvicorn, with the schedules loaded at start-up, the
clock (reminder plans, change notices) and delivery (the outbox's workers) beside it.

Start-up order: everything that can be checked first (the environment, see
``summitcal.preflight``; the email templates: a broken template stops the boot, not a
reminder at 3 a.m.), then the port is bound (a busy port stops here, before any work),
the secret key made, the database opened and migrated, the schedules loaded, delivery
and the clock started, and HTTP served on the bound socket (feed pieces kept by the last
clean stop are restored first, and /feeds/all.ics is built in the background while
serving starts: ``feeds.kept``). Any failure up to there is
one line and exit status 1 (``StartupError`` and the other ``SummitcalError``). On
shutdown (SIGTERM, Ctrl-C) uvicorn returns and the clock stops first (no new rows), then
delivery (messages in flight finish, the rest are given back), and the feed pieces are
kept in the data folder for the next start.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from types import FrameType

import uvicorn

from feeds.kept import keep, restore
from scheduler.clock import Clock
from scheduler.compose import check_templates
from scheduler.delivery import Composer, Delivery, Renderer, default_renderers
from summitcal import preflight
from summitcal.config import Config
from summitcal.http_server import listen, protocol
from summitcal.runtime import Runtime
from summits.subscribers import SignUpLimits

log = logging.getLogger("summitcal")
PIECES_FILE = "feed-pieces.pickle"  # in service.data_dir: see feeds.kept


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    """Run everything in this process until SIGTERM or Ctrl-C (see the module doc)."""
    preflight.check(config)
    composed = check_templates(config.service.base_url)
    host, port = host or config.http.host, port or config.http.port
    listener = listen(host, port)
    # Logging from here on: a start refused above is its error lines alone.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # a line per tick otherwise
    log.info("email templates checked: %d sample messages composed", composed)
    try:
        config.secret_key()  # made now, once, rather than by the first renders at once
        runtime = Runtime.open(config)
        kept = config.service.data_dir / PIECES_FILE
        try:
            log.info("feed pieces restored: %d", restore(runtime.feeds.builder, kept))
            if config.schedules.load_on_start:
                _load(runtime)
            _warm(runtime)
            _run(runtime, listener, host, port)
        finally:
            try:
                log.info("feed pieces kept: %d", keep(runtime.feeds.builder, kept))
            except OSError as exc:
                log.warning("feed pieces not kept in %s: %s", kept, exc.strerror)
            runtime.close()
    finally:
        listener.close()


def _warm(runtime: Runtime) -> None:
    """Build /feeds/all.ics and its gzip form in the background while serving starts (a
    request for it meanwhile waits for this build instead of making its own)."""

    def build() -> None:
        try:
            runtime.feeds.get("all").gzipped
        except Exception:  # the first request will build it (and report) as usual
            log.exception("warming /feeds/all.ics failed")

    threading.Thread(target=build, name="warm-feeds", daemon=True).start()


def _load(runtime: Runtime) -> None:
    result = runtime.load(runtime.config.schedules.paths, source="serve start-up")
    for override in result.overrides:
        log.warning("schedule file overrides a live edit: %s", override)
    log.info("schedules loaded: %s", f"revision {result.revision}, "
             f"{len(result.changes)} change(s)" if result.changes else "no changes")


def _run(runtime: Runtime, listener: socket.socket, host: str, port: int) -> None:
    from web.app import create_app

    config = runtime.config
    delivery = Delivery(runtime.store.engine, config, Composer(renderers(runtime)))
    clock = Clock(runtime.store, config.notices.delay, wake=delivery.wake,
                  sign_up_limits=SignUpLimits.from_config(config))
    server = uvicorn.Server(uvicorn.Config(
        create_app(runtime), host=host, port=port, log_level="info", proxy_headers=False,
        server_header=False, http=protocol(config.http.header_timeout.total_seconds())))
    previous = _exit_on_sigterm()
    delivery.start()
    try:
        clock.start()
        try:
            log.info("listening on http://%s:%d", host, port)
            server.run(sockets=[listener])
        finally:
            clock.stop()
    finally:
        delivery.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _exit_on_sigterm() -> signal.Handlers | object | None:
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


def renderers(runtime: Runtime) -> dict[str, Renderer]:
    """Every kind's renderer: ``default_renderers`` plus the clock's kinds (reminders and
    change notices), should that list not have them yet."""
    from scheduler.notices import MESSAGE_KINDS, notice_renderer
    from scheduler.plans import reminder_renderer

    found = default_renderers(runtime)
    found.setdefault("reminder", reminder_renderer(runtime))
    for kind in MESSAGE_KINDS:
        found.setdefault(kind, notice_renderer(runtime))
    return found
