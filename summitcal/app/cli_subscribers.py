"""``summitcal subscribers add|list|remove``: the operator's side of subscriptions."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from summitcal.app.cli_base import Obj, cli
from summitcal.core import database
from summitcal.core.durations import format_duration
from summitcal.subscriptions import subscribers as subs
from summitcal.subscriptions.tables import SUBSCRIBER_STATUSES


@cli.group()
def subscribers() -> None:
    """Add, list and remove email subscribers."""


@subscribers.command("add")
@click.argument("email")
@click.option("--timezone", "zone", default="UTC", show_default=True,
              help="IANA zone for the times in emails.")
@click.option("--follow", "follows", multiple=True, metavar="F",
              help="all, summit:ID, session:SUMMIT/SESSION, organization:ID or "
                   "participant:ID; repeat for several (default: all).")
@click.option("--reminder", "reminders", multiple=True, metavar="DURATION",
              help="ISO 8601 offset before each session, e.g. P1D; repeat for several "
                   "(default: reminders.default_offsets).")
@click.option("--notices", default="attendance,schedule", show_default=True,
              help="Comma-separated notice kinds; empty for none.")
@click.option("--confirmed", is_flag=True,
              help="Skip double opt-in: confirm now and queue the welcome mail, which "
                   "says an operator added the address (default: queue a confirmation "
                   "mail).")
@click.pass_obj
def add(obj: Obj, email: str, zone: str, follows: tuple[str, ...],
        reminders: tuple[str, ...], notices: str, confirmed: bool) -> None:
    """Add EMAIL as a subscriber."""
    runtime = obj.runtime
    prefs = subs.check_preferences(
        runtime.snapshot().schedule, timezone=zone, follow=list(follows) or ["all"],
        reminders=list(reminders) if reminders else None,
        notices=[n.strip() for n in notices.split(",") if n.strip()],
        default_reminders=runtime.config.reminders.default_offsets)
    with database.writing(runtime.store.engine) as connection:
        added = subs.add(connection, email, prefs, datetime.now(UTC), confirmed=confirmed)
    mail = "welcome mail queued" if confirmed else "confirmation mail queued"
    click.echo(f"added {added.email} (id {added.id}, {added.status}; {mail})")


@subscribers.command("list")
@click.option("--status", type=click.Choice(SUBSCRIBER_STATUSES), default=None,
              help="Only subscribers in this status.")
@click.pass_obj
def list_(obj: Obj, status: str | None) -> None:
    """List subscribers: id, email, status (bouncing: no longer mailed until the address
    confirms again), permanent refusals in a row, zone, follows, reminder offsets."""
    engine = obj.runtime.store.engine
    with database.reading(engine) as connection:
        found = subs.listing(connection, status)
    if not found:
        click.echo("no subscribers")
        return
    rows = [("ID", "EMAIL", "STATUS", "BOUNCES", "ZONE", "FOLLOWS", "OFFSETS")] + [
        (str(s.id), s.email, s.status, str(s.bounces), s.preferences.timezone,
         ",".join(s.preferences.follows),
         ",".join(format_duration(r) for r in s.preferences.reminders) or "-")
        for s in found]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]))


@subscribers.command("remove")
@click.argument("email")
@click.pass_obj
def remove(obj: Obj, email: str) -> None:
    """Delete EMAIL with its follows and offsets; its unsent mail is cancelled."""
    with database.writing(obj.runtime.store.engine) as connection:
        removed = subs.remove(connection, email, datetime.now(UTC))
    click.echo(f"removed {removed.email} (id {removed.id})")
