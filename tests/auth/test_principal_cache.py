"""API keys' and users' principals are read once per few seconds, and forgotten at once
when what they rest on changes (a revoked key, a removed member, a new space, a new role)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from agentdeck.auth.principal_cache import PrincipalCache
from tests.factories import (
    create_api_key,
    create_space,
    create_tenant,
    join_by_invitation,
    key_headers,
)


@pytest.fixture
def statements(app: Any) -> Iterator[list[str]]:
    """The SQL statements the app runs while the test watches."""
    seen: list[str] = []
    engine = app.state.runtime.engine.sync_engine

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    yield seen
    event.remove(engine, "before_cursor_execute", record)


async def test_a_key_is_authenticated_without_queries_while_cached(
    client: httpx.AsyncClient, statements: list[str]
) -> None:
    tenant = await create_tenant(client)
    key = (await create_api_key(client, tenant, scopes=["read"]))["key"]
    assert (await client.get("/api/v1/spaces", headers=key_headers(key))).status_code == 200
    statements.clear()
    assert (await client.get("/api/v1/spaces", headers=key_headers(key))).status_code == 200
    assert not [s for s in statements if "api_keys" in s or "org_memberships" in s]


async def test_a_revoked_key_is_refused_at_once(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    created = await create_api_key(client, tenant, scopes=["read"])
    headers = key_headers(created["key"])
    assert (await client.get("/api/v1/spaces", headers=headers)).status_code == 200
    revoked = await client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers)
    assert revoked.status_code == 204
    assert (await client.get("/api/v1/spaces", headers=headers)).status_code == 401


async def test_a_removed_members_key_and_session_stop_at_once(
    client: httpx.AsyncClient,
) -> None:
    owner = await create_tenant(client)
    member = await join_by_invitation(client, owner)
    key = (await create_api_key(client, member, scopes=["read"]))["key"]
    for headers in (key_headers(key), member.headers):
        assert (await client.get("/api/v1/spaces", headers=headers)).status_code == 200
    removed = await client.delete(
        f"/api/v1/orgs/{owner.org_id}/members/{member.user_id}", headers=owner.headers
    )
    assert removed.status_code == 204
    for headers in (key_headers(key), member.headers):
        assert (await client.get("/api/v1/spaces", headers=headers)).status_code == 401


async def test_a_new_space_is_usable_at_once_and_other_tenants_get_404(
    client: httpx.AsyncClient,
) -> None:
    tenant = await create_tenant(client)
    other = await create_tenant(client)
    assert (await client.get("/api/v1/spaces", headers=tenant.headers)).status_code == 200
    space = await create_space(client, tenant)  # the cached scope did not know it
    got = await client.get(f"/api/v1/spaces/{space['id']}", headers=tenant.headers)
    assert got.status_code == 200
    assert (await client.get("/api/v1/spaces", headers=other.headers)).status_code == 200
    hidden = await client.get(f"/api/v1/spaces/{space['id']}", headers=other.headers)
    assert hidden.status_code == 404


def test_entries_expire_and_a_read_older_than_a_change_is_not_kept() -> None:
    now = [0.0]
    cache = PrincipalCache(ttl_s=5, clock=lambda: now[0])
    cache.put("k", "alice", cache.generation)
    assert cache.get("k") == "alice"
    now[0] = 5.0
    assert cache.get("k") is None
    started = cache.generation
    cache.clear()  # a membership changed while the read was under way
    cache.put("k", "stale", started)
    assert cache.get("k") is None
