"""End to end: live edits survive a restart of ``summitcal serve`` (a real process, on
SQLite and PostgreSQL). With ``load_on_start`` (the default) every start loads the
schedule files; with the files unchanged that changes nothing and mails nobody."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import sqlalchemy as sa

from summitcal.mail.tables import outbox
from summitcal.summits.store import Store
from tests.serving import Server, cli

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "an-admin-token-for-the-restart-test"
DELAY = 1  # seconds: notices.delay


def write_config(folder: Path, database_url: str) -> Path:
    config = folder / "config.toml"
    config.write_text('[service]\nbase_url = "https://summitcal.test"\ndata_dir = "data"\n'
                      f'[database]\nurl = "{database_url}"\n'
                      f'[schedules]\npaths = ["{ROOT / "schedules"}"]\nload_on_start = true\n'
                      f'[notices]\ndelay = "PT{DELAY}S"\n')
    return config


def put_attendance(server: Server, session: str, body: dict) -> dict:
    request = urllib.request.Request(
        f"{server.base}/api/admin/sessions/{session}/attendance/putin", method="PUT",
        data=json.dumps(body).encode(), headers={"Authorization": f"Bearer {TOKEN}",
                                                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def queued(database_url: str) -> list[tuple[int, str, str]]:
    with Store(database_url) as store, store.engine.connect() as connection:
        return [tuple(r) for r in connection.execute(
            sa.select(outbox.c.id, outbox.c.kind, outbox.c.recipient).order_by(outbox.c.id))]


def wait_for(check, timeout: float):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    return check()


def test_regression_a_restart_keeps_live_edits_and_sends_nothing(tmp_path, database_url):
    config = write_config(tmp_path, database_url)
    env = {"SUMMITCAL_ADMIN_TOKEN": TOKEN}
    with Server(config, env=env) as server:
        added = cli("subscribers", "add", "desk@example.org", "--follow", "participant:putin",
                    "--timezone", "Europe/Moscow", "--confirmed", config=config)
        assert added.returncode == 0, added.stderr
        edited = cli("attendance", "astana-2024/sco-council", "putin", "video", "--note",
                     "Plans changed", config=config)
        assert edited.returncode == 0, edited.stderr
        answer = put_attendance(server, "astana-2024/putin-bilaterals",
                                {"mode": "absent", "note": "Flew home"})
        assert answer["revision"] == 3

        def notices() -> list:
            return [row for row in queued(database_url) if row[1] == "attendance_change"]

        assert wait_for(notices, timeout=30), "the live edits' notice was not queued"
        time.sleep(DELAY + 2)  # time for a second notice, were there one
        before = queued(database_url)
        revision = json.loads(server.get("/healthz")[2])["revision"]
        assert revision == 3

    with Server(config, env=env) as server:  # the restart: same files, load_on_start
        time.sleep(DELAY + 3)  # time for the clock to queue a notice, were there a change
        assert json.loads(server.get("/healthz")[2])["revision"] == revision
        sessions = json.loads(server.get("/api/sessions?summit=astana-2024")[2])
        assert {s["id"]: [(a["mode"], a["note"]) for a in s["attendance"]] for s in sessions} == {
            "sco-council": [("video", "Plans changed")],
            "putin-bilaterals": [("absent", "Flew home")]}

    assert queued(database_url) == before, "the restart must queue no message"
    assert "schedules loaded: no changes" in server.log.read_text()
