"""The scheduler election (``summitcal.app.election``) on SQLite (a lock file) and PostgreSQL
(a session advisory lock): one leader at a time, a resignation or a broken connection
frees the lock for the next try, and ``summitcal status`` reads the deployment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from summitcal.app.cli import main
from summitcal.app.election import PostgresElection, election_for, lock_state
from summitcal.app.presence import Presence, deployment
from summitcal.summits.store import Store


@pytest.fixture
def store(database_url):
    with Store(database_url) as store:
        store.upgrade()
        yield store


def test_one_leader_at_a_time_and_the_next_after_a_resignation(store, tmp_path):
    first, second = (election_for(store.engine, tmp_path) for _ in range(2))
    assert first.try_lead() and first.still_leading()
    assert not second.try_lead() and not second.still_leading()
    assert first.try_lead()  # asking again while leading keeps the lead
    first.resign()
    assert not first.still_leading()
    assert second.try_lead() and second.still_leading()
    assert not first.try_lead()
    second.resign()


@pytest.mark.postgres
def test_regression_a_leader_whose_connection_broke_stops_at_once(postgres_url):
    """Losing the lock's connection is losing the lead: ``still_leading`` says so at the
    next check, and a standby wins at its next try."""
    import sqlalchemy as sa

    with Store(postgres_url) as store:
        leader, standby = PostgresElection(store.engine), PostgresElection(store.engine)
        assert leader.try_lead()
        assert leader._connection is not None
        pid = leader._connection.scalar(sa.text("SELECT pg_backend_pid()"))
        assert not standby.try_lead()
        with store.engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        leader._checked = 0.0  # the next check asks the server, as the clock's next pass
        assert not leader.still_leading()
        assert standby.try_lead()
        standby.resign()


def test_status_prints_the_leader_processes_and_backlog(store, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(f'[service]\ndata_dir = "data"\n[database]\nurl = "{store.url}"\n')
    since = datetime.now(UTC)
    election = election_for(store.engine, tmp_path)
    assert election.try_lead()
    presence = Presence(store.engine, ("scheduler",), leading=lambda: since,
                        last_tick=lambda: since)
    worker = Presence(store.engine, ("worker",))
    presence.beat()
    worker.beat()
    seen = deployment(store.engine, tmp_path)
    assert seen.leader is not None and seen.leader.name == presence.name
    assert [p.name for p in seen.with_role("worker")] == [worker.name]
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert f"scheduler: {presence.name} leads since" in out
    assert f"{worker.name}  worker" in out and "outbox backlog: 0 message(s) due" in out
    presence.stop()
    worker.stop()
    election.resign()
    assert deployment(store.engine, tmp_path).processes == ()


def test_regression_a_killed_leaders_row_does_not_make_it_the_leader(store, tmp_path):
    """A leader killed with ``kill -9`` leaves a row that says it leads: ``status`` and
    ``/metrics`` named that dead process as the leader for 15 s with no scheduler
    running, then the last tick's age became NaN, so an alert on it never fired. The
    lock decides who leads; the last tick is kept and keeps ageing."""
    election = election_for(store.engine, tmp_path)
    ticked = datetime.now(UTC) - timedelta(seconds=30)
    assert election.try_lead()
    dead = Presence(store.engine, ("scheduler",), leading=lambda: ticked,
                    last_tick=lambda: ticked)
    dead.beat()
    assert lock_state(store.engine, tmp_path).held is True
    assert deployment(store.engine, tmp_path).leader.name == dead.name
    election.resign()  # what the kernel or the server does for a killed process
    assert lock_state(store.engine, tmp_path).held is False
    seen = deployment(store.engine, tmp_path)
    assert seen.leader is None and [p.name for p in seen.processes] == [dead.name]
    assert 30 <= seen.last_tick_age < 60
    later = deployment(store.engine, tmp_path, now=datetime.now(UTC) + timedelta(minutes=5))
    assert later.processes == () and later.last_tick_age >= 5 * 60 + 30


def test_a_scheduler_that_stops_cleanly_leaves_its_last_tick(store, tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text(f'[service]\ndata_dir = "data"\n[database]\nurl = "{store.url}"\n')
    ticked = datetime.now(UTC) - timedelta(seconds=5)
    scheduler = Presence(store.engine, ("scheduler",), last_tick=lambda: ticked)
    web = Presence(store.engine, ("web",))
    scheduler.beat()
    web.beat()
    scheduler.stop()
    web.stop()
    seen = deployment(store.engine, tmp_path)
    assert seen.processes == () and seen.leader is None
    assert 5 <= seen.last_tick_age < 60
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scheduler: no active scheduler (last tick ") and "processes seen recently: 0" in out
