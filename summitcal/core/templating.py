"""The Jinja2 environments for web pages and emails: StrictUndefined, HTML autoescaped."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

#: ``templates/`` at the repository's top level, installed as package data of summitcal.
TEMPLATES = Path(str(resources.files("summitcal.templates")))


@cache
def environment(folder: str) -> Environment:
    """The environment for ``templates/<folder>`` (``web`` or ``email``)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES / folder),
        undefined=StrictUndefined,
        autoescape=select_autoescape(["html", "htm", "xml"], default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
