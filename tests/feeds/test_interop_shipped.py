"""The shipped schedules, through the store and the HTTP app, read by all four parsers.

Every feed the service offers for them (all, each summit, each organisation, each
participant) gives the all-day dates below in icalendar, ical, vobject and ical.js."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.web.app import create_app
from tests.feeds.parsers import PARSERS

ROOT = Path(__file__).resolve().parents[2]

# Written by hand from the seeds: DTEND is the day after the last day (exclusive).
DAYS = {
    "dushanbe-2021-csto-council": ("2021-09-16", "2021-09-17"),
    "dushanbe-2021-sco-council": ("2021-09-17", "2021-09-18"),
    "dushanbe-2021-csto-sco-joint": ("2021-09-16", "2021-09-18"),
    "astana-2024-sco-council": ("2024-07-03", "2024-07-05"),
    "astana-2024-putin-bilaterals": ("2024-07-03", "2024-07-05"),
}
FEEDS = {
    "all": set(DAYS),
    "summits/dushanbe-2021": {k for k in DAYS if k.startswith("dushanbe")},
    "summits/astana-2024": {k for k in DAYS if k.startswith("astana")},
    "organizations/csto": {"dushanbe-2021-csto-council", "dushanbe-2021-csto-sco-joint"},
    "organizations/sco": set(DAYS) - {"dushanbe-2021-csto-council"},
    "participants/putin": set(DAYS),
}


@pytest.fixture(scope="module")
def feeds(tmp_path_factory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("shipped")
    config = folder / "config.toml"
    config.write_text(f'[service]\nbase_url = "https://summitcal.test"\n'
                      f'[database]\nurl = "sqlite:///{folder / "db.sqlite3"}"\n')
    runtime = Runtime.open(load_config(config, env={}))
    runtime.load([ROOT / "history" / "dushanbe-2021-before-announcement.toml"])
    runtime.load([ROOT / "schedules"])
    with TestClient(create_app(runtime)) as client:
        got = {name: client.get(f"/feeds/{name}.ics").content for name in FEEDS}
    runtime.close()
    return got


@pytest.mark.parametrize("parser", [
    pytest.param(name, marks=[pytest.mark.node] if name == "ical.js" else [])
    for name in PARSERS])
@pytest.mark.parametrize("feed", list(FEEDS))
def test_shipped_feed_dates_in_every_parser(feeds, parser, feed):
    events = PARSERS[parser](feeds[feed])
    got = {e.uid.split("@")[0]: (e.start, e.end) for e in events}
    assert set(got) == FEEDS[feed]
    assert got == {uid: DAYS[uid] for uid in got}
    if feed == "participants/putin" and parser != "icalendar+vtimezone":  # times only
        summaries = {e.uid.split("@")[0]: e.summary for e in events}
        assert summaries["dushanbe-2021-sco-council"] == "SCO Council of Heads of State (Putin: video link)"
        assert summaries["astana-2024-sco-council"] == "SCO Council of Heads of State (Putin: in person)"
