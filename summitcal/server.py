"""``summitcal serve``: the web app on uvicorn, with the schedules loaded at start-up."""

from __future__ import annotations

import logging

import uvicorn

from summitcal.config import Config
from summitcal.runtime import Runtime

log = logging.getLogger("summitcal")


def serve(config: Config, host: str | None = None, port: int | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = Runtime.open(config)
    if config.schedules.load_on_start:
        result = runtime.load(config.schedules.paths, source="serve start-up")
        log.info("schedules loaded: %s", f"revision {result.revision}, {len(result.changes)} "
                 "change(s)" if result.changes else "no changes")
    from web.app import create_app

    app = create_app(runtime)
    try:
        uvicorn.run(app, host=host or config.http.host, port=port or config.http.port,
                    log_level="info", proxy_headers=False, server_header=False)
    finally:
        runtime.close()
