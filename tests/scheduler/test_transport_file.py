"""The file transport: one parseable .eml per Message-ID, written atomically."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from email.policy import default
from pathlib import Path

import pytest

from summitcal.app.config import load_config
from summitcal.mail.configured import transport_from_config
from summitcal.mail.smtp import SmtpTransport
from summitcal.mail.transport import (
    FileTransport,
    RawEmail,
    TemporaryFailure,
)
from summitcal.scheduler import samples
from summitcal.scheduler.compose import compose
from summitcal.scheduler.messages import Reminder

BASE_URL = "https://cal.example.org"


def message(key: str, recipient: str = "reader@example.net") -> RawEmail:
    context = Reminder(samples.CSTO, samples.schedule(), "Europe/Moscow", timedelta(hours=1),
                       f"{BASE_URL}/manage/t")
    return compose(context, sender="summitcal <summitcal@cal.example.org>", recipient=recipient,
                   key=key, date=datetime(2021, 9, 16, 4, tzinfo=UTC),
                   base_url=BASE_URL, unsubscribe_url=f"{BASE_URL}/unsubscribe/t")


def test_writes_one_parseable_eml_named_after_the_message_id(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path / "mail")
    sent = message("reminder-1")
    transport.send(sent)
    [path] = sorted((tmp_path / "mail").iterdir())
    assert path.name == sent.message_id.strip("<>") + ".eml"
    assert path.read_bytes() == sent.data
    parsed = email.message_from_bytes(path.read_bytes(), policy=default)
    assert parsed["Message-ID"] == sent.message_id
    assert parsed["Subject"] == ("In 1 hour: Session of the CSTO Collective Security Council, "
                                 "Dushanbe")
    assert b"\r\n" in path.read_bytes() and b"\n" not in path.read_bytes().replace(b"\r\n", b"")
    assert [a.get_filename() for a in parsed.iter_attachments()] == [
        "dushanbe-2021-csto-council.ics"]


def test_a_resend_replaces_the_file(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path)
    transport.send(message("reminder-1", "first@example.net"))
    transport.send(message("reminder-1", "second@example.net"))
    transport.send(message("reminder-2"))
    files = sorted(tmp_path.iterdir())
    assert len(files) == 2
    assert not [p for p in files if p.name.startswith(".")]  # no temporary file left
    again = email.message_from_bytes(FileTransport(tmp_path).path_for(
        message("reminder-1").message_id).read_bytes(), policy=default)
    assert again["To"] == "second@example.net"


def test_odd_message_ids_make_safe_names(tmp_path: Path) -> None:
    transport = FileTransport(tmp_path)
    assert transport.path_for("<../../etc/passwd@x>").parent == tmp_path
    assert transport.path_for("<../../etc/passwd@x>").name == "_.._.._etc_passwd@x.eml"
    assert transport.path_for("<a b/c@host>").name == "a_b_c@host.eml"


def test_an_unwritable_folder_is_a_temporary_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    with pytest.raises(TemporaryFailure, match="cannot write"):
        FileTransport(blocker).send(message("k"))


def test_transport_from_config(tmp_path: Path) -> None:
    config_file = tmp_path / "config.toml"
    config_file.write_text('[mail]\nfile_dir = "outgoing"\n')
    transport = transport_from_config(load_config(config_file, env={}))
    assert isinstance(transport, FileTransport)
    assert transport.directory == tmp_path / "outgoing"
    config_file.write_text('[mail]\ntransport = "smtp"\n[mail.smtp]\nhost = "mx.example.org"\n'
                           'port = 587\nsecurity = "starttls"\nusername = "cal"\n'
                           'timeout = "PT10S"\n')
    smtp = transport_from_config(load_config(config_file, env={"SUMMITCAL_SMTP_PASSWORD": "pw"}))
    assert isinstance(smtp, SmtpTransport)
    assert (smtp.host, smtp.port, smtp.security, smtp.username, smtp.password, smtp.timeout) == (
        "mx.example.org", 587, "starttls", "cal", "pw", 10.0)
    smtp.close()
