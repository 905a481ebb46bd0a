"""``GET /api/admin/outbox``: the outbox for operators, behind the admin bearer token."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from summitcal.mail import outbox
from summitcal.web.admin import _require_token
from summitcal.web.service import Service

Status = Literal["pending", "sending", "sent", "failed", "expired", "cancelled"]


class OutboxMessageOut(BaseModel):
    id: int
    kind: str
    key: str
    recipient: str
    subscriber_id: int | None
    topic: str | None
    payload: Any
    status: Status
    due_at: datetime
    expires_at: datetime | None
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_until: datetime | None
    last_error: str | None
    message_id: str | None
    sent_at: datetime | None
    created_at: datetime
    updated_at: datetime


def router(runtime: Service) -> APIRouter:
    routes = APIRouter(prefix="/api/admin", tags=["admin"],
                       dependencies=[Depends(_require_token(runtime))])

    @routes.get("/outbox", response_model=list[OutboxMessageOut])
    def outbox_messages(
        status: Annotated[Status | None, Query(description="Only this state.")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    ) -> list[OutboxMessageOut]:
        """The newest outbox messages, newest first: what is queued, sent, failed, expired."""
        messages = outbox.list_messages(runtime.store.engine, status, limit)
        return [OutboxMessageOut(**m.as_dict()) for m in messages]

    return routes
