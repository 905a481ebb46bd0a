"""Fixtures for the feeds tests: the sample schedule and feed settings."""

from __future__ import annotations

from datetime import timedelta

import pytest

from summitcal.feeds.cache import FeedBuilder
from summitcal.feeds.settings import FeedSettings
from summitcal.summits.model import Schedule
from tests.feeds import samples


@pytest.fixture(scope="session")
def settings() -> FeedSettings:
    return FeedSettings(
        base_url=samples.BASE_URL,
        prodid="-//summitcal//tests//EN",
        refresh_interval=timedelta(hours=2),
        cancelled_retention=timedelta(days=30),
    )


@pytest.fixture(scope="session")
def schedule() -> Schedule:
    return samples.schedule()


@pytest.fixture
def builder(settings: FeedSettings) -> FeedBuilder:
    return FeedBuilder(settings)
