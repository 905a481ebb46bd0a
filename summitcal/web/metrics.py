"""``/metrics``: HTTP requests counted by route and status (an ASGI middleware), and the
rest of ``summitcal.app.metrics`` (the deployment's gauges read from the database, delivery
and feed counters), in Prometheus text."""

from __future__ import annotations

from summitcal.app.metrics import CONTENT_TYPE, HTTP_REQUESTS, exposition

__all__ = ["CONTENT_TYPE", "Metrics"]


class Metrics:
    """Counts requests; ``wrap`` is a plain ASGI middleware (cheap on the feed hot path).
    ``roles`` are this process's (``web``, and ``scheduler``/``worker`` under ``serve``)."""

    def __init__(self, runtime, roles: tuple[str, ...] = ("web",)) -> None:
        self.runtime = runtime
        self.roles = roles

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
        """The Prometheus text exposition (``summitcal.app.metrics.exposition``)."""
        return exposition(self.runtime, self.roles)
