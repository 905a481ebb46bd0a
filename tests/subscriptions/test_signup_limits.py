"""Sign-up mail cannot be turned against a mailbox: confirmation mail is limited per
mailbox (sub-addresses ``name+tag@`` count as one), per client address and overall, the
answer staying the same 202; the counts live in the database, so they hold across
processes. What the limits let through is delivered to a real SMTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from summitcal.app.config import load_config
from summitcal.app.runtime import Runtime
from summitcal.subscriptions import subscribers as subs
from summitcal.web.app import create_app
from tests.subscriptions.conftest import SECRET, Post, config_text, messages, sign_up

LIMITS = ("signup_limit_mailbox = 3\nsignup_limit_client = 6\nsignup_limit_total = 8\n"
          'signup_limit_window = "PT1H"')


def open_runtime(folder: Path, database_url: str) -> Runtime:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "config.toml"
    config.write_text(config_text(database_url, LIMITS))
    return Runtime.open(load_config(config, env={"SUMMITCAL_SECRET_KEY": SECRET}))


@pytest.fixture
def runtime(tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    runtime = open_runtime(tmp_path, database_url)
    runtime.load([Path(__file__).resolve().parents[2] / "schedules"], source="test")
    yield runtime
    runtime.close()


def client_at(runtime: Runtime, address: str) -> TestClient:
    return TestClient(create_app(runtime), client=(address, 50000))


def confirm_mail_to(post: Post, mailbox: str) -> int:
    local, domain = mailbox.split("@")
    return sum(1 for m in post.server.handler.messages for rcpt in m.rcpt_tos
               if rcpt.split("@")[0].split("+")[0] == local and rcpt.endswith("@" + domain))


def test_mailbox_normalisation_folds_sub_addresses():
    assert subs.mailbox("Victim+30@Example.org") == "victim@example.org"
    assert subs.mailbox("victim@example.org") == "victim@example.org"
    assert subs.mailbox("+tag@example.org") == "+tag@example.org"


def test_thirty_sub_addresses_send_three_mails_to_the_one_mailbox(runtime, post: Post):
    answers = set()
    with client_at(runtime, "198.51.100.7") as client:
        for number in range(1, 31):
            response = sign_up(client, f"victim+{number}@example.org")
            answers.add((response.status_code, response.content))
    assert len(answers) == 1 and next(iter(answers))[0] == 202
    post.deliver()
    assert confirm_mail_to(post, "victim@example.org") == 3
    assert len(messages(runtime, kind="confirm")) == 3


def test_one_client_gets_its_share_and_the_next_client_the_rest_of_the_total(
        runtime, post: Post):
    with client_at(runtime, "198.51.100.7") as first:
        for number in range(10):
            assert sign_up(first, f"reader{number}@example.org").status_code == 202
    with client_at(runtime, "203.0.113.9") as second:
        for number in range(10):
            assert sign_up(second, f"other{number}@example.net").status_code == 202
    post.deliver()
    sent = [rcpt for m in post.server.handler.messages for rcpt in m.rcpt_tos]
    assert len([r for r in sent if r.endswith("@example.org")]) == 6  # per client
    assert len([r for r in sent if r.endswith("@example.net")]) == 2  # the total: 8


def test_the_limits_hold_across_processes(runtime, tmp_path: Path, database_url, post: Post):
    with client_at(runtime, "198.51.100.7") as client:
        for number in range(3):
            sign_up(client, f"victim+{number}@example.org")
    other = open_runtime(tmp_path / "other", database_url)  # its own engine and app
    try:
        with client_at(other, "198.51.100.8") as client:
            assert sign_up(client, "Victim+99@example.org").status_code == 202
    finally:
        other.close()
    post.deliver()
    assert confirm_mail_to(post, "victim@example.org") == 3
