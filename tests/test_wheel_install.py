"""The wheel, installed for real: ``pip wheel . --no-deps``, installed non-editable into a
fresh virtualenv, runs from an empty folder holding nothing but a copy of ``schedules/``.

What it guards: the package-dir mapping (``feeds/``, ``scheduler/``, ``templates/``
install as ``summitcal.feeds``, ``summitcal.scheduler``, ``summitcal/templates``), the
package data (templates, migrations, static files) and the console script — none of
which an editable install in the repository exercises.

Speed: the wheel is built from a copy of just the packaged folders (so a stale
``build/`` cannot leak into it), and the fresh virtualenv has no pip and no dependencies
of its own: pip from the test's interpreter installs the wheel into it (``pip --python``)
with ``--no-deps``, and a ``.pth`` file appends this interpreter's site-packages for the
dependencies. A path in a ``.pth`` file is added without reading the ``.pth`` files
inside it, so the repository's editable install is not seen; the test checks that
``summitcal`` is imported from the fresh virtualenv.

Marked ``wheel``; it runs in every full run, CI's included (``.ci/run`` → ``make test``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest

from tests.serving import free_port
from tests.tools import in_ci

ROOT = Path(__file__).resolve().parents[1]
#: Top-level names that must not be installed: they live under summitcal/ only.
STRAYS = ("web", "feeds", "scheduler", "summits", "templates", "migrations")

pytestmark = pytest.mark.wheel


def run(*argv: str | Path, cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def source_copy(target: Path) -> Path:
    """pyproject.toml, the readme and every folder its package-dir mapping names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    folders = set(project["tool"]["setuptools"]["package-dir"].values())
    target.mkdir()
    for name in ("pyproject.toml", project["project"]["readme"]):
        shutil.copy2(ROOT / name, target / name)
    for folder in folders:
        shutil.copytree(ROOT / folder, target / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh virtualenv's bin folder, its site-packages) with the wheel installed."""
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SUMMITCAL_", "PYTHON")) and k != "VIRTUAL_ENV"}
    pip = [sys.executable, "-m", "pip"]
    source = source_copy(base / "source")
    try:
        run(*pip, "wheel", ".", "--no-deps", "-q", "-w", base / "dist", cwd=source, env=env,
            timeout=300)
    except AssertionError as error:
        if in_ci():
            raise
        pytest.skip(f"cannot build the wheel here (setuptools from the index?): {error}")
    (wheel,) = (base / "dist").glob("summitcal-*.whl")
    venv = base / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=base, env=env)
    python = venv / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                    cwd=base, env=env).strip())
    run(*pip, "--python", python, "install", "--no-deps", "--no-index", "-q", wheel,
        cwd=base, env=env)
    # Dependencies: this interpreter's site-packages, after the venv's own.
    (site / "_summitcal_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv / "bin", site


def test_site_packages_has_only_summitcal(installed):
    _, site = installed
    assert (site / "summitcal" / "__init__.py").is_file()
    assert [name for name in STRAYS if (site / name).exists()] == []
    for data in ("templates/email/reminder.txt", "templates/web/index.html",
                 "migrations/script.py.mako", "web/static/summitcal.css"):
        assert (site / "summitcal" / data).is_file(), data
    assert list((site / "summitcal" / "migrations" / "versions").glob("0001_*.py"))


def test_installed_wheel_runs_from_an_empty_folder(installed, tmp_path):
    bin_dir, site = installed
    folder = tmp_path / "empty"
    folder.mkdir()
    shutil.copytree(ROOT / "schedules", folder / "schedules")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SUMMITCAL_", "PYTHON")) and k != "VIRTUAL_ENV"}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    summitcal = bin_dir / "summitcal"
    where = run(bin_dir / "python", "-c", "import summitcal; print(summitcal.__file__)",
                cwd=folder, env=env)
    assert Path(where.strip()).is_relative_to(site), where

    assert run(summitcal, "check", cwd=folder, env=env).strip() == "ok: 2 summit(s), 5 session(s) in the schedule files"
    loaded = run(summitcal, "load", cwd=folder, env=env)
    assert "summit astana-2024: added" in loaded and "revision 1:" in loaded
    feed = run(summitcal, "feed", "all", cwd=folder, env=env)
    assert feed.startswith("BEGIN:VCALENDAR") and feed.count("BEGIN:VEVENT") == 5

    port = free_port()
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([summitcal, "serve", "--port", str(port)], cwd=folder, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        body = _get_when_up(f"http://127.0.0.1:{port}/feeds/all.ics", server)
    finally:
        server.terminate()
        server.wait(15)
        log.close()
    assert body.decode("utf-8").replace("\r\n", "\n") == feed.replace("\r\n", "\n")


def _get_when_up(url: str, server: subprocess.Popen, attempts: int = 300) -> bytes:
    """GET ``url`` once the server answers (polling; no time is asserted)."""
    for _ in range(attempts):
        if server.poll() is not None:
            raise AssertionError(f"serve exited with {server.returncode}")
        try:
            request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
                return response.read()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"serve did not answer {url}")
