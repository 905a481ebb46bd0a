"""An SMTP sink in its own process, for the crash test: it outlives the delivery process
that is killed. ``python -m tests.outbox.sink PORT_FILE LOG_FILE``: listens on a free
loopback port (written to PORT_FILE once ready), appends ``recipient<TAB>Message-ID`` to
LOG_FILE for every message before answering 250, and runs until SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from tests.scheduler.conftest import Recorder, SmtpServer


class Sink(Recorder):
    def __init__(self, log: Path) -> None:
        super().__init__()
        self.log = log.open("a", encoding="utf-8", buffering=1)
        self.parser = BytesHeaderParser()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        headers = self.parser.parsebytes(envelope.original_content or b"")
        for recipient in envelope.rcpt_tos:
            self.log.write(f"{recipient}\t{headers['Message-ID']}\n")
        self.log.flush()
        return "250 2.0.0 Accepted"


def main(port_file: str, log_file: str) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = SmtpServer(Sink(Path(log_file)))
    server.start()
    temporary = Path(port_file + ".tmp")
    temporary.write_text(str(server.port))
    temporary.rename(port_file)
    stop.wait()
    server.stop()


if __name__ == "__main__":
    main(*sys.argv[1:3])
