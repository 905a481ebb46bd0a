"""The admin API, behind ``Authorization: Bearer $SUMMITCAL_ADMIN_TOKEN``."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from summitcal.summits.model import Attendance, AttendanceMode
from summitcal.web.errors import ApiError
from summitcal.web.schemas import ApplyResult, AttendanceIn, ChangeOut
from summitcal.web.service import Service

MAX_SCHEDULE_BYTES = 1_000_000


def _require_token(runtime: Service):
    def check(request: Request) -> None:
        token = runtime.config.admin_token
        if not token:
            raise ApiError(403, "admin_disabled",
                           "the admin API is off: set SUMMITCAL_ADMIN_TOKEN to enable it")
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.encode()):
            raise ApiError(401, "unauthorized", "missing or wrong bearer token",
                           headers={"WWW-Authenticate": 'Bearer realm="summitcal admin"'})
    return check


def _result(result, dry_run: bool = False) -> ApplyResult:
    return ApplyResult(revision=result.revision, dry_run=dry_run, changes=[
        ChangeOut(kind=c.kind, summit=c.summit, session=c.session, participant=c.participant,
                  organization=c.organization,
                  field=c.field, old=c.old, new=c.new, note=c.note, text=str(c))
        for c in result.changes])


def router(runtime: Service) -> APIRouter:
    routes = APIRouter(prefix="/api/admin", tags=["admin"],
                       dependencies=[Depends(_require_token(runtime))])

    @routes.post("/schedules", response_model=ApplyResult, openapi_extra={
        "requestBody": {"required": True, "content": {"application/toml": {
            "schema": {"type": "string"}}}}})
    async def schedules(request: Request, dry_run: bool = Query(False)) -> ApplyResult:
        """Check and apply one schedule file (TOML body), exactly as `summitcal load`."""
        body = await request.body()
        if len(body) > MAX_SCHEDULE_BYTES:
            raise ApiError(413, "too_large", f"schedule larger than {MAX_SCHEDULE_BYTES} bytes")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise ApiError(400, "invalid", "the body is not UTF-8 text") from None
        result = await run_in_threadpool(runtime.load_text, text, dry_run=dry_run,
                                         source="api schedules")
        return _result(result, dry_run)

    @routes.put("/sessions/{summit}/{session}/attendance/{participant}",
                response_model=ApplyResult)
    def attendance(summit: str, session: str, participant: str,
                   payload: AttendanceIn) -> ApplyResult:
        """Record how a participant attends a session."""
        item = Attendance(participant, AttendanceMode(payload.mode), payload.delegate, payload.note,
                          payload.announced)
        return _result(runtime.set_attendance(summit, session, item, source="api attendance"))

    return routes
