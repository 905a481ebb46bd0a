"""The ``summitcal`` command group and its shared state. Commands register on it from
``summitcal.app.cli`` (schedule and feed commands) and the ``cli_*`` modules, which are
imported only when one of their commands is named (``LAZY_COMMANDS``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

import click

from summitcal import __version__
from summitcal.app.config import Config, load_config

if TYPE_CHECKING:
    from summitcal.app.runtime import Runtime

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: Commands defined in other modules, imported only when named (or for --help): each
#: pulls in what it needs (the scheduler, the web app, mail), which a short command such
#: as ``load`` or ``attendance`` must not pay for at every start.
LAZY_COMMANDS = {
    "subscribers": "summitcal.app.cli_subscribers:subscribers",
    "outbox": "summitcal.app.cli_outbox:outbox_group",
    "send-test": "summitcal.app.cli_outbox:send_test",
    "deliver": "summitcal.app.cli_outbox:deliver",
    "web": "summitcal.app.cli_roles:web",
    "scheduler": "summitcal.app.cli_roles:scheduler",
    "worker": "summitcal.app.cli_roles:worker",
    "status": "summitcal.app.cli_roles:status",
}


class LazyGroup(click.Group):
    """A group whose ``LAZY_COMMANDS`` are imported when first looked up (click's
    documented pattern for lazily loaded subcommands)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = LAZY_COMMANDS.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        module, _, name = where.partition(":")
        command = getattr(importlib.import_module(module), name)
        assert isinstance(command, click.Command)
        return command


class Obj:
    """Lazily opened configuration and runtime for a command."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._config: Config | None = None
        self._runtime: Runtime | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path)
        return self._config

    @property
    def runtime(self) -> Runtime:
        if self._runtime is None:
            from summitcal.app.runtime import Runtime

            self._runtime = Runtime.open(self.config)
        return self._runtime


@click.group(cls=LazyGroup, context_settings=CONTEXT)
@click.option("--config", "config_path", metavar="PATH", default=None,
              help="Configuration file (default: $SUMMITCAL_CONFIG or ./config.toml).")
@click.version_option(__version__, "--version", message="summitcal %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """summitcal: summit schedules as calendar feeds, with email reminders and notices."""
    ctx.obj = Obj(config_path)
    ctx.call_on_close(lambda: ctx.obj._runtime and ctx.obj._runtime.close())


def check_before_metrics(config: Config) -> None:
    """Run the start-up checks now, before the service's modules are imported, when the
    metrics folder is wrong: prometheus_client opens its files while those modules load,
    so the check that lists every problem (``preflight.check``) would never be reached.
    Otherwise the server runs them, as the first step of its start-up."""
    import os

    from summitcal.core.multiprocess import MULTIPROC_ENV, multiprocess_folder_problem

    if multiprocess_folder_problem(os.environ.get(MULTIPROC_ENV)) is not None:
        from summitcal.app import preflight

        preflight.check(config)
