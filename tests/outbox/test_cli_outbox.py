"""`summitcal outbox`, `outbox retry ID` and `send-test EMAIL`: output and exit codes."""

from __future__ import annotations

import email
import os
import subprocess
import sys
from email.policy import default as default_policy
from pathlib import Path

import pytest

from summitcal.app.cli import main
from summitcal.app.config import load_config
from summitcal.mail import outbox
from summitcal.summits.store import Store
from tests.outbox.conftest import NOW, queue, smtp_section, write_config


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUMMITCAL_DATABASE_URL", raising=False)
    monkeypatch.delenv("SUMMITCAL_SMTP_PASSWORD", raising=False)
    return tmp_path


@pytest.fixture
def configure(workdir: Path, database_url: str, monkeypatch: pytest.MonkeyPatch):
    """Write config.toml (with ``sections``) and point SUMMITCAL_CONFIG at it."""

    def make(**sections) -> Path:
        path = write_config(workdir, database_url, **sections)
        monkeypatch.setenv("SUMMITCAL_CONFIG", str(path))
        return path

    return make


@pytest.fixture
def engine(configure):
    path = configure()
    with Store(load_config(path, env={}).database_url) as store:
        store.upgrade()
        yield store.engine


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


# --- send-test ------------------------------------------------------------------------

def test_send_test_through_the_file_transport(configure, workdir, capsys):
    configure()
    code, out, err = run(capsys, "send-test", "Operator@Example.org")
    assert (code, err) == (0, "")
    message_id = out.strip()
    assert message_id.startswith("<") and message_id.endswith("@summitcal.test>")
    [file] = list((workdir / "mail").glob("*.eml"))
    parsed = email.message_from_bytes(file.read_bytes(), policy=default_policy)
    assert parsed["Message-ID"] == message_id and parsed["To"] == "operator@example.org"
    assert parsed["Subject"] == "summitcal test message"
    code, out, _ = run(capsys, "outbox")
    assert code == 0
    assert "test  operator@example.org  sent" in out.splitlines()[1]


def test_send_test_over_smtp(configure, smtp_server, capsys):
    configure(mail={"transport": "smtp"}, **{"mail.smtp": smtp_section(smtp_server)})
    code, out, err = run(capsys, "send-test", "ops@example.org")
    assert code == 0 and err == ""
    [delivered] = smtp_server.handler.messages
    assert delivered.rcpt_tos == ["ops@example.org"]
    parsed = email.message_from_bytes(delivered.content, policy=default_policy)
    assert parsed["Message-ID"] == out.strip()


def test_send_test_failures_are_one_line_and_exit_1(configure, smtp_server, capsys):
    configure(mail={"transport": "smtp"}, **{"mail.smtp": smtp_section(smtp_server)})
    smtp_server.handler.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    code, _, err = run(capsys, "send-test", "gone@example.org")
    assert code == 1
    assert "550 5.1.1 No such user" in one_error_line(err)

    smtp_server.refuse_connections = 1
    code, _, err = run(capsys, "send-test", "busy@example.org")
    assert code == 1 and "421" in one_error_line(err)

    code, out, _ = run(capsys, "outbox", "--status", "failed")
    assert code == 0 and "gone@example.org" in out and "busy@example.org" in out


def test_send_test_with_nobody_listening(configure, capsys):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure(mail={"transport": "smtp"}, **{"mail.smtp": smtp_section(port=port)})
    code, _, err = run(capsys, "send-test", "ops@example.org")
    assert code == 1 and "refused" in one_error_line(err).lower()


def test_send_test_refuses_a_bad_address(configure, capsys):
    configure()
    code, out, err = run(capsys, "send-test", "not an address")
    assert code == 1 and out == ""
    assert "email" in one_error_line(err)


# --- outbox, outbox retry --------------------------------------------------------------

def test_outbox_lists_newest_first_with_a_status_filter(engine, capsys):
    queue(engine, 3)
    [first] = outbox.claim(engine, "w", 1, NOW)
    outbox.mark_failed(engine, first.id, "550 5.1.1 No such user\nsecond line", now=NOW)
    code, out, err = run(capsys, "outbox")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "KIND", "RECIPIENT", "STATUS", "DUE", "(UTC)",
                                "ATTEMPTS", "LAST", "ERROR"]
    assert [line.split()[2] for line in lines[1:4]] == [
        "m2@example.org", "m1@example.org", "m0@example.org"]
    assert lines[3].split()[3:] == ["failed", "2021-09-15", "09:00:00", "1", "550", "5.1.1",
                                    "No", "such", "user", "second", "line"]
    assert lines[-1] == "pending 2, sending 0, sent 0, failed 1, expired 0, cancelled 0"

    code, out, _ = run(capsys, "outbox", "--status", "failed", "--limit", "5")
    assert code == 0 and len(out.splitlines()) == 3
    code, out, _ = run(capsys, "outbox", "--status", "sent")
    assert code == 0 and out.splitlines()[0] == "no messages sent"


def test_outbox_rejects_an_unknown_status(engine, capsys):
    code, _, err = run(capsys, "outbox", "--status", "lost")
    assert code == 1 and "lost" in one_error_line(err)


def test_outbox_retry(engine, capsys):
    queue(engine, 2)
    failed, sending = outbox.claim(engine, "w", 2, NOW)
    outbox.mark_failed(engine, failed.id, "550 mailbox full", now=NOW)
    code, out, err = run(capsys, "outbox", "retry", str(failed.id))
    assert (code, err) == (0, "")
    assert out.startswith(f"message {failed.id} (test to m0@example.org) is pending again")
    assert outbox.get(engine, failed.id).status == "pending"

    code, _, err = run(capsys, "outbox", "retry", str(sending.id))
    assert code == 1 and "is sending" in one_error_line(err)
    code, _, err = run(capsys, "outbox", "retry", "999999")
    assert code == 1 and one_error_line(err) == "error: unknown outbox message: '999999'"
    code, _, err = run(capsys, "outbox", "retry", "abc")
    assert code == 1 and "abc" in one_error_line(err)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_real_exit_codes_of_the_installed_script(engine, workdir):
    script = Path(sys.executable).with_name("summitcal")
    result = subprocess.run([str(script), "outbox", "retry", "42"], capture_output=True,
                            text=True, check=False, cwd=workdir, timeout=60,
                            env=os.environ | {"PYTHONWARNINGS": "error"})
    assert result.returncode == 1
    assert result.stderr == "error: unknown outbox message: '42'\n" and result.stdout == ""


def test_regression_send_test_failing_prints_one_line_as_a_command(tmp_path):
    """Run as a command (no test logging plugin in between), a refused connection printed
    delivery's log line and then the command's error line, both saying the same."""
    import os
    import socket
    import subprocess

    from tests.serving import SCRIPT

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = tmp_path / "config.toml"
    config.write_text(f'[service]\ndata_dir = "{tmp_path}/data"\n[schedules]\npaths = []\n'
                      f'[mail]\ntransport = "smtp"\n[mail.smtp]\nhost = "127.0.0.1"\n'
                      f"port = {port}\n")
    env = {**os.environ, "SUMMITCAL_SECRET_KEY": "k" * 40}
    env.pop("SUMMITCAL_DATABASE_URL", None)
    done = subprocess.run([str(SCRIPT), "--config", str(config), "send-test", "ops@example.org"],
                          capture_output=True, text=True, env=env, timeout=60, check=False)
    assert done.returncode == 1 and done.stdout == ""
    assert "refused" in one_error_line(done.stderr).lower()
