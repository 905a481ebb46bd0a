"""The SMTP transport against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import email
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.policy import default
from typing import Any

import pytest
from icalendar import Calendar

from summitcal.mail.smtp import SmtpTransport
from summitcal.mail.transport import PermanentFailure, RawEmail, RecipientRefused, TemporaryFailure
from summitcal.scheduler import samples
from summitcal.scheduler.compose import compose
from summitcal.scheduler.messages import Confirm, Reminder
from tests.scheduler.conftest import SmtpServer, TlsFiles, authenticator

BASE_URL = "https://cal.example.org"
Connect = Callable[..., SmtpTransport]
MakeServer = Callable[..., SmtpServer]
SENDER = "summitcal <summitcal@cal.example.org>"


def message(number: int = 0, recipient: str = "reader@example.net") -> RawEmail:
    return compose(Confirm(f"{BASE_URL}/confirm/{number}"), sender=SENDER, recipient=recipient,
                   key=f"confirm-{number}-{recipient}",
                   date=datetime(2021, 9, 15, 9, tzinfo=UTC), base_url=BASE_URL,
                   unsubscribe_url=f"{BASE_URL}/unsubscribe/t")


@pytest.fixture
def connect() -> Iterator[Callable[..., SmtpTransport]]:
    """Makes transports (to 127.0.0.1) and closes them after the test."""
    opened: list[SmtpTransport] = []

    def make(server: SmtpServer | None = None, port: int | None = None,
             **options: Any) -> SmtpTransport:
        options.setdefault("timeout", 5.0)
        options.setdefault("local_hostname", "client.test")
        if port is None:
            assert server is not None
            port = server.port
        transport = SmtpTransport("127.0.0.1", port, **options)
        opened.append(transport)
        return transport

    yield make
    for transport in opened:
        transport.close()


def test_fifty_messages_over_one_connection(smtp_server: SmtpServer, connect: Connect) -> None:
    transport = connect(smtp_server)
    sent = [message(n, f"reader{n}@example.net") for n in range(50)]
    for item in sent:
        transport.send(item)
    assert smtp_server.connections == 1
    assert transport.connections == 1
    delivered = smtp_server.handler.messages
    assert [d.rcpt_tos for d in delivered] == [[f"reader{n}@example.net"] for n in range(50)]
    assert {d.mail_from for d in delivered} == {"summitcal@cal.example.org"}
    parsed = [email.message_from_bytes(d.content, policy=default) for d in delivered]
    assert [p["Message-ID"] for p in parsed] == [m.message_id for m in sent]
    assert parsed[7]["Subject"] == "Confirm your summitcal subscription"


def test_the_reminder_arrives_whole(smtp_server: SmtpServer, connect: Connect) -> None:
    context = Reminder(samples.CSTO, samples.schedule(), "Europe/Moscow",
                       timedelta(0), f"{BASE_URL}/manage/t")
    sent = compose(context, sender=SENDER, recipient="reader@example.net", key="r",
                   date=datetime(2021, 9, 16, 5, tzinfo=UTC), base_url=BASE_URL,
                   unsubscribe_url=f"{BASE_URL}/unsubscribe/t")
    connect(smtp_server).send(sent)
    [delivered] = smtp_server.handler.messages
    parsed = email.message_from_bytes(delivered.content, policy=default)
    assert parsed["Subject"] == email.message_from_bytes(sent.data, policy=default)["Subject"]
    [ics] = list(parsed.iter_attachments())
    [event] = Calendar.from_ical(ics.get_content()).walk("VEVENT")
    assert str(event["UID"]) == "dushanbe-2021-csto-council@cal.example.org"
    assert event.decoded("DTSTART") == samples.CSTO.start


def test_421_at_connect_then_the_server_recovers(smtp_server: SmtpServer,
                                                  connect: Connect) -> None:
    smtp_server.refuse_connections = 2
    transport = connect(smtp_server)
    for _ in range(2):
        with pytest.raises(TemporaryFailure, match="421 4.3.2 Too busy") as caught:
            transport.send(message(1))
        assert caught.value.code == 421
    transport.send(message(1))
    assert len(smtp_server.handler.messages) == 1
    assert smtp_server.connections == 3


def test_421_mid_session_is_temporary_and_the_next_send_reconnects(
        smtp_server: SmtpServer, connect: Connect) -> None:
    smtp_server.handler.mail_replies = ["421 4.3.2 Shutting down"]
    transport = connect(smtp_server)
    with pytest.raises(TemporaryFailure, match="421 4.3.2 Shutting down"):
        transport.send(message(1))
    transport.send(message(1))
    transport.send(message(2))
    assert len(smtp_server.handler.messages) == 2
    assert smtp_server.connections == 2


def test_a_connection_dropped_while_idle_is_reopened_transparently(
        smtp_server: SmtpServer, connect: Connect) -> None:
    transport = connect(smtp_server)
    transport.send(message(1))
    smtp_server.drop_connections()
    transport.send(message(2))
    smtp_server.drop_connections(reply="421 4.4.2 Idle timeout, closing connection")
    transport.send(message(3))
    assert [d.rcpt_tos for d in smtp_server.handler.messages] == [["reader@example.net"]] * 3
    assert smtp_server.connections == 3


def test_421_on_a_reused_connection_is_retried_once_on_a_fresh_one(
        smtp_server: SmtpServer, connect: Connect) -> None:
    transport = connect(smtp_server)
    transport.send(message(1))
    smtp_server.handler.mail_replies = ["421 4.7.0 Too many messages on this connection"]
    transport.send(message(2))
    assert len(smtp_server.handler.messages) == 2
    smtp_server.handler.mail_replies = ["421 4.3.2 Busy"] * 2
    with pytest.raises(TemporaryFailure, match="421 4.3.2 Busy"):
        transport.send(message(3))


def test_a_message_the_server_may_have_taken_is_not_sent_again(
        smtp_server: SmtpServer, connect: Connect) -> None:
    transport = connect(smtp_server)
    transport.send(message(1))
    smtp_server.handler.drop_after_data = 1
    with pytest.raises(TemporaryFailure, match="connection lost"):
        transport.send(message(2))
    assert len(smtp_server.handler.messages) == 2  # taken once; the outbox decides the rest
    transport.send(message(3))
    assert len(smtp_server.handler.messages) == 3


def test_550_for_one_recipient_fails_that_message_only(smtp_server: SmtpServer,
                                                       connect: Connect) -> None:
    refusal = "550 5.1.1 <gone@example.net>: no such user"
    smtp_server.handler.rcpt_replies["gone@example.net"] = refusal
    transport = connect(smtp_server)
    transport.send(message(1))
    with pytest.raises(PermanentFailure, match=refusal) as caught:
        transport.send(message(2, "gone@example.net"))
    assert caught.value.code == 550
    assert "gone@example.net" in str(caught.value)
    transport.send(message(3))
    assert [d.rcpt_tos for d in smtp_server.handler.messages] == [["reader@example.net"]] * 2
    assert smtp_server.connections == 1


def test_4xx_for_a_recipient_is_temporary(smtp_server: SmtpServer, connect: Connect) -> None:
    smtp_server.handler.rcpt_replies["full@example.net"] = "452 4.2.2 Mailbox full"
    transport = connect(smtp_server)
    with pytest.raises(TemporaryFailure, match="452 4.2.2 Mailbox full"):
        transport.send(message(1, "full@example.net"))
    transport.send(message(2))
    assert smtp_server.connections == 1


def test_5xx_for_the_content_is_permanent(smtp_server: SmtpServer, connect: Connect) -> None:
    smtp_server.handler.data_replies = ["554 5.7.1 Message rejected as spam"]
    transport = connect(smtp_server)
    with pytest.raises(PermanentFailure, match="message refused: 554 5.7.1 Message rejected"):
        transport.send(message(1))
    transport.send(message(2))
    assert len(smtp_server.handler.messages) == 1
    assert smtp_server.connections == 1


def test_5xx_for_the_sender_is_permanent(smtp_server: SmtpServer, connect: Connect) -> None:
    smtp_server.handler.mail_replies = ["553 5.7.1 Sender address rejected"]
    transport = connect(smtp_server)
    with pytest.raises(PermanentFailure, match="sender <summitcal@cal.example.org> refused: 553"):
        transport.send(message(1))
    transport.send(message(2))
    assert len(smtp_server.handler.messages) == 1


def test_connection_refused_is_temporary(connect: Connect) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TemporaryFailure, match=f"SMTP 127.0.0.1:{port}: cannot open a session"):
        connect(port=port).send(message(1))


def test_a_silent_server_times_out(connect: Connect) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)  # accepts in the kernel, never greets
        transport = connect(port=silent.getsockname()[1], timeout=0.3)
        with pytest.raises(TemporaryFailure, match="timed out"):
            transport.send(message(1))


def test_close_then_send_opens_a_new_connection(smtp_server: SmtpServer,
                                                 connect: Connect) -> None:
    transport = connect(smtp_server)
    transport.send(message(1))
    transport.close()
    transport.close()
    transport.send(message(2))
    assert smtp_server.connections == 2


def test_parallel_transports_one_connection_each(smtp_server: SmtpServer,
                                                  connect: Connect) -> None:
    transports = [connect(smtp_server) for _ in range(4)]
    errors: list[BaseException] = []

    def work(transport: SmtpTransport, worker: int) -> None:
        try:
            for n in range(10):
                transport.send(message(n, f"w{worker}-{n}@example.net"))
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t, i)) for i, t in enumerate(transports)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(smtp_server.handler.messages) == 40
    assert smtp_server.connections == 4


def test_one_transport_shared_by_threads_is_serialised(smtp_server: SmtpServer,
                                                       connect: Connect) -> None:
    transport = connect(smtp_server)

    def work(worker: int) -> None:
        for n in range(5):
            transport.send(message(n, f"s{worker}-{n}@example.net"))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(smtp_server.handler.messages) == 20
    assert smtp_server.connections == 1


def test_starttls(make_smtp_server: MakeServer, tls_files: TlsFiles, connect: Connect) -> None:
    server = make_smtp_server(tls_context=tls_files.server_context(), require_starttls=True)
    transport = connect(server, security="starttls", ssl_context=tls_files.client_context())
    transport.send(message(1))
    transport.send(message(2))
    assert [d.tls for d in server.handler.messages] == [True, True]
    assert server.connections == 1


def test_without_starttls_nothing_is_sent_in_the_clear(smtp_server: SmtpServer,
                                                       connect: Connect) -> None:
    transport = connect(smtp_server, security="starttls")
    with pytest.raises(TemporaryFailure, match="STARTTLS"):
        transport.send(message(1))
    assert smtp_server.handler.messages == []


def test_an_untrusted_certificate_is_refused(make_smtp_server: MakeServer, tls_files: TlsFiles,
                                             connect: Connect) -> None:
    server = make_smtp_server(tls_context=tls_files.server_context(), require_starttls=True)
    with pytest.raises(TemporaryFailure, match="CERTIFICATE_VERIFY_FAILED"):
        connect(server, security="starttls").send(message(1))
    assert server.handler.messages == []


def test_implicit_tls(make_smtp_server: MakeServer, tls_files: TlsFiles, connect: Connect) -> None:
    server = make_smtp_server(ssl_context=tls_files.server_context())
    transport = connect(server, security="tls", ssl_context=tls_files.client_context())
    transport.send(message(1))
    transport.send(message(2))
    assert len(server.handler.messages) == 2
    assert server.connections == 1


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_login(make_smtp_server: MakeServer, tls_files: TlsFiles, connect: Connect,
               mechanism: str) -> None:
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    server = make_smtp_server(tls_context=tls_files.server_context(), require_starttls=True,
                              auth_required=True, auth_exclude_mechanism=[other],
                              authenticator=authenticator({"cal": "s3cret"}))
    transport = connect(server, security="starttls", ssl_context=tls_files.client_context(),
                        username="cal", password="s3cret")
    transport.send(message(1))
    transport.send(message(2))
    assert server.handler.logins == [(mechanism, "cal")]
    assert len(server.handler.messages) == 2


def test_a_wrong_password_is_reported(make_smtp_server: MakeServer, tls_files: TlsFiles,
                                      connect: Connect) -> None:
    server = make_smtp_server(tls_context=tls_files.server_context(), require_starttls=True,
                              auth_required=True, authenticator=authenticator({"cal": "s3cret"}))
    transport = connect(server, security="starttls", ssl_context=tls_files.client_context(),
                        username="cal", password="wrong")
    with pytest.raises(TemporaryFailure, match="535"):
        transport.send(message(1))
    assert server.handler.messages == []


def test_unknown_security_is_refused() -> None:
    with pytest.raises(ValueError, match="starttls"):
        SmtpTransport("127.0.0.1", 25, security="ssl")


def test_an_address_that_is_not_ascii_goes_with_smtputf8(make_smtp_server: MakeServer,
                                                         connect: Connect) -> None:
    server = make_smtp_server(enable_SMTPUTF8=True)  # aiosmtpd's controller default
    sent = message(1, "ünï@example.net")
    assert sent.smtputf8
    connect(server).send(sent)
    [delivered] = server.handler.messages
    assert delivered.rcpt_tos == ["ünï@example.net"]
    assert email.message_from_bytes(delivered.content, policy=default)["To"] == "ünï@example.net"


def test_without_smtputf8_such_an_address_is_a_permanent_failure(make_smtp_server: MakeServer,
                                                                 connect: Connect) -> None:
    server = make_smtp_server(enable_SMTPUTF8=False)
    transport = connect(server)
    with pytest.raises(PermanentFailure, match="SMTPUTF8"):
        transport.send(message(1, "ünï@example.net"))
    transport.send(message(2))
    assert [d.rcpt_tos for d in server.handler.messages] == [["reader@example.net"]]


# --- send_many: several messages, pipelined when the server offers it (RFC 2920) ---------

def test_send_many_pipelines_when_the_server_offers_it(smtp_server: SmtpServer,
                                                       connect: Connect) -> None:
    smtp_server.handler.pipelining = True
    sent = [message(n, f"reader{n}@example.net") for n in range(20)]
    assert connect(smtp_server).send_many(sent) == [None] * 20
    delivered = smtp_server.handler.messages
    assert [d.rcpt_tos for d in delivered] == [[f"reader{n}@example.net"] for n in range(20)]
    assert [d.content for d in delivered] == [m.data for m in sent]
    assert smtp_server.handler.pipelined == [True] * 20
    assert smtp_server.connections == 1


def test_send_many_without_pipelining_waits_for_each_reply(smtp_server: SmtpServer,
                                                           connect: Connect) -> None:
    sent = [message(n, f"reader{n}@example.net") for n in range(5)]
    assert connect(smtp_server).send_many(sent) == [None] * 5
    assert [d.content for d in smtp_server.handler.messages] == [m.data for m in sent]
    assert smtp_server.handler.pipelined == [False] * 5


@pytest.mark.parametrize("pipelining", [True, False])
def test_in_a_batch_a_refusal_fails_its_message_only(smtp_server: SmtpServer,
                                                     connect: Connect, pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    smtp_server.handler.rcpt_replies["gone@example.net"] = "550 5.1.1 No such user"
    smtp_server.handler.rcpt_replies["full@example.net"] = "452 4.2.2 Mailbox full"
    recipients = ["a@example.net", "gone@example.net", "b@example.net", "full@example.net",
                  "c@example.net"]
    outcomes = connect(smtp_server).send_many([message(n, r) for n, r in enumerate(recipients)])
    assert outcomes[0] is None and outcomes[2] is None and outcomes[4] is None
    assert isinstance(outcomes[1], RecipientRefused) and outcomes[1].code == 550
    assert isinstance(outcomes[3], TemporaryFailure) and outcomes[3].code == 452
    assert [d.rcpt_tos for d in smtp_server.handler.messages] == [
        ["a@example.net"], ["b@example.net"], ["c@example.net"]]
    assert smtp_server.connections == 1


@pytest.mark.parametrize("pipelining", [True, False])
def test_in_a_batch_refused_content_fails_its_message_only(smtp_server: SmtpServer,
                                                           connect: Connect,
                                                           pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    smtp_server.handler.data_replies = ["554 5.7.1 Message rejected as spam"]
    outcomes = connect(smtp_server).send_many([message(n) for n in range(3)])
    assert isinstance(outcomes[0], PermanentFailure) and outcomes[0].code == 554
    assert outcomes[1:] == [None, None]
    assert len(smtp_server.handler.messages) == 2


def test_in_a_pipelined_batch_a_421_leaves_the_rest_untried(smtp_server: SmtpServer,
                                                            connect: Connect) -> None:
    smtp_server.handler.pipelining = True
    smtp_server.handler.mail_replies = ["250 OK", "421 4.3.2 Shutting down"]
    outcomes = connect(smtp_server).send_many([message(n) for n in range(4)])
    assert outcomes[0] is None
    assert all(isinstance(o, TemporaryFailure) and o.code == 421 for o in outcomes[1:])
    assert len(smtp_server.handler.messages) == 1


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_421_to_a_batch_on_an_idle_connection_is_tried_once_more(
        smtp_server: SmtpServer, connect: Connect, pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    transport = connect(smtp_server)
    assert transport.send_many([message(0)]) == [None]
    smtp_server.handler.mail_replies = ["421 4.4.2 Idle timeout, closing connection"]
    assert transport.send_many([message(n) for n in range(1, 4)]) == [None] * 3
    assert len(smtp_server.handler.messages) == 4
    assert smtp_server.connections == 2


@pytest.mark.parametrize("pipelining", [True, False])
def test_in_a_batch_a_lost_connection_fails_the_message_in_flight_and_the_rest(
        smtp_server: SmtpServer, connect: Connect, pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    smtp_server.handler.drop_after_data = 1  # took the first, died before saying so
    outcomes = connect(smtp_server).send_many([message(n) for n in range(3)])
    assert all(isinstance(o, TemporaryFailure) and o.code is None for o in outcomes)
    assert len(smtp_server.handler.messages) == 1


@pytest.mark.parametrize("pipelining", [True, False])
def test_a_batch_after_an_idle_drop_goes_on_a_fresh_connection(smtp_server: SmtpServer,
                                                               connect: Connect,
                                                               pipelining: bool) -> None:
    smtp_server.handler.pipelining = pipelining
    transport = connect(smtp_server)
    transport.send(message(0))
    smtp_server.drop_connections()
    assert transport.send_many([message(n) for n in range(1, 4)]) == [None] * 3
    assert len(smtp_server.handler.messages) == 4
    assert smtp_server.connections == 2


def test_send_many_to_a_server_that_is_down_fails_each(connect: Connect) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    outcomes = connect(port=port).send_many([message(n) for n in range(3)])
    assert all(isinstance(o, TemporaryFailure) and o.code is None for o in outcomes)
