"""End to end on PostgreSQL, with real processes: two ``summitcal scheduler``, two
``summitcal worker`` and a ``summitcal web --workers 2`` on one fresh database, and an SMTP
sink (aiosmtpd) in a process of its own. 2,000 reminders fall due at one instant; in the
middle of sending them the active scheduler and one worker are killed (SIGKILL).

Every recipient gets each reminder once, or twice with the same Message-ID (a worker
killed between the server's acceptance and its record); the standby scheduler leads
within 5 s (measured and printed) and fires the plan that falls due after the kill; the
killed worker's claims are sent by the other within its short lease.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from summitcal.app.election import lock_state, lock_tag
from summitcal.app.presence import deployment
from summitcal.core import database
from summitcal.mail.tables import outbox
from summitcal.subscriptions import tables as st
from summitcal.summits.model import Schedule, Session, Summit
from summitcal.summits.store import Store
from tests.serving import SCRIPT, free_port

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parents[1]
COUNT = 2000  # follow session A: due at one instant
LATER = 300  # of them also follow session B, due after the kill
OFFSET = timedelta(hours=1)
SUMMIT = "failover-2031"
TAKEOVER_LIMIT = 5.0


def write_config(folder: Path, url: str, smtp_port: int, http_port: int) -> Path:
    config = folder / "config.toml"
    config.write_text(
        '[service]\nbase_url = "https://summitcal.test"\ndata_dir = "data"\n'
        f'[http]\nport = {http_port}\n'
        f'[database]\nurl = "{url}"\n'
        '[schedules]\nload_on_start = false\n'
        '[mail]\ntransport = "smtp"\nfrom = "summitcal <summitcal@summitcal.test>"\n'
        f'[mail.smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\ntimeout = "PT10S"\n')
    return config


def start(config: Path, *argv: str, env: dict[str, str]) -> subprocess.Popen:
    log = config.parent / f"{argv[0]}-{time.monotonic_ns()}.log"
    with log.open("ab") as handle:
        process = subprocess.Popen([str(SCRIPT), "--config", str(config), *argv],
                                   stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    process.log = log  # type: ignore[attr-defined]
    return process


def subscribers(engine: sa.Engine, now: datetime) -> None:
    """COUNT confirmed subscribers with a PT1H reminder following session A, the first
    LATER of them session B too (written directly: no welcome mail)."""
    with database.writing(engine) as connection:
        connection.execute(sa.insert(st.subscribers), [
            {"id": n + 1, "email": f"reader{n}@failover.test", "timezone": "Europe/Madrid",
             "language": "en", "status": "confirmed", "reminders": ["PT1H"], "notices": [],
             "created_at": now, "updated_at": now, "confirmed_at": now} for n in range(COUNT)])
        connection.execute(sa.insert(st.subscriber_follows), [
            {"subscriber_id": n + 1, "kind": "session", "summit": SUMMIT, "target": target}
            for n in range(COUNT) for target in (("a", "b") if n < LATER else ("a",))])
        connection.execute(sa.insert(st.subscriber_offsets), [
            {"subscriber_id": n + 1, "offset_seconds": int(OFFSET.total_seconds())}
            for n in range(COUNT)])


def schedule(due_a: datetime, due_b: datetime) -> Schedule:
    zone = ZoneInfo("Asia/Dushanbe")

    def session(ident: str, due: datetime) -> Session:
        start = (due + OFFSET).astimezone(zone)
        return Session(SUMMIT, ident, f"Session {ident.upper()}", "Asia/Dushanbe",
                       start=start, end=start + timedelta(hours=1), venue="Dushanbe")

    sessions = [session("a", due_a), session("b", due_b)]
    return Schedule(summits={SUMMIT: Summit(SUMMIT, "Failover summit", "Dushanbe",
                                            "Tajikistan", "Asia/Dushanbe")},
                    organizations={}, participants={}, sessions={s.key: s for s in sessions})


def received(log: Path) -> list[tuple[str, str]]:
    if not log.exists():
        return []
    lines = log.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t")) for line in lines if line.count("\t") == 1]  # type: ignore


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_failover_kill_the_leader_and_a_worker_mid_fanout(tmp_path, postgres_url):
    env = {**os.environ, "SUMMITCAL_SECRET_KEY": "failover-secret-key-" + "x" * 20,
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}
    (tmp_path / "prometheus").mkdir()
    port_file, sink_log = tmp_path / "smtp-port", tmp_path / "received.tsv"
    sink = subprocess.Popen([sys.executable, "-m", "tests.outbox.sink", str(port_file),
                             str(sink_log)], cwd=ROOT)
    processes: list[subprocess.Popen] = [sink]
    store = Store(postgres_url)
    try:
        smtp_port = int(wait_for(lambda: port_file.exists() and port_file.read_text(), 15,
                                 "the SMTP sink"))
        http_port = free_port()
        config = write_config(tmp_path, postgres_url, smtp_port, http_port)
        store.upgrade()
        subscribers(store.engine, datetime.now(UTC))
        schedulers = [start(config, "scheduler", env=env) for _ in range(2)]
        workers = [start(config, "worker", env=env) for _ in range(2)]
        web = start(config, "web", "--workers", "2", env=env)
        processes += [*schedulers, *workers, web]

        def everyone_up():
            for process in processes[1:]:
                assert process.poll() is None, process.log.read_text()[-3000:]
            seen = deployment(store.engine, tmp_path)
            return (len(seen.with_role("scheduler")) == 2 and len(seen.with_role("worker")) == 2
                    and seen.leader is not None and _healthz(http_port))
        wait_for(everyone_up, 60, "two schedulers (one leading), two workers and the web")

        due_a = (datetime.now(UTC) + timedelta(seconds=3)).replace(microsecond=0)
        due_b = due_a + timedelta(seconds=12)
        store.apply(schedule(due_a, due_b), "failover test")

        wait_for(lambda: len(received(sink_log)) >= COUNT // 4, 60, "a quarter of the mail")
        # The leader now (a reading between two holders, in a loaded machine's hiccup,
        # names nobody for a moment: read again).
        leader = wait_for(lambda: deployment(store.engine, tmp_path).leader, 15,
                          "a leader to name")
        by_pid = {p.pid: p for p in processes}
        victim_worker = workers[0]
        with store.engine.connect() as connection:
            held = connection.scalar(sa.select(sa.func.count()).where(
                outbox.c.status == "sending",
                outbox.c.lease_owner.like(f"%:{victim_worker.pid}:%")))
        by_pid[leader.pid].send_signal(signal.SIGKILL)
        victim_worker.send_signal(signal.SIGKILL)
        killed_at = datetime.now(UTC)
        sent_before = len(received(sink_log))

        def new_leader():
            current = deployment(store.engine, tmp_path).leader
            # Named from the moment it holds the lock; its row says since when a moment
            # later.
            return (current if current is not None and current.pid != leader.pid
                    and current.leading_since is not None else None)
        successor = wait_for(new_leader, 15, "the standby scheduler to lead")
        assert successor.leading_since is not None
        takeover = (successor.leading_since - killed_at).total_seconds()
        print(f"\nkilled the leader (pid {leader.pid}) and a worker holding {held} claim(s) "
              f"after {sent_before} of {COUNT + LATER} messages; the standby (pid "
              f"{successor.pid}) led {takeover:.2f} s later")
        assert takeover <= TAKEOVER_LIMIT

        def all_sent():
            with store.engine.connect() as connection:
                return connection.scalar(sa.select(sa.func.count()).where(
                    outbox.c.status == "sent")) == COUNT + LATER
        wait_for(all_sent, 60, "every reminder recorded as sent")
        time.sleep(0.5)  # the sink's last lines

        got = received(sink_log)
        per_recipient: dict[str, Counter[str]] = defaultdict(Counter)
        for recipient, message_id in got:
            per_recipient[recipient][message_id] += 1
        assert len(per_recipient) == COUNT
        for n in range(COUNT):
            ids = per_recipient[f"reader{n}@failover.test"]
            assert len(ids) == (2 if n < LATER else 1), (n, ids)  # A (and B): distinct ids
            assert set(ids.values()) <= {1, 2}, (n, ids)  # each once, or twice the same
        with store.engine.connect() as connection:
            recorded = set(connection.execute(sa.select(outbox.c.recipient, outbox.c.message_id)))
        assert recorded == set(got)
        twice = sum(1 for ids in per_recipient.values() for c in ids.values() if c == 2)
        print(f"{len(got)} messages received, {twice} sent twice with the same Message-ID")

        metrics = _get(http_port, "/metrics")
        assert f'summitcal_outbox_messages{{status="sent"}} {COUNT + LATER}.0' in metrics
        assert f'name="{successor.name}"' in metrics  # summitcal_scheduler_leader
        sent = [line for line in metrics.splitlines()
                if line.startswith('summitcal_messages_sent_total{kind="reminder"}')]
        assert sent and float(sent[0].split()[-1]) >= COUNT + LATER  # every worker's count
        health = json.loads(_get(http_port, "/healthz"))
        assert health["roles"] == ["web"] and health["database"] == "ok"
    finally:
        for process in reversed(processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        store.close()


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
        return response.read().decode()


def _healthz(port: int) -> bool:
    try:
        return json.loads(_get(port, "/healthz"))["status"] == "ok"
    except OSError:
        return False


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_regression_leader_and_last_tick_as_schedulers_come_and_go(tmp_path, backend, request):
    """Two real ``scheduler`` processes. After ``kill -9`` of the leader the deployment
    names the standby as soon as it leads (it named the dead one until the standby's
    next heartbeat); after the standby stops cleanly (SIGTERM) there is no leader and
    the last tick is the standby's, still ageing (its row was deleted, so the last tick
    was lost or was the killed leader's)."""
    if backend == "postgresql":
        url = request.getfixturevalue("postgres_url")
    else:
        url = f"sqlite:///{tmp_path / 'data' / 'summitcal.sqlite3'}"
    config = tmp_path / "config.toml"
    config.write_text(f'[service]\ndata_dir = "{tmp_path / "data"}"\n'
                      f'[database]\nurl = "{url}"\n[schedules]\npaths = []\n')
    env = {**os.environ, "SUMMITCAL_SECRET_KEY": "k" * 40}
    env.pop("SUMMITCAL_DATABASE_URL", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with Store(url) as store:
        store.upgrade()
    first = start(config, "scheduler", env=env)
    processes = [first]
    try:
        with Store(url) as store:
            wait_for(lambda: (s := deployment(store.engine, tmp_path)).leader is not None
                     and s.leader.pid == first.pid and s.last_tick_age is not None,
                     60, "the first scheduler to lead and tick")
            second = start(config, "scheduler", env=env)
            processes.append(second)
            wait_for(lambda: len(deployment(store.engine, tmp_path).with_role("scheduler")) == 2,
                     60, "the standby's heartbeat")
            standby = next(p for p in deployment(store.engine, tmp_path).processes
                           if p.pid == second.pid)
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            # From the moment the lock is the standby's, the standby is the one named.
            wait_for(lambda: lock_state(store.engine, tmp_path).tag == lock_tag(standby.name),
                     15, "the standby to hold the lock")
            named = deployment(store.engine, tmp_path).leader
            assert named is not None and named.pid == second.pid
            wait_for(lambda: (s := deployment(store.engine, tmp_path)).last_tick_at is not None
                     and s.leader is not None and s.leader.pid == second.pid
                     and s.leader.leading_since is not None
                     and s.last_tick_at >= s.leader.leading_since, 30,
                     "the standby's clock to tick")
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
            stopped = deployment(store.engine, tmp_path)
            # The killed leader's row stays "seen recently" for a while; the stopped one's not.
            assert stopped.leader is None
            assert [p.pid for p in stopped.processes] in ([], [first.pid])
            assert stopped.last_tick_at is not None
            # The standby's tick, not the killed leader's.
            assert named.leading_since is None or stopped.last_tick_at >= named.leading_since
            time.sleep(1.1)
            assert deployment(store.engine, tmp_path).last_tick_age > stopped.last_tick_age
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(10)
