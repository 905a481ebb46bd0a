"""The scheduler election (``summitcal.app.election``) on SQLite (a lock file) and PostgreSQL
(a session advisory lock): one leader at a time, a resignation or a broken connection
frees the lock for the next try, and ``summitcal status`` reads the deployment."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from summitcal.app.cli import main
from summitcal.app.election import PostgresElection, election_for
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
    presence = Presence(store.engine, ("scheduler",), leading=lambda: since,
                        last_tick=lambda: since)
    worker = Presence(store.engine, ("worker",))
    presence.beat()
    worker.beat()
    seen = deployment(store.engine)
    assert seen.leader is not None and seen.leader.name == presence.name
    assert [p.name for p in seen.with_role("worker")] == [worker.name]
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert f"scheduler: {presence.name} leads since" in out
    assert f"{worker.name}  worker" in out and "outbox backlog: 0 message(s) due" in out
    presence.stop()
    worker.stop()
    assert deployment(store.engine).processes == ()
