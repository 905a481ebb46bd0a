"""The ``summitcal`` command group and its shared state; commands register on it from
``summitcal.app.cli`` (schedule and feed commands) and the ``cli_*`` modules."""

from __future__ import annotations

import click

from summitcal import __version__
from summitcal.app.config import Config, load_config
from summitcal.app.runtime import Runtime

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


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
            self._runtime = Runtime.open(self.config)
        return self._runtime


@click.group(context_settings=CONTEXT)
@click.option("--config", "config_path", metavar="PATH", default=None,
              help="Configuration file (default: $SUMMITCAL_CONFIG or ./config.toml).")
@click.version_option(__version__, "--version", message="summitcal %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None) -> None:
    """summitcal: summit schedules as calendar feeds, with email reminders and notices."""
    ctx.obj = Obj(config_path)
    ctx.call_on_close(lambda: ctx.obj._runtime and ctx.obj._runtime.close())
