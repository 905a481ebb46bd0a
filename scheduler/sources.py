"""What the renderers read, handed to them by the shell: never the running service itself.

``Sources`` holds the database engine (subscribers as they are at render time), the
snapshot function (the current schedule, ``summits.snapshot``), the settings links are
made from (the secret key and the public URL) and the From address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.engine import Engine

from summitcal.core.settings import MailSection, ServiceSection
from summitcal.subscriptions.subscribers import LinkSettings
from summitcal.summits.snapshot import Snapshot, SnapshotFunction


class SenderSettings(Protocol):
    """The configuration's ``[mail]`` and ``[service]`` sections (``Config`` is one)."""

    @property
    def mail(self) -> MailSection: ...

    @property
    def service(self) -> ServiceSection: ...


class RenderSettings(LinkSettings, SenderSettings, Protocol):
    """Links' settings and the sender's: what every renderer's messages are made from."""


class _Store(Protocol):
    @property
    def engine(self) -> Engine: ...


class Service(Protocol):
    """A running service, as ``Sources.of`` reads it."""

    @property
    def store(self) -> _Store: ...

    @property
    def config(self) -> RenderSettings: ...

    def snapshot(self) -> Snapshot: ...


@dataclass(frozen=True, slots=True)
class Sources:
    """The parts renderers read: ``engine``, ``snapshot`` (``() -> Snapshot``) and
    ``settings`` (``summitcal.app.config.Config`` is one)."""

    engine: Engine
    snapshot: SnapshotFunction
    settings: RenderSettings

    @classmethod
    def of(cls, service: Service) -> Sources:
        """The parts of a running service (``summitcal.app.runtime.Runtime`` is one)."""
        return cls(service.store.engine, service.snapshot, service.config)

    @property
    def sender(self) -> str:
        """The From of every message (``mail.from``)."""
        return self.settings.mail.sender

    @property
    def base_url(self) -> str:
        """The service's public URL (``service.base_url``), without a trailing slash."""
        return self.settings.service.base_url
