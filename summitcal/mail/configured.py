"""The transport the configuration asks for: files or SMTP (``[mail]``, ``[mail.smtp]``)."""

from __future__ import annotations

from typing import Protocol

from summitcal.core.settings import MailSection, SmtpSection
from summitcal.mail.smtp import SmtpTransport
from summitcal.mail.transport import FileTransport, Transport


class MailSettings(Protocol):
    """What choosing a transport reads of the configuration (``summitcal.app.config.Config``
    is one): the two sections and the SMTP password, which only the environment gives."""

    @property
    def mail(self) -> MailSection: ...

    @property
    def smtp(self) -> SmtpSection: ...

    @property
    def smtp_password(self) -> str | None: ...


def transport_from_config(config: MailSettings) -> Transport:
    """``FileTransport`` into ``mail.file_dir`` when ``mail.transport`` is ``file``, else
    one ``SmtpTransport`` (one connection, reused) as ``[mail.smtp]`` says."""
    if config.mail.transport == "file":
        return FileTransport(config.mail.file_dir)
    smtp = config.smtp
    return SmtpTransport(smtp.host, smtp.port, smtp.security, smtp.username or None,
                         config.smtp_password, smtp.timeout.total_seconds())
