"""``/metrics``: HTTP requests counted by route and status (an ASGI middleware), the
other counters of ``summitcal.core.metrics`` (delivery, feed builds) and whatever
collectors the app is given (the shell gives the deployment's gauges read from the
database, ``summitcal.app.metrics``), in Prometheus text."""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client.registry import Collector

from summitcal.core.metrics import CONTENT_TYPE, HTTP_REQUESTS, exposition

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    """Counts requests; ``wrap`` is a plain ASGI middleware (cheap on the feed hot path).
    ``collectors`` are read at each scrape, after the process's own counters."""

    def __init__(self, collectors: Sequence[Collector] = ()) -> None:
        self.collectors = tuple(collectors)

    def wrap(self, app):
        async def middleware(scope, receive, send):
            if scope["type"] != "http":
                return await app(scope, receive, send)
            status = 500

            async def record(message):
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, record)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                HTTP_REQUESTS.labels(scope["method"], route, str(status)).inc()
        return middleware

    def render(self) -> bytes:
        """The Prometheus text exposition (``summitcal.core.metrics.exposition``)."""
        return exposition(*self.collectors)
