"""``/metrics``: HTTP requests counted by route and status (an ASGI middleware), the
other counters of ``summitcal.core.metrics`` (delivery, feed builds) and whatever
collectors the app is given (the shell gives the deployment's gauges read from the
database, ``summitcal.app.metrics``), in Prometheus text."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match

from summitcal.core.metrics import CONTENT_TYPE, HTTP_REQUESTS, exposition

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    """Counts requests; ``wrap`` is a plain ASGI middleware (cheap on the feed hot path).
    ``collectors`` are read at each scrape, after the process's own counters.

    A request is labelled with its route's path template: the one FastAPI's routes leave
    in the scope, else the first of ``routes()`` (the app's route table: Starlette's own
    routes such as ``/openapi.json``, mounts such as ``/static``) whose path matches;
    ``unmatched`` only for a path no route has (a bounded label set either way)."""

    def __init__(self, collectors: Sequence[Collector] = (),
                 routes: Callable[[], Sequence[BaseRoute]] = tuple) -> None:
        self.collectors = tuple(collectors)
        self.routes = routes

    def wrap(self, app):
        async def middleware(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            status = 500
            # As the request came: routing (and HEAD answered as GET) change the scope.
            method, path = scope["method"], scope["path"]
            root_path = scope.get("root_path", "")

            async def record(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, record)
            finally:
                found = scope.get("route")
                route = (found.path if found is not None
                         else self._route_for(path, root_path))
                HTTP_REQUESTS.labels(method, route, str(status)).inc()
        return middleware

    def _route_for(self, path: str, root_path: str) -> str:
        probe = {"type": "http", "method": "GET", "path": path, "root_path": root_path}
        for route in self.routes():
            match, child = route.matches(probe)
            if match is not Match.NONE:
                # An included router answers with the route it matched in the child scope.
                found = child.get("route", route)
                return getattr(found, "path", None) or "unmatched"
        return "unmatched"

    def render(self) -> bytes:
        """The Prometheus text exposition (``summitcal.core.metrics.exposition``)."""
        return exposition(*self.collectors)
