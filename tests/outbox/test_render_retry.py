"""A rendering error from the operating system (a file briefly missing or being made) is
transient: the message is tried again, not failed for good. On a fresh install three of
300 reminders once failed for ever with ``FileExistsError`` from the secret key file."""

from __future__ import annotations

from summitcal.mail import outbox
from summitcal.scheduler.delivery import Delivery
from summitcal.scheduler.messages import MessageKind
from summitcal.scheduler.renderers import Renderers, SendTestRenderer
from tests.outbox.conftest import FunctionRenderer, statuses
from tests.outbox.test_delivery import FAST, queue_now, settled, wait_for


def test_regression_an_os_error_while_rendering_is_retried(engine, make_config, tmp_path):
    config = make_config(mail={"file_dir": str(tmp_path / "mail")})
    renderer = SendTestRenderer(config)
    failures: list[int] = []

    def first_render_races(message, when):
        if message.id not in failures:
            failures.append(message.id)
            raise FileExistsError(17, "File exists", str(tmp_path / "data" / "secret_key"))
        return renderer.render(message, when)

    queue_now(engine, 3)
    renderers = Renderers({MessageKind.TEST: FunctionRenderer(first_render_races)})
    delivery = Delivery(engine, config, renderers, None,
                        workers=2, policy=FAST, poll=0.05)
    with delivery:
        wait_for(lambda: settled(engine))
    assert statuses(engine) == {"sent": 3}
    assert len(failures) == 3
    for message in outbox.list_messages(engine, limit=10):
        assert message.attempts == 2
        assert message.last_error.startswith("cannot render: FileExistsError:")
    assert len(list((tmp_path / "mail").glob("*.eml"))) == 3
