"""The README's console blocks, run in order, print what the README shows.

Every fenced ``console`` block of README.md is read as ``$ `` command lines (a line
ending in ``\\`` continues on the next) each followed by its expected output. The
commands run one after another in one bash process (so ``source``, ``export`` and shell
variables carry on, as in the reader's terminal), from a folder laid out like the
repository's root: ``config.toml``, ``schedules/``, ``history/``, ``examples/``,
``tests/data/cases/`` copied, and ``.venv`` a link to this interpreter's virtualenv.
stdout and stderr are compared together, line by line, trailing spaces ignored.

In the expected output a line ``...`` stands for any number of lines, and ``...``
within a line for any text: the parts that differ from run to run (DTSTAMP, an ETag,
a date).

Two things are moved so that the run is private and repeatable: ``/tmp/summitcal-tour``
(the tour's database, server log and pid file) becomes a path in the test's temporary
folder, and port 8080 a free port (put back as 8080 in what the commands print).
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.serving import free_port
from tests.tools import require_tool

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
COPIED = ("config.toml", "schedules", "history", "examples", "tests/data/cases")
TOUR_FILES = "/tmp/summitcal-tour"
PORT = "8080"
TIMEOUT = 120  # seconds one command may take (a hang fails the test, not the run)


@dataclass(frozen=True)
class Step:
    """One ``$ `` command of a console block and the output the README shows for it."""

    line: int  # where the command is in README.md (1-based)
    command: str
    expected: list[str]


def steps(text: str) -> list[Step]:
    """The commands of every ```console block in ``text``, in order."""
    found: list[Step] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].strip() != "```console":
            index += 1
            continue
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            if not lines[index].startswith("$ "):
                raise ValueError(f"README.md:{index + 1}: output before any command")
            start, command = index, lines[index][2:]
            while command.endswith("\\"):
                index += 1
                command += "\n" + lines[index]  # bash reads the backslash-newline
            index += 1
            output = []
            while index < len(lines) and lines[index].strip() != "```" \
                    and not lines[index].startswith("$ "):
                output.append(lines[index])
                index += 1
            found.append(Step(start + 1, command, output))
        index += 1
    return found


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether ``actual`` is ``expected`` with each ``...`` filled in (see the module doc)."""
    parts = []
    for line in expected:
        line = line.rstrip()
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
        else:
            parts.append(".*?".join(re.escape(piece) for piece in line.split("...")) + r"\n")
    text = "".join(line.rstrip() + "\n" for line in actual)
    return re.fullmatch("".join(parts), text) is not None


class Shell:
    """One bash process, fed commands one at a time; each answer is read up to a marker."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.marker = f"__tour_done_{os.getpid()}__"
        self.process = subprocess.Popen(["bash", "--noprofile", "--norc"], cwd=cwd, env=env,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT)

    def run(self, command: str) -> list[str]:
        assert self.process.stdin is not None and self.process.stdout is not None
        script = f"{command}\nprintf '\\n{self.marker}\\n'\n"
        self.process.stdin.write(("{ " + script + "} 2>&1\n").encode())
        self.process.stdin.flush()
        data, end = b"", f"\n{self.marker}\n".encode()
        deadline = time.monotonic() + TIMEOUT
        while not data.endswith(end):
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer in {TIMEOUT} s to: {command}")
            ready, _, _ = select.select([self.process.stdout], [], [], 1)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"bash exited while running: {command}")
                data += chunk
        text = data[:-len(end)].decode("utf-8", "replace").replace("\r\n", "\n")
        return text.removesuffix("\n").split("\n") if text.strip("\n") else []

    def close(self) -> None:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()  # bash exits at the end of its input
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process.stdout.close()


def tour_folder(base: Path) -> Path:
    """A folder laid out like the repository's root, for the commands to run in."""
    folder = base / "repo"
    for name in COPIED:
        source, target = ROOT / name, folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    (folder / ".venv").symlink_to(sys.prefix, target_is_directory=True)
    return folder


def stop_server(pid_file: Path) -> None:
    """Stop the server the tour started, if it is still running (its pid file says which)."""
    if not pid_file.exists():
        return
    try:
        os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
    except (ProcessLookupError, ValueError):
        pass


def test_readme_steps_parse():
    """The parser reads commands, continuations and outputs as the README lays them out."""
    found = steps("x\n```console\n$ a \\\n  b\none\n...\n$ c\n```\n```sh\n$ no\n```\n")
    assert [(s.command, s.expected) for s in found] == [("a \\\n  b", ["one", "..."]),
                                                        ("c", [])]
    assert matches(["a", "...", "z: ...!"], ["a", "b", "c", "z: yes!"])
    assert matches(["a", "...", "b"], ["a", "b"])
    assert not matches(["a", "b"], ["a", "b", "c"])


def test_readme_console_blocks_print_what_they_show(tmp_path):
    require_tool("curl", "apt-get install curl (the tour's HTTP examples use it)")
    if not (Path(sys.prefix) / "bin" / "activate").is_file():
        pytest.skip("the tests do not run in a virtualenv (the tour activates .venv)")
    folder = tour_folder(tmp_path)
    files, port = str(tmp_path / "summitcal-tour"), str(free_port())
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SUMMITCAL_", "PYTHON")) and k != "VIRTUAL_ENV"}
    shell = Shell(folder, env)
    problems: list[str] = []
    try:
        for step in steps(README.read_text(encoding="utf-8")):
            command = step.command.replace(TOUR_FILES, files).replace(PORT, port)
            actual = [line.replace(port, PORT) for line in shell.run(command)]
            if not matches(step.expected, actual):
                problems.append(f"README.md:{step.line}: $ {step.command}\n--- shown\n"
                                + "\n".join(step.expected) + "\n--- printed\n"
                                + "\n".join(actual))
    finally:
        stop_server(Path(files + ".pid"))
        shell.close()
    assert not problems, "\n\n".join(problems)
