"""Nothing is lost across kill -9: 2,000 due messages, a delivery process (`summitcal
deliver`) killed mid-way and started again, an SMTP sink in a third process.

Every recipient must end with exactly one message, or two with the same Message-ID (the
ones in flight when the process died) — never none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from summitcal.app.config import load_config
from summitcal.mail import outbox
from summitcal.summits.store import Store
from tests.outbox.conftest import write_config

ROOT = Path(__file__).resolve().parents[2]
TOTAL = 2000
KILL_AFTER = 700
LEASE = 2.0  # seconds: how long the killed process's rows wait before they are claimed again


def read_log(path: Path) -> list[tuple[str, str]]:
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [tuple(line.split("\t", 1)) for line in lines if "\t" in line]  # type: ignore[misc]


def wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.25)  # the test shares the CPUs with the sink and the delivery
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def sink(tmp_path: Path):
    port_file, log = tmp_path / "sink.port", tmp_path / "sink.log"
    process = subprocess.Popen([sys.executable, "-m", "tests.outbox.sink", str(port_file),
                                str(log)], cwd=ROOT)
    try:
        wait_for(port_file.exists, 20, "the sink to listen")
        yield int(port_file.read_text()), log
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_delivery(config: Path, output: Path) -> subprocess.Popen:
    script = Path(sys.executable).with_name("summitcal")
    with output.open("ab") as log:
        return subprocess.Popen(
            [str(script), "--config", str(config), "deliver", "--lease", str(LEASE),
             "--poll", "0.2"],
            stdout=log, stderr=subprocess.STDOUT, cwd=config.parent,
            env={k: v for k, v in os.environ.items() if not k.startswith("SUMMITCAL_")})


def test_kill_9_mid_way_loses_nothing(tmp_path, database_url, sink):
    port, log = sink
    config = write_config(tmp_path, database_url, mail={"transport": "smtp", "workers": 4},
                          **{"mail.smtp": {"host": "127.0.0.1", "port": port,
                                           "timeout": "PT10S"}})
    now = datetime.now(UTC)
    with Store(load_config(config, env={}).database_url) as store:
        store.upgrade()
        engine = store.engine
        with outbox.write_transaction(engine) as connection:
            for number in range(TOTAL):
                outbox.enqueue(connection, kind="test", key=f"test:crash:{number}",
                               recipient=f"r{number}@example.org", subscriber_id=None,
                               payload={}, due_at=now, expires_at=now + timedelta(hours=1))

        output = tmp_path / "deliver.out"
        started = time.monotonic()
        first = start_delivery(config, output)
        try:
            wait_for(lambda: len(read_log(log)) >= KILL_AFTER, 60, f"{KILL_AFTER} messages")
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        finally:
            if first.poll() is None:
                first.kill()
        at_kill = len(read_log(log))
        in_flight = outbox.counts(engine)["sending"]
        assert at_kill < TOTAL, "killed too late: everything was sent already"

        second = start_delivery(config, output)
        try:
            wait_for(lambda: outbox.counts(engine)["sent"] == TOTAL, 90, "every row sent")
            elapsed = time.monotonic() - started
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)
        assert second.returncode == 0, output.read_text()
        rows = {m.recipient: m for m in outbox.list_messages(engine, limit=TOTAL)}

    assert outbox_counts_sent(rows) == TOTAL
    ids: dict[str, list[str]] = defaultdict(list)
    for recipient, message_id in read_log(log):
        ids[recipient].append(message_id)
    missing = [f"r{n}@example.org" for n in range(TOTAL) if f"r{n}@example.org" not in ids]
    assert missing == [], f"never delivered: {missing[:10]}"
    assert set(ids) == set(rows)
    duplicates = {r: v for r, v in ids.items() if len(v) > 1}
    assert all(len(v) == 2 and v[0] == v[1] for v in duplicates.values()), duplicates
    assert all(ids[r][0] == rows[r].message_id for r in ids)
    assert len(duplicates) <= in_flight
    print(f"\n{database_url.split(':')[0]}: {TOTAL} messages in {elapsed:.1f} s including "
          f"two start-ups and a {LEASE} s lease; killed after {at_kill} with {in_flight} "
          f"in flight; {len(duplicates)} sent twice (same Message-ID)")


def outbox_counts_sent(rows) -> int:
    return sum(1 for m in rows.values() if m.status == "sent")
