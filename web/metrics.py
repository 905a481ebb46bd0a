"""Prometheus text metrics: requests by route and status, the current revision, and
subscribers by status (``bouncing`` among them: addresses no longer mailed)."""

from __future__ import annotations

import threading
from collections import Counter

from summits import subscribers


class Metrics:
    """Counts requests; ``wrap`` is a plain ASGI middleware (cheap on the feed hot path)."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self._lock = threading.Lock()

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
                with self._lock:
                    self.requests[(scope["method"], route, status)] += 1
        return middleware

    def render(self) -> str:
        lines = ["# HELP summitcal_http_requests_total HTTP requests by route and status.",
                 "# TYPE summitcal_http_requests_total counter"]
        with self._lock:
            items = sorted(self.requests.items())
        for (method, path, status), count in items:
            lines.append(f'summitcal_http_requests_total{{method="{method}",route="{path}",'
                         f'status="{status}"}} {count}')
        lines += ["# HELP summitcal_revision Latest schedule revision in the database.",
                  "# TYPE summitcal_revision gauge",
                  f"summitcal_revision {self.runtime.store.version()}"]
        with self.runtime.store.engine.connect() as connection:
            by_status = subscribers.counts(connection)
        lines += ["# HELP summitcal_subscribers Subscribers by status (bouncing: permanent "
                  "refusals reached mail.bounce_threshold; not mailed until they confirm).",
                  "# TYPE summitcal_subscribers gauge"]
        lines += [f'summitcal_subscribers{{status="{status}"}} {count}'
                  for status, count in by_status.items()]
        return "\n".join(lines) + "\n"
