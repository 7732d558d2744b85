"""An access token ends with its login session (issue 11 item 9).

Through the HTTP API: logout and refresh-token reuse end the session's access tokens at
once; a session revoked elsewhere (another process) is seen on a cache miss; a token that
names no session is refused. The cache itself is tested with an injected clock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import jwt
from sqlalchemy import update

from agentdeck.auth.revocations import SessionRevocations
from agentdeck.models import RefreshToken
from tests.factories import PASSWORD, create_tenant

PROBLEM = "application/problem+json"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _me(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.get("/api/v1/me", headers=_bearer(token))


async def test_logout_ends_the_access_token_at_once(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    other = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": PASSWORD}
    )
    assert other.status_code == 200, other.text
    assert (await _me(client, tenant.access_token)).status_code == 200

    out = await client.post("/api/v1/auth/logout", json={"refresh_token": tenant.refresh_token})
    assert out.status_code == 204

    ended = await _me(client, tenant.access_token)
    assert ended.status_code == 401
    assert ended.headers["content-type"] == PROBLEM
    # The same user's other sign-in is another session and goes on.
    assert (await _me(client, other.json()["access_token"])).status_code == 200


async def test_refresh_reuse_ends_the_familys_access_tokens(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    rotated = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token}
    )
    assert rotated.status_code == 200
    second_access = rotated.json()["access_token"]
    assert (await _me(client, tenant.access_token)).status_code == 200
    assert (await _me(client, second_access)).status_code == 200

    reused = await client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})
    assert reused.status_code == 401

    assert (await _me(client, tenant.access_token)).status_code == 401
    assert (await _me(client, second_access)).status_code == 401


async def test_a_session_revoked_by_another_process_is_seen(
    client: httpx.AsyncClient, app: Any
) -> None:
    tenant = await create_tenant(client)
    # Revoke in the database only, as another process would; this process has not looked
    # the session up yet, so it asks the database.
    async with app.state.runtime.sessionmaker() as session:
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == uuid.UUID(tenant.user_id))
            .values(revoked_at=dt.datetime.now(dt.UTC))
        )
        await session.commit()
    assert (await _me(client, tenant.access_token)).status_code == 401


async def test_a_token_without_a_session_is_refused(client: httpx.AsyncClient, app: Any) -> None:
    tenant = await create_tenant(client)
    runtime = app.state.runtime
    algorithm = runtime.settings.auth.jwt_algorithm
    claims = jwt.decode(tenant.access_token, runtime.jwt_secret, algorithms=[algorithm])
    del claims["sid"]
    old_style = jwt.encode(claims, runtime.jwt_secret, algorithm=algorithm)
    resp = await _me(client, old_style)
    assert resp.status_code == 401
    assert resp.headers["content-type"] == PROBLEM


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_cache_keeps_a_live_answer_for_the_ttl_only() -> None:
    clock = _Clock()
    cache = SessionRevocations(ttl_s=5.0, clock=clock)
    sid = uuid.uuid4()
    assert cache.cached(sid) is None
    cache.remember(sid, False)
    clock.now += 4.9
    assert cache.cached(sid) is False
    clock.now += 0.1
    assert cache.cached(sid) is None


def test_a_revocation_is_final() -> None:
    clock = _Clock()
    cache = SessionRevocations(ttl_s=5.0, clock=clock)
    sid = uuid.uuid4()
    cache.remember(sid, False)
    cache.revoke(sid)
    assert cache.cached(sid) is True
    # A "live" read that started before the revocation does not undo it.
    cache.remember(sid, False)
    clock.now += 3600
    assert cache.cached(sid) is True


def test_the_cache_is_bounded() -> None:
    cache = SessionRevocations(max_entries=2, clock=_Clock())
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for sid in (first, second, third):
        cache.remember(sid, True)
    assert cache.cached(first) is None
    assert cache.cached(second) is True
    assert cache.cached(third) is True
