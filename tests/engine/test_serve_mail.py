"""End to end: ``summitcal serve`` as a subprocess sending to an aiosmtpd sink, while other
``summitcal`` processes add subscribers and load schedules (changes reach the running
clock through the shared database).

- The Dushanbe replay: Putin switches from in person to a video link for the three
  Dushanbe sessions; his follower gets exactly one attendance notice listing them, a
  follower of the Astana summit gets nothing.
- A reminder in real time: a session two minutes ahead in Dushanbe, a reminder one
  minute before, read in Kolkata (UTC+5:30); it arrives within seconds of its time with
  both time phrases right and an .ics attachment with the feed's UID and DTSTART.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
from babel.dates import format_date

from tests.engine.conftest import Sink, text_of
from tests.serving import Server, cli

ROOT = Path(__file__).resolve().parents[2]
DELAY = 2  # seconds: notices.delay in these tests


def write_config(folder: Path, database_url: str, sink: Sink, paths: list[Path]) -> Path:
    config = folder / "config.toml"
    listed = ", ".join(f'"{p}"' for p in paths)
    config.write_text(
        '[service]\nbase_url = "https://summitcal.test"\ndata_dir = "data"\n'
        f'[database]\nurl = "{database_url}"\n'
        f'[schedules]\npaths = [{listed}]\nload_on_start = true\n'
        f'[notices]\ndelay = "PT{DELAY}S"\n'
        '[mail]\ntransport = "smtp"\nfrom = "summitcal <summitcal@summitcal.test>"\n'
        f'[mail.smtp]\nhost = "127.0.0.1"\nport = {sink.port}\ntimeout = "PT10S"\n')
    return config


def run(config: Path, *argv: str) -> str:
    done = cli(*argv, config=config)
    assert done.returncode == 0, f"summitcal {' '.join(argv)}: {done.stderr}"
    return done.stdout


def subjects(sink: Sink, address: str) -> list[str]:
    return [str(a.message["Subject"]) for a in sink.to(address)]


def test_the_dushanbe_replay_sends_one_attendance_notice(tmp_path, database_url, sink):
    config = write_config(tmp_path, database_url, sink, [ROOT / "schedules" / "astana-2024.toml"])
    with Server(config) as server:
        run(config, "subscribers", "add", "a@example.org", "--follow", "participant:putin",
            "--timezone", "Europe/Moscow", "--confirmed")
        run(config, "subscribers", "add", "b@example.org", "--follow", "summit:astana-2024",
            "--timezone", "Asia/Almaty", "--confirmed")
        run(config, "load", str(ROOT / "history" / "dushanbe-2021-before-announcement.toml"))
        changes = run(config, "load", str(ROOT / "schedules"))
        assert changes.count("attendance changed putin in_person -> video") == 3

        def notice() -> list[str]:
            return [s for s in subjects(sink, "a@example.org") if s.startswith("Attendance")]

        assert sink.wait_for(notice, timeout=30), "no attendance notice within 30 s"
        time.sleep(DELAY + 3)  # time enough for a second message, were there one

    assert server.process is not None and server.process.returncode == 0  # SIGTERM: clean
    log = server.log.read_text()
    assert "clock started: jobs dispatch, housekeeping, wakeup" in log
    assert "clock stopped" in log and "Traceback" not in log
    welcome = "Welcome to summitcal"
    assert [s for s in subjects(sink, "a@example.org") if s != welcome] == [
        "Attendance change: Vladimir Putin — video link instead of in person (3 sessions)"]
    assert [s for s in subjects(sink, "b@example.org") if s != welcome] == []
    (mail,) = [a.message for a in sink.to("a@example.org") if a.message["Subject"] != welcome]
    text = " ".join(text_of(mail).split())
    for title in ("Session of the CSTO Collective Security Council",
                  "SCO Council of Heads of State",
                  "Joint meeting of the Heads of State of the CSTO and SCO member states"):
        assert title in text
    assert text.count("Vladimir Putin (President of Russia): video link instead of "
                      "in person") == 3
    assert text.count("Self-isolation after cases of coronavirus were detected in his "
                      "entourage") == 3
    assert "Thursday 16 September 2021, all day (Dushanbe)" in text


def test_a_reminder_arrives_on_time_with_both_times_and_the_event(tmp_path, sink):
    venue, reader = ZoneInfo("Asia/Dushanbe"), ZoneInfo("Asia/Kolkata")
    start = (datetime.now(UTC) + timedelta(seconds=100)).replace(second=0, microsecond=0)
    if start - datetime.now(UTC) < timedelta(seconds=75):
        start += timedelta(minutes=1)  # about two minutes ahead, on a whole minute
    local = start.astimezone(venue)
    schedule = tmp_path / "soon.toml"
    schedule.write_text(
        '[summit]\nid = "soon-2030"\nname = "A summit starting soon"\ncity = "Dushanbe"\n'
        'country = "Tajikistan"\ntimezone = "Asia/Dushanbe"\n\n'
        '[[sessions]]\nid = "opening"\ntitle = "Opening session"\n'
        f'start = {local.replace(tzinfo=None).isoformat()}\n')
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'data' / 'summitcal.db'}", sink,
                          [schedule])
    due = start - timedelta(minutes=1)
    with Server(config):
        run(config, "subscribers", "add", "reader@example.org", "--follow",
            "session:soon-2030/opening", "--reminder", "PT1M", "--timezone", "Asia/Kolkata",
            "--confirmed")

        def reminder() -> list:
            return [a for a in sink.to("reader@example.org")
                    if str(a.message["Subject"]).startswith("In 1 minute")]

        wait = (due - datetime.now(UTC)).total_seconds() + 10
        arrived = sink.wait_for(reminder, timeout=max(wait, 10))
    assert arrived, "no reminder arrived"
    (found,) = arrived
    late = found.at - due.timestamp()
    print(f"reminder arrived {late * 1000:.0f} ms after its due time")
    assert 0 <= late < 3

    mail = found.message
    assert mail["Subject"] == "In 1 minute: Opening session, Dushanbe"
    text = " ".join(text_of(mail).split())
    mine = start.astimezone(reader)
    day = format_date(local.date(), "EEEE d MMMM y", locale="en")
    venue_part = f"{day}, {local:%H:%M} Dushanbe (UTC+5)"
    mine_day = "" if mine.date() == local.date() else " " + format_date(
        mine.date(), "EEEE d MMMM", locale="en")
    reader_part = f"{mine:%H:%M}{mine_day} your time (Asia/Kolkata, UTC+5:30)"
    assert f"{venue_part} — {reader_part}" in text

    (attachment,) = list(mail.iter_attachments())
    assert attachment.get_content_type() == "text/calendar"
    (event,) = icalendar.Calendar.from_ical(attachment.get_content()).walk("VEVENT")
    assert str(event["UID"]) == "soon-2030-opening@summitcal.test"
    assert event.decoded("DTSTART") == start
    assert event.decoded("DTSTART").utcoffset() == timedelta(hours=5)
