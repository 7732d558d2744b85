"""Failed-login throttling per account and per client IP (a separate app, strict settings)."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from agentdeck.app import create_app
from agentdeck.config import AuthSettings, Settings
from agentdeck.models import LoginThrottle
from tests.factories import PASSWORD, create_tenant, unique_email

_ips = itertools.count(1)


@pytest.fixture
async def strict_app(settings: Settings) -> AsyncIterator[Any]:
    auth = AuthSettings(
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        throttle_slowdown_after=2,
        throttle_lock_after=4,
        throttle_lock_s=600,
    )
    app = create_app(settings.model_copy(update={"auth": auth}), configure_logs=False)
    yield app
    await app.state.runtime.engine.dispose()


def _client(app: Any, ip: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def _fresh_ip() -> str:
    return f"172.16.{next(_ips) % 256}.{next(_ips) % 256}"


async def _login(client: httpx.AsyncClient, email: str, password: str) -> httpx.Response:
    return await client.post("/api/v1/auth/login", json={"email": email, "password": password})


async def _pretend_time_passed(app: Any, keys: list[str]) -> None:
    """Move the last failure back so the slow-down delay (not a lock) has run out."""
    async with app.state.runtime.sessionmaker() as session:
        await session.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key.in_(keys))
            .values(last_failure_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2))
        )
        await session.commit()


async def test_account_is_slowed_down_then_locked(strict_app: Any) -> None:
    ip = _fresh_ip()
    async with _client(strict_app, ip) as client:
        tenant = await create_tenant(client)
        keys = [f"email:{tenant.email}", f"ip:{ip}"]
        for _ in range(2):
            assert (await _login(client, tenant.email, "wrong-password!")).status_code == 401
        slowed = await _login(client, tenant.email, PASSWORD)
        assert slowed.status_code == 429, "the correct password is refused while slowed down"
        assert slowed.headers["content-type"] == "application/problem+json"
        assert int(slowed.headers["Retry-After"]) >= 1

        for _ in range(2):
            await _pretend_time_passed(strict_app, keys)
            assert (await _login(client, tenant.email, "wrong-password!")).status_code == 401
        await _pretend_time_passed(strict_app, keys)
        locked = await _login(client, tenant.email, PASSWORD)
        assert locked.status_code == 429, "the correct password is refused while locked"
        assert int(locked.headers["Retry-After"]) > 60, "a lock lasts throttle_lock_s"

    # The lock is on the account, not only on the IP it was attacked from.
    async with _client(strict_app, _fresh_ip()) as other_ip:
        resp = await _login(other_ip, tenant.email, PASSWORD)
        assert resp.status_code == 429


async def test_success_resets_the_account_counter(strict_app: Any) -> None:
    async with _client(strict_app, _fresh_ip()) as client:
        tenant = await create_tenant(client)
        assert (await _login(client, tenant.email, "wrong-password!")).status_code == 401
        assert (await _login(client, tenant.email, PASSWORD)).status_code == 200
    async with _client(strict_app, _fresh_ip()) as client:
        assert (await _login(client, tenant.email, "wrong-password!")).status_code == 401
        assert (await _login(client, tenant.email, PASSWORD)).status_code == 200


async def test_one_ip_failing_across_accounts_is_throttled(strict_app: Any) -> None:
    async with _client(strict_app, _fresh_ip()) as setup:
        victim = await create_tenant(setup)
    async with _client(strict_app, _fresh_ip()) as attacker:
        for _ in range(2):
            resp = await _login(attacker, unique_email("spray"), "wrong-password!")
            assert resp.status_code == 401
        blocked = await _login(attacker, victim.email, PASSWORD)
        assert blocked.status_code == 429
        assert "Retry-After" in blocked.headers
    # The victim, from their own IP, is unaffected.
    async with _client(strict_app, _fresh_ip()) as own:
        assert (await _login(own, victim.email, PASSWORD)).status_code == 200
