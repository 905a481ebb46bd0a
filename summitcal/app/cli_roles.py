"""``summitcal web``, ``scheduler``, ``worker`` (the parts of ``serve``, one role a
process) and ``status`` (the deployment as the database shows it)."""

from __future__ import annotations

from datetime import datetime

import click

from summitcal.app.cli_base import Obj, check_before_metrics, cli

_HOST = click.option("--host", default=None, help="Listen address (default: http.host).")
_PORT = click.option("--port", type=click.IntRange(1, 65535), default=None,
                     help="Listen port, 1–65535 (default: http.port).")


@cli.command()
@_HOST
@_PORT
@click.option("--workers", "web_workers", type=click.IntRange(1, 64), default=1,
              show_default=True, help="uvicorn worker processes serving the one bound port.")
@click.pass_obj
def web(obj: Obj, host: str | None, port: int | None, web_workers: int) -> None:
    """Serve HTTP only: feeds, pages, the JSON and admin APIs, /healthz, /metrics.

    Sign-ups and changes made here are queued in the database; a `scheduler` and a
    `worker` (or a `serve`) sharing it plan and send the mail. Same start-up order and
    checks as `serve`."""
    check_before_metrics(obj.config)
    from summitcal.app.server import serve as run_server

    run_server(obj.config, host=host, port=port, roles=("web",), web_workers=web_workers)


@cli.command()
@click.pass_obj
def scheduler(obj: Obj) -> None:
    """Run the clock: reminder plans, change notices, expiry, queued sign-ups.

    Any number may run against one database: one leads (PostgreSQL advisory lock, or a
    lock file beside an SQLite database), the others take over within seconds when it
    stops or dies. Loads schedules.paths at start when schedules.load_on_start."""
    check_before_metrics(obj.config)
    from summitcal.app.server import serve as run_server

    run_server(obj.config, roles=("scheduler",))


@cli.command()
@click.pass_obj
def worker(obj: Obj) -> None:
    """Deliver the outbox: mail.workers threads claim due messages in batches, render and
    send them. Add processes for throughput; a killed one's messages are sent by the
    others once its short leases run out (seconds), with the same Message-IDs."""
    check_before_metrics(obj.config)
    from summitcal.app.server import serve as run_server

    run_server(obj.config, roles=("worker",))


@cli.command()
@click.pass_obj
def status(obj: Obj) -> None:
    """The deployment from the database: the active scheduler, the processes seen
    recently and their roles, the outbox backlog and its oldest due message."""
    from summitcal.app.presence import deployment

    seen = deployment(obj.runtime.store.engine, obj.config.service.data_dir)
    leader, tick = seen.leader, seen.last_tick_age
    ticked = f"last tick {tick:.1f} s ago" if tick is not None else "no tick yet"
    if leader is None:
        click.echo(f"scheduler: no active scheduler ({ticked})")
    else:
        click.echo(f"scheduler: {leader.name} leads since {_at(leader.leading_since)}, "
                   + ticked)
    click.echo(f"processes seen recently: {len(seen.processes)}")
    for process in seen.processes:
        age = (seen.now - process.seen_at).total_seconds()
        click.echo(f"  {process.name}  {','.join(process.roles)}  seen {age:.0f} s ago, "
                   f"up since {_at(process.started_at)}")
    click.echo(f"outbox backlog: {seen.backlog} message(s) due"
               + (f", oldest due {_at(seen.oldest_due)} "
                  f"({(seen.now - seen.oldest_due).total_seconds():.0f} s ago)"
                  if seen.oldest_due is not None else ""))


def _at(value: datetime | None) -> str:
    return "-" if value is None else value.isoformat(timespec="seconds")
