"""``serve`` checks the email templates before anything else: a broken template stops the
boot with one line naming the file, instead of failing a reminder at 3 a.m."""

from __future__ import annotations

from pathlib import Path

import pytest
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from summitcal.app import cli
from summitcal.core.templating import environment
from summitcal.scheduler import compose


def test_a_broken_email_template_stops_serve(tmp_path: Path, monkeypatch, capsys):
    shipped = environment("email")
    folder = tmp_path / "templates"
    folder.mkdir()
    for name in shipped.list_templates():
        text = shipped.loader.get_source(shipped, name)[0]
        if name == "reminder.txt":
            text = text.replace("{{ session.title }}", "{{ session.titel }}", 1)
        (folder / name).write_text(text)
    broken = Environment(loader=FileSystemLoader(folder), undefined=StrictUndefined,
                         autoescape=True)
    monkeypatch.setattr(compose, "environment", lambda folder: broken)
    config = tmp_path / "config.toml"
    config.write_text('[service]\ndata_dir = "data"\n[schedules]\nload_on_start = false\n')

    assert cli.main(["--config", str(config), "serve", "--port", "1"]) == 1

    error = capsys.readouterr().err.strip()
    assert error.startswith(f"error: email template {folder / 'reminder.txt'}, line 1")
    assert "titel" in error
    assert not (tmp_path / "data").exists(), "nothing may start before the check"


@pytest.mark.parametrize("name", ["reminder", "attendance_change", "schedule_change"])
def test_the_clock_kinds_have_templates_the_check_covers(name: str):
    shipped = environment("email").list_templates()
    assert f"{name}.txt" in shipped and f"{name}.html" in shipped
