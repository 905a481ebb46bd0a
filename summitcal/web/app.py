"""The HTTP app: feeds, JSON API, admin API, pages, health and metrics."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from summitcal import __version__
from summitcal.feeds import routes as feed_routes
from summitcal.web import admin, admin_outbox, api, docs, errors, hardening, pages, subscriptions
from summitcal.web.feed_answers import FeedAnswers
from summitcal.web.head import HeadAsGet
from summitcal.web.metrics import CONTENT_TYPE, Metrics
from summitcal.web.service import Service


class _Wrapped:
    """Adapter so a plain ASGI wrapper can be given to ``add_middleware``."""

    def __init__(self, app, wrap) -> None:
        self._app = wrap(app)

    async def __call__(self, scope, receive, send):
        await self._app(scope, receive, send)


def serving_app(runtime: Service, roles: tuple[str, ...] = ("web",),
                collectors: Sequence[Collector] = ()) -> FeedAnswers:
    """What ``serve`` and ``web`` run: ``create_app`` behind ``web.feed_answers``, which
    answers GETs of current public feeds before FastAPI (and its per-request work) with
    the same answers as its routes."""
    max_age = int(runtime.config.feeds.max_age.total_seconds())
    return FeedAnswers(create_app(runtime, roles, collectors), runtime.feeds, max_age)


def create_app(runtime: Service, roles: tuple[str, ...] = ("web",),
               collectors: Sequence[Collector] = ()) -> FastAPI:
    """The app for ``runtime``; ``roles`` are what this process runs (``/healthz``):
    ``web`` alone, or with ``scheduler`` and ``worker`` under ``serve``. ``/metrics``
    shows the process's counters and what ``collectors`` yield at each scrape (the shell
    gives the deployment's gauges: ``summitcal.app.server.web_app``)."""
    app = FastAPI(
        title="summitcal",
        version=__version__,
        description="Summit schedules as timezone-correct calendar feeds.",
        docs_url=None,  # web.docs serves /docs with Swagger UI's files from this process
        redoc_url=None,
    )
    app.state.runtime = runtime
    errors.install(app)
    hardening.install_unknown_paths(app, runtime.config.service.base_url)
    metrics = Metrics(collectors, routes=lambda: app.routes)
    app.add_middleware(HeadAsGet)  # inside the metrics, which count HEAD as HEAD
    app.add_middleware(_Wrapped, wrap=metrics.wrap)
    app.add_middleware(_Wrapped, wrap=hardening.security_headers)
    max_age = int(runtime.config.feeds.max_age.total_seconds())
    app.include_router(subscriptions.router(runtime))  # before feeds: /feeds/private/…
    app.include_router(feed_routes.router(runtime.feeds, max_age))
    app.include_router(api.router(runtime))
    app.include_router(admin.router(runtime))
    app.include_router(admin_outbox.router(runtime))
    app.include_router(pages.router(runtime))
    docs.install(app)  # before /static: it mounts /static/swagger-ui
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")

    @app.get("/healthz", tags=["service"])
    def healthz() -> JSONResponse:
        """The roles this process runs and whether it reaches the database: 200 with the
        current revision, or 503 with ``"database": "unreachable"``."""
        try:
            revision = runtime.store.version()
        except SQLAlchemyError:
            return JSONResponse({"status": "unavailable", "roles": list(roles),
                                 "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "roles": list(roles), "database": "ok",
                             "revision": revision})

    @app.get("/metrics", tags=["service"], response_class=Response)
    def prometheus() -> Response:
        """Prometheus text exposition (``summitcal.web.metrics``)."""
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    return app
