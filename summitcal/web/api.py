"""The public JSON API: summits and sessions."""

from __future__ import annotations

from fastapi import APIRouter, Query

from summitcal.core.errors import NotFound
from summitcal.web.schemas import SessionOut, SummitDetail, SummitOut, session_out, summit_out
from summitcal.web.service import Service


def router(runtime: Service) -> APIRouter:
    routes = APIRouter(prefix="/api", tags=["public"])
    base_url = runtime.config.service.base_url

    @routes.get("/summits", response_model=list[SummitOut])
    def summits() -> list[SummitOut]:
        schedule = runtime.snapshot().schedule
        items = [summit_out(s, schedule, base_url) for s in schedule.summits.values()]
        return sorted(items, key=lambda s: (s.first_day is None, s.first_day, s.id))

    @routes.get("/summits/{summit_id}", response_model=SummitDetail)
    def summit(summit_id: str) -> SummitDetail:
        schedule = runtime.snapshot().schedule
        found = schedule.summits.get(summit_id)
        if found is None:
            raise NotFound("summit", summit_id)
        sessions = sorted(schedule.sessions_of(summit_id), key=_order)
        return SummitDetail(**summit_out(found, schedule, base_url).model_dump(),
                            sessions=[session_out(s, schedule) for s in sessions])

    @routes.get("/sessions", response_model=list[SessionOut])
    def sessions(summit: str | None = Query(None, max_length=200),
                 participant: str | None = Query(None, max_length=200),
                 organization: str | None = Query(None, max_length=200)) -> list[SessionOut]:
        schedule = runtime.snapshot().schedule
        for kind, ident, known in (("summit", summit, schedule.summits),
                                   ("participant", participant, schedule.participants),
                                   ("organisation", organization, schedule.organizations)):
            if ident is not None and ident not in known:
                raise NotFound(kind, ident)
        chosen = [s for s in schedule.sessions.values()
                  if (summit is None or s.summit == summit)
                  and (participant is None or s.attendance_of(participant) is not None)
                  and (organization is None or organization in s.organizations)]
        return [session_out(s, schedule) for s in sorted(chosen, key=_order)]

    return routes


def _order(session):
    return (session.starts_at, session.summit, session.id)
