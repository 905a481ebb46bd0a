"""HTML pages. For now: ``/``, the summits and their feeds with webcal and https links."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from summitcal.runtime import Runtime
from summitcal.templating import environment
from web.schemas import feed_links


def feed_list(runtime: Runtime) -> list[dict]:
    schedule = runtime.snapshot().schedule
    base = runtime.config.service.base_url
    feeds = [{"title": "Every session", "links": feed_links(base, "/feeds/all.ics")}]
    for summit in sorted(schedule.summits.values(), key=lambda s: s.id):
        feeds.append({"title": summit.name,
                      "links": feed_links(base, f"/feeds/summits/{summit.id}.ics")})
    for org in sorted(schedule.organizations.values(), key=lambda o: o.id):
        feeds.append({"title": f"Sessions of the {org.name}",
                      "links": feed_links(base, f"/feeds/organizations/{org.id}.ics")})
    for person in sorted(schedule.participants.values(), key=lambda p: p.id):
        feeds.append({"title": f"Sessions with {person.name}",
                      "links": feed_links(base, f"/feeds/participants/{person.id}.ics")})
    return feeds


def router(runtime: Runtime) -> APIRouter:
    routes = APIRouter(tags=["pages"], include_in_schema=False)
    template = environment("web").get_template("index.html")

    @routes.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(template.render(feeds=feed_list(runtime)))

    return routes
