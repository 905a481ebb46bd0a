"""The outbox commands: ``outbox`` (list), ``outbox retry ID``, ``send-test EMAIL`` and
the internal ``deliver`` (delivery workers alone, without the web app or the clock).

Imported by ``summitcal.app.cli_base`` when one of these commands is named (``LAZY_COMMANDS``).
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from secrets import token_hex
from types import FrameType

import click

from summitcal.app.cli_base import Obj, cli
from summitcal.mail import outbox
from summitcal.mail.configured import transport_from_config
from summitcal.mail.outbox import Message
from summitcal.mail.tables import STATUSES, OutboxStatus
from summitcal.scheduler.delivery import Delivery, send_now
from summitcal.scheduler.delivery import log as delivery_log
from summitcal.scheduler.messages import MessageKind
from summitcal.scheduler.renderers import registry
from summitcal.scheduler.sources import Sources
from summitcal.subscriptions.subscribers import normalize_email

ERROR_WIDTH = 60


@cli.group("outbox", invoke_without_command=True)
@click.option("--status", type=click.Choice(STATUSES), default=None,
              help="Only messages in this state.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True,
              help="How many of the newest messages to show.")
@click.pass_context
def outbox_group(ctx: click.Context, status: str | None, limit: int) -> None:
    """What is queued, sent, failed or expired (newest first); `outbox retry ID`."""
    if ctx.invoked_subcommand is not None:
        return
    obj: Obj = ctx.obj
    engine = obj.runtime.store.engine
    messages = outbox.list_messages(engine, status, limit)
    if not messages:
        click.echo("no messages" + (f" {status}" if status else ""))
    else:
        for line in table(messages):
            click.echo(line)
    totals = outbox.counts(engine)
    click.echo(", ".join(f"{name} {count}" for name, count in totals.items()))



def table(messages: list[Message]) -> list[str]:
    """Aligned columns: id, kind, recipient, status, due (UTC), attempts, last error."""
    rows = [("ID", "KIND", "RECIPIENT", "STATUS", "DUE (UTC)", "ATTEMPTS", "LAST ERROR")]
    for m in messages:
        error = " ".join((m.last_error or "").split())
        if len(error) > ERROR_WIDTH:
            error = error[: ERROR_WIDTH - 1] + "…"
        rows.append((str(m.id), m.kind, m.recipient, m.status,
                     f"{m.due_at:%Y-%m-%d %H:%M:%S}", str(m.attempts), error))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            for row in rows]


@outbox_group.command("retry")
@click.argument("message_id", metavar="ID", type=int)
@click.pass_obj
def retry_command(obj: Obj, message_id: int) -> None:
    """Send a failed or expired message again (due now)."""
    engine = obj.runtime.store.engine
    message = outbox.retry(engine, message_id)
    expiry = f", expires {message.expires_at:%Y-%m-%d %H:%M} UTC" if message.expires_at else ""
    click.echo(f"message {message.id} ({message.kind} to {message.recipient}) is pending "
               f"again{expiry}")


@cli.command("send-test")
@click.argument("email")
@click.pass_obj
def send_test(obj: Obj, email: str) -> None:
    """Send one test message to EMAIL through the configured transport, now."""
    recipient = normalize_email(email)
    config = obj.config
    engine = obj.runtime.store.engine
    now = datetime.now(UTC)
    key = f"test:{now:%Y%m%dT%H%M%S}Z:{token_hex(8)}"
    transport = transport_from_config(config)
    # The outcome is this command's one line below; delivery's log line would repeat it.
    level = delivery_log.level
    delivery_log.setLevel(logging.ERROR)
    try:
        message, outcome = send_now(engine, registry(Sources.of(obj.runtime)), transport,
                                    kind=MessageKind.TEST, key=key, recipient=recipient,
                                    payload={}, now=now)
    finally:
        delivery_log.setLevel(level)
        transport.close()
    if outcome.status != OutboxStatus.SENT:
        raise click.ClickException(f"not sent (outbox message {message.id}): {outcome.error}")
    click.echo(outcome.message_id)


@cli.command("deliver", hidden=True)
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Delivery threads (default: mail.workers).")
@click.option("--lease", type=click.FloatRange(0.5), default=None,
              help="Claim lease in seconds, renewed every third of it while sending (default: 15).")
@click.option("--poll", type=click.FloatRange(0.05), default=1.0, show_default=True,
              help="Seconds between looks for due messages when idle.")
@click.pass_obj
def deliver(obj: Obj, workers: int | None, lease: float | None, poll: float) -> None:
    """Run delivery alone until SIGTERM or Ctrl-C (internal: `serve` runs it too)."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    runtime = obj.runtime
    delivery = Delivery(runtime.store.engine, obj.config,
                        registry(Sources.of(runtime)), workers=workers,
                        lease=timedelta(seconds=lease) if lease else None, poll=poll)
    stop = threading.Event()

    def on_signal(number: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        delivery.start()
        click.echo(f"delivering with {delivery.workers} worker(s); SIGTERM or Ctrl-C stops",
                   err=True)
        while not stop.wait(1.0):
            pass
    finally:
        delivery.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    stats = delivery.stats
    click.echo(f"stopped: {stats.sent} sent, {stats.retried} to retry, {stats.failed} failed, "
               f"{stats.expired} expired, {stats.cancelled} cancelled", err=True)
