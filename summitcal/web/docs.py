"""``/docs``: the API browsable in Swagger UI, with every asset served by us.

FastAPI's own ``/docs`` loads Swagger UI's script and stylesheet from a CDN (and its
favicon from FastAPI's site), so the page is blank on a machine without internet access
and the policy had to allow those hosts. This follows FastAPI's documented recipe for
self-hosting the docs' assets ("Custom Docs UI Static Assets", ``get_swagger_ui_html``
and ``get_swagger_ui_oauth2_redirect_html``), with the files from the ``fastapi-offline``
package: a maintained PyPI package whose wheel ships Swagger UI's dist files
(``swagger-ui-bundle.js``, ``swagger-ui.css``, a favicon) and tracks Swagger UI's
releases. We use its files only, not its ``FastAPIOffline`` app factory.

Routes: ``GET /docs``, ``GET /docs/oauth2-redirect`` and the assets under
``/static/swagger-ui/``. Nothing on the page comes from another origin; the page's
one inline script (Swagger UI's set-up, written by ``get_swagger_ui_html``) is why
``/docs`` has a policy of its own (``web.hardening.DOCS_POLICY``).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
OAUTH2_REDIRECT_URL = "/docs/oauth2-redirect"
ASSETS_URL = "/static/swagger-ui"
#: Swagger UI's dist files, as the fastapi-offline wheel installs them.
ASSETS = Path(str(files("fastapi_offline") / "static"))


def install(app: FastAPI) -> None:
    """Add ``/docs``, its OAuth2 redirect page and its assets to ``app`` (created with
    ``docs_url=None``). Call it before mounting anything at ``/static``: the first
    matching mount answers."""
    if not (ASSETS / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"Swagger UI's files are missing from {ASSETS} "
                           "(pip install fastapi-offline)")
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="swagger-ui")
    title = f"{app.title} — API"
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get(DOCS_URL, include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=title,
            oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
            # No badge image from validator.swagger.io: nothing from another origin.
            swagger_ui_parameters={"validatorUrl": None})

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
