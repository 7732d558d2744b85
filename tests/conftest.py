"""Shared fixtures: one migrated database per test session (SQLite, or PostgreSQL when
``AGENTDECK_TEST_DATABASE_URL`` is set), the app, and an HTTP client per test."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic_ai import models
from sqlalchemy import text

from agentdeck.app import create_app
from agentdeck.config import ApiSettings, AuthSettings, DatabaseSettings, LLMSettings, Settings
from agentdeck.kit import netguard
from agentdeck.kit.db import create_engine
from agentdeck.migrations import upgrade_to_head, upgrade_to_head_async
from tests.offline_model import use_offline_models

_ips = itertools.count(1)


def _test_db_url(tmp: Path) -> str:
    return os.environ.get("AGENTDECK_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp / 'test.db'}"


async def _reset_postgres(url: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP SCHEMA public CASCADE"))
        await conn.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(autouse=True)
def _no_real_model_requests() -> Iterator[None]:
    """pydantic-ai's global switch: no test reaches a real model unless it opts in (tests of
    the providers' wire protocols do, against MockTransport or a local server)."""
    with models.override_allow_model_requests(False):
        yield


@pytest.fixture(autouse=True)
def _network_policy_per_test() -> Iterator[None]:
    """An app a test builds installs its network policy process-wide (one policy per process,
    as in production); the next test starts from the policy it found."""
    previous = netguard.current_policy()
    yield
    netguard.configure(previous)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    data_dir = tmp_path_factory.mktemp("agentdeck")
    url = _test_db_url(data_dir)
    if url.startswith("postgresql"):
        asyncio.run(_reset_postgres(url))
    upgrade_to_head(url)
    return Settings(
        env="test",
        data_dir=data_dir,
        db=DatabaseSettings(url=url),
        # Cheap hashing keeps the suite fast; production defaults are far stronger.
        auth=AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024),
        api=ApiSettings(max_body_bytes=64 * 1024, cors_origins=["http://localhost:3000"]),
        llm=LLMSettings(warm_local_model=False),
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[object]:
    application = use_offline_models(create_app(settings, configure_logs=False))
    yield application
    await application.state.runtime.engine.dispose()


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    """A client on its own fake IP, so per-IP login throttling never spans tests."""
    n = next(_ips)
    transport = httpx.ASGITransport(
        app=app, client=(f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}", 50000)
    )  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def _database_urls() -> list[Any]:
    pg = os.environ.get("AGENTDECK_TEST_DATABASE_URL")
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(pg, id="postgresql", marks=pytest.mark.skipif(not pg, reason="no PostgreSQL")),
    ]


@pytest.fixture(params=_database_urls())
async def server_db(
    request: pytest.FixtureRequest, tmp_path: Path, settings: Settings
) -> AsyncIterator[Settings]:
    """Settings of a database for a test's own server or worker processes: a fresh SQLite
    file, and the session's PostgreSQL database when there is one."""
    url = request.param  # PostgreSQL: the session's database (``settings`` migrated it)
    if url == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'server.db'}"
        await upgrade_to_head_async(url)
    yield Settings(
        env="test",
        data_dir=tmp_path,
        db=DatabaseSettings(url=url),
        auth=AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024),
    )
