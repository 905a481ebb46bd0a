"""The multi-year inputs that once read an hour off, through the whole service.

Each file in ``tests/data/cases/`` (copies of the team's shared failing inputs) states its
right UTC instants in its opening comment, as ``session-id YYYY-MM-DDTHH:MM:SSZ`` pairs.
The file is loaded into a store, its summit feed fetched over the HTTP app, and every
parser must read every session at the stated instant:

* ``madrid-two-summers.toml``: ical.js (and libical) dropped an observance's DTSTART onset
  when it also had RDATEs, putting summer 2023 an hour late;
* ``casablanca-ramadan-2023.toml``: the VTIMEZONE lacked Morocco's 2023 Ramadan change.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.web.app import create_app
from tests.feeds.parsers import PARSERS

CASES = Path(__file__).resolve().parents[1] / "data" / "cases"
FILES = ["madrid-two-summers.toml", "casablanca-ramadan-2023.toml"]
INSTANT = re.compile(r"([a-z0-9][a-z0-9-]*) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)")


def stated_instants(path: Path) -> dict[str, str]:
    """``{session id: UTC instant}`` from the file's opening comment."""
    comment = "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))
    return dict(INSTANT.findall(comment))


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    folder = tmp_path_factory.mktemp("cases")
    config = folder / "config.toml"
    config.write_text(
        '[service]\nbase_url = "https://summitcal.test"\n'
        f'[database]\nurl = "sqlite:///{folder / "db.sqlite3"}"\n'
    )
    runtime = Runtime.open(load_config(config, env={}))
    runtime.load([CASES / name for name in FILES])
    got = {}
    with TestClient(create_app(runtime)) as client:
        for name in FILES:
            summit = tomllib.loads((CASES / name).read_text())["summit"]["id"]
            response = client.get(f"/feeds/summits/{summit}.ics")
            assert response.status_code == 200
            got[name] = response.content
    runtime.close()
    return got


def test_every_case_states_an_instant_for_each_session() -> None:
    for name in FILES:
        sessions = tomllib.loads((CASES / name).read_text())["sessions"]
        assert set(stated_instants(CASES / name)) == {s["id"] for s in sessions}


@pytest.mark.parametrize(
    "parser",
    [pytest.param(p, marks=[pytest.mark.node] if p == "ical.js" else []) for p in PARSERS],
)
@pytest.mark.parametrize("name", FILES)
def test_case_reads_at_its_stated_instants(feeds: dict[str, bytes], parser: str, name: str) -> None:
    events = PARSERS[parser](feeds[name])
    got = {event.summary: event.start for event in events}
    sessions = tomllib.loads((CASES / name).read_text())["sessions"]
    titles = {s["id"]: s["title"] for s in sessions}
    want = stated_instants(CASES / name)
    assert {ident: got.get(titles[ident]) for ident in want} == want
