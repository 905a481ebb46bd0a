"""``summitcal serve`` as a real process: the README's run command, and changes made by
the CLI in another process showing at once."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.serving import Server, cli

ROOT = Path(__file__).resolve().parents[1]


def write_config(folder: Path, database_url: str) -> Path:
    config = folder / "config.toml"
    config.write_text(f'[service]\nbase_url = "https://summitcal.test"\ndata_dir = "data"\n'
                      f'[database]\nurl = "{database_url}"\n'
                      f'[schedules]\npaths = ["{ROOT / "schedules"}"]\n')
    return config


def test_serve_loads_schedules_and_sees_cli_changes_at_once(tmp_path, database_url):
    config = write_config(tmp_path, database_url)
    with Server(config) as server:
        status, headers, body = server.get("/feeds/all.ics")
        assert status == 200 and body.count(b"BEGIN:VEVENT") == 5
        status, _, _ = server.get("/feeds/participants/putin.ics",
                                  {"If-None-Match": headers["etag"]})
        before = server.get("/feeds/participants/putin.ics")
        assert b"SCO Council of Heads of State (Putin: in person)" in before[2]
        done = cli("attendance", "astana-2024/sco-council", "putin", "video",
                   "--note", "Plans changed", config=config)
        assert done.returncode == 0, done.stderr
        after = server.get("/feeds/participants/putin.ics",
                           {"If-None-Match": before[1]["etag"]})
        assert after[0] == 200, "the change made by another process must show at once"
        assert b"SCO Council of Heads of State (Putin: video link)" in after[2]
        assert after[1]["etag"] != before[1]["etag"]


def test_serve_refuses_to_start_on_a_bad_config(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('[http]\nport = "eighty"\n')
    result = cli("serve", config=config)
    assert result.returncode == 1
    assert result.stderr.strip() == (f"error: {config}: http.port = 'eighty': expected an "
                                     "integer 1–65535")


def test_regression_ctrl_c_stops_serve_cleanly(tmp_path):
    """SIGINT (Ctrl-C) stopped ``serve`` gracefully, but it then printed "aborted" and
    exited with status 1 (uvicorn raises the signal again after its shutdown); it is a
    stop like SIGTERM: status 0, the feed pieces kept."""
    config = tmp_path / "config.toml"
    config.write_text(f'[service]\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[schedules]\npaths = ["{ROOT / "schedules"}"]\n')
    server = Server(config).start()
    assert server.get("/feeds/all.ics")[0] == 200
    assert server.process is not None
    server.process.send_signal(signal.SIGINT)
    assert server.process.wait(30) == 0
    log = server.log.read_text()
    assert "aborted" not in log and "interrupted: stopping" in log, log[-2000:]
    assert (tmp_path / "data" / "feed-pieces.bin").exists()
