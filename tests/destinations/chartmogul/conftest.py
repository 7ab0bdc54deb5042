"""Fixtures for the ChartMogul destination: a fake clock, mocked HTTP, a destination."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import responses

from saasync.destinations.chartmogul.destination import ChartMogulDestination
from tests.destinations.chartmogul.helpers import FakeClock, make_destination


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def dest(clock: FakeClock) -> Iterator[ChartMogulDestination]:
    destination = make_destination(clock)
    yield destination
    destination.close()
