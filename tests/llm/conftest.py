"""Fixtures for the LLM gateway tests: fake models, mock HTTP transports, a local server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx2
import pytest
from llm_helpers import FakeSleep, Router
from pydantic_ai import models

from agentdeck.llm import Gateway, ListUsageSink


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "local_model: runs the real offline local model (slow)")


@pytest.fixture(autouse=True)
def _forbid_real_model_requests() -> Iterator[None]:
    """No test may reach a real model; wire tests opt in with `allow_model_requests`."""
    with models.override_allow_model_requests(False):
        yield


@pytest.fixture
def allow_model_requests() -> Iterator[None]:
    with models.override_allow_model_requests(True):
        yield


@pytest.fixture
def sink() -> ListUsageSink:
    return ListUsageSink()


@pytest.fixture
def fake_sleep() -> FakeSleep:
    return FakeSleep()


@pytest.fixture
def router() -> Router:
    return Router()


@pytest.fixture
async def mock_http(router: Router) -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(router)) as client:
        yield client


@pytest.fixture
def make_gateway(
    sink: ListUsageSink, fake_sleep: FakeSleep, mock_http: httpx2.AsyncClient
) -> Callable[..., Gateway]:
    def make(**kwargs: Any) -> Gateway:
        kwargs.setdefault("usage_sink", sink)
        kwargs.setdefault("sleep", fake_sleep)
        kwargs.setdefault("http_client", mock_http)
        return Gateway(**kwargs)

    return make
