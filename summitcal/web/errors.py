"""One JSON error shape for every error the HTTP app answers with:
``{"error": {"code": ..., "message": ..., "field": ...}}`` (``field`` when one is to blame).

Bad input is always a 4xx; only a bug in summitcal can give a 500, and it still has this
shape and no traceback. An unknown page (outside ``/api/`` and the machine paths, see
``web.hardening``) is a 404 HTML page instead, for the people who open it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cache
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment
from starlette.exceptions import HTTPException

from summitcal.core.errors import InvalidInput, NotFound, ScheduleError
from summitcal.core.templating import environment
from summitcal.web.hardening import wants_page

log = logging.getLogger("summitcal.web")

_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 406: "not_acceptable", 413: "too_large",
               415: "unsupported_media_type", 422: "invalid", 429: "too_many_requests"}


class ApiError(Exception):
    """An error answer chosen by a route: status, code, message, optional field."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field
        self.headers = headers


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None, **extra) -> JSONResponse:
    body: dict = {"code": code, "message": message}
    if field:
        body["field"] = field
    body.update(extra)
    return JSONResponse({"error": body}, status_code=status, headers=headers)


@cache
def _pages() -> Environment:
    return environment("web")


def not_found_page(what: str) -> HTMLResponse:
    """The HTML 404 page (for people; the API answers the JSON shape)."""
    body = _pages().get_template("not_found.html").render(what=what)
    return HTMLResponse(body, status_code=404)


def _field(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            return error_response(400, "invalid_json", "the request body is not valid JSON")
        field = _field(first.get("loc", ()))
        message = f"{field}: {first['msg']}" if field else str(first["msg"])
        return error_response(422, "invalid", message, field or None)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException):
        if exc.status_code == 404 and wants_page(request.url.path):
            return not_found_page(f"There is no page at {request.url.path}.")
        code = _HTTP_CODES.get(exc.status_code, "error")
        return error_response(exc.status_code, code, str(exc.detail),
                              headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound):
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(InvalidInput)
    async def _invalid(request: Request, exc: InvalidInput):
        return error_response(400, "invalid", str(exc), exc.field)

    @app.exception_handler(ScheduleError)
    async def _schedule(request: Request, exc: ScheduleError):
        problems = [{"file": p.file, "field": p.path, "message": p.message} for p in exc.problems]
        first = exc.problems[0]
        return error_response(400, "invalid_schedule",
                              f"{len(exc.problems)} problem(s); nothing applied. {first}",
                              first.path or None, problems=problems)

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception):
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, "internal", "internal error; it has been logged")
