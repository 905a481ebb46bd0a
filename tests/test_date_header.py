"""Date and Last-Modified over a real server (RFC 9110 §6.6.1, §8.8.2.1): every response has
one Date, and a feed's Last-Modified is never later than the Date of the response that
carries it — also in the second right after a change, when uvicorn's own Date (refreshed
about once a second by its main loop) used to lag the clock and read earlier."""

from __future__ import annotations

import json
import urllib.request
from email.utils import parsedate_to_datetime
from pathlib import Path

from tests.serving import Server
from tests.test_restart import TOKEN, write_config

EDITS = ({"mode": "video", "note": "Plans changed"}, {"mode": "in_person"})


def _put(server: Server, body: dict) -> None:
    request = urllib.request.Request(
        f"{server.base}/api/admin/sessions/astana-2024/sco-council/attendance/putin",
        method="PUT", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):
        pass


def test_regression_last_modified_is_never_after_date(tmp_path: Path, database_url: str):
    config = write_config(tmp_path, database_url)
    env = {"SUMMITCAL_ADMIN_TOKEN": TOKEN}
    with Server(config, env=env) as server:
        for attempt in range(12):
            _put(server, EDITS[attempt % 2])
            for path in ("/feeds/summits/astana-2024.ics", "/feeds/all.ics"):
                status, headers, _ = server.get(path)
                assert status == 200
                dates = [v for k, v in headers.items() if k.lower() == "date"]
                assert len(dates) == 1, headers
                modified = parsedate_to_datetime(headers["last-modified"])
                assert modified <= parsedate_to_datetime(dates[0]), (path, headers)
                status, again, _ = server.get(path, {"If-None-Match": headers["etag"]})
                assert status == 304 and "date" in {k.lower() for k in again}
        status, headers, _ = server.get("/")
        assert status == 200 and "date" in {k.lower() for k in headers}
