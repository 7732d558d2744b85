"""The audit log: who did what, from where; filters, pagination, access and no secrets."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import httpx

from tests.factories import (
    PASSWORD,
    Tenant,
    add_member,
    create_api_key,
    create_tenant,
    key_headers,
    switch_org,
)

UA = "agentdeck-tests/1.0 (audit)"


async def _entries(
    client: httpx.AsyncClient, tenant: Tenant, **params: Any
) -> list[dict[str, Any]]:
    resp = await client.get("/api/v1/audit-logs", params=params, headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    items: list[dict[str, Any]] = resp.json()["items"]
    return items


async def _busy_tenant(client: httpx.AsyncClient) -> tuple[Tenant, dict[str, Any], str]:
    """Sign up, log in, create a key and revoke another with an admin key."""
    client.headers["User-Agent"] = UA
    tenant = await create_tenant(client)
    login = await client.post(
        "/api/v1/auth/login", json={"email": tenant.email, "password": PASSWORD}
    )
    assert login.status_code == 200
    admin = await create_api_key(client, tenant, scopes=["admin"])
    victim = await create_api_key(client, tenant, name="to revoke")
    resp = await client.delete(
        f"/api/v1/api-keys/{victim['id']}", headers=key_headers(admin["key"])
    )
    assert resp.status_code == 204
    return tenant, admin, victim["id"]


async def test_entries_record_actor_target_ip_and_user_agent(client: httpx.AsyncClient) -> None:
    tenant, admin, victim_id = await _busy_tenant(client)
    entries = await _entries(client, tenant)
    by_action = {e["action"]: e for e in reversed(entries)}
    assert {
        "user.signed_up",
        "org.created",
        "auth.login",
        "api_key.created",
        "api_key.revoked",
    } <= set(by_action)
    ip = str(client._transport.client[0])  # type: ignore[attr-defined]
    for entry in entries:
        assert entry["org_id"] == tenant.org_id
        assert entry["ip"] == ip
        assert entry["user_agent"] == UA

    signup = by_action["user.signed_up"]
    assert (signup["actor_type"], signup["actor_id"]) == ("user", tenant.user_id)
    assert (signup["target_type"], signup["target_id"]) == ("user", tenant.user_id)
    login = by_action["auth.login"]
    assert (login["actor_type"], login["actor_id"]) == ("user", tenant.user_id)

    created = [e for e in entries if e["action"] == "api_key.created"]
    assert {e["target_id"] for e in created} >= {admin["id"], victim_id}
    assert all(e["actor_type"] == "user" and e["actor_id"] == tenant.user_id for e in created)

    revoked = by_action["api_key.revoked"]
    assert revoked["actor_type"] == "api_key"
    assert revoked["actor_id"] == admin["id"]
    assert revoked["actor_user_id"] == tenant.user_id
    assert (revoked["target_type"], revoked["target_id"]) == ("api_key", victim_id)
    # Newest first.
    stamps = [e["created_at"] for e in entries]
    assert stamps == sorted(stamps, reverse=True)


async def test_changes_never_contain_secrets(client: httpx.AsyncClient) -> None:
    tenant, admin, _ = await _busy_tenant(client)
    text = json.dumps(await _entries(client, tenant, limit=200))
    for secret in (PASSWORD, admin["key"], tenant.access_token, tenant.refresh_token):
        assert secret not in text
    assert "password_hash" not in text and "key_hash" not in text


async def test_filter_by_actor_and_action(client: httpx.AsyncClient) -> None:
    tenant, admin, _ = await _busy_tenant(client)
    by_key = await _entries(client, tenant, actor_id=admin["id"])
    assert [e["action"] for e in by_key] == ["api_key.revoked"]
    by_user = await _entries(client, tenant, actor_id=tenant.user_id)
    assert {e["action"] for e in by_user} >= {"user.signed_up", "api_key.revoked"}, (
        "an actor id also matches what keys did on the user's behalf"
    )
    exact = await _entries(client, tenant, action="api_key.created")
    assert len(exact) == 2 and {e["action"] for e in exact} == {"api_key.created"}
    prefix = await _entries(client, tenant, action="api_key.*")
    assert sorted(e["action"] for e in prefix) == [
        "api_key.created",
        "api_key.created",
        "api_key.revoked",
    ]
    assert await _entries(client, tenant, action="api_key") == []


async def test_filter_by_time_range(client: httpx.AsyncClient) -> None:
    tenant, _, _ = await _busy_tenant(client)
    entries = await _entries(client, tenant)
    oldest = dt.datetime.fromisoformat(entries[-1]["created_at"])
    newest = dt.datetime.fromisoformat(entries[0]["created_at"])
    assert oldest.tzinfo is not None

    everything = await _entries(client, tenant, **{"from": oldest.isoformat()})
    assert len(everything) == len(entries), "`from` is inclusive"
    before_newest = await _entries(client, tenant, to=newest.isoformat())
    assert newest.isoformat() not in {e["created_at"] for e in before_newest}, "`to` is exclusive"
    assert 0 < len(before_newest) < len(entries)
    future = (newest + dt.timedelta(hours=1)).isoformat()
    assert await _entries(client, tenant, **{"from": future}) == []

    # Naive datetimes are read as UTC.
    naive_from = (oldest - dt.timedelta(minutes=1)).astimezone(dt.UTC).replace(tzinfo=None)
    naive_to = (newest + dt.timedelta(minutes=1)).astimezone(dt.UTC).replace(tzinfo=None)
    window = await _entries(
        client, tenant, **{"from": naive_from.isoformat(), "to": naive_to.isoformat()}
    )
    assert len(window) == len(entries)
    naive_future = (newest + dt.timedelta(hours=1)).astimezone(dt.UTC).replace(tzinfo=None)
    assert await _entries(client, tenant, **{"from": naive_future.isoformat()}) == []


async def test_pagination_walks_every_entry_once(client: httpx.AsyncClient) -> None:
    tenant, _, _ = await _busy_tenant(client)
    everything = [e["id"] for e in await _entries(client, tenant, limit=200)]
    assert len(everything) >= 5
    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        resp = await client.get("/api/v1/audit-logs", params=params, headers=tenant.headers)
        assert resp.status_code == 200
        page = resp.json()
        assert len(page["items"]) <= 2
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == everything


async def test_a_bad_cursor_is_422(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    resp = await client.get(
        "/api/v1/audit-logs", params={"cursor": "not-a-cursor"}, headers=tenant.headers
    )
    assert resp.status_code == 422
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["field"] == "cursor"


async def test_a_plain_member_gets_403(client: httpx.AsyncClient, app: Any) -> None:
    owner, member = await create_tenant(client), await create_tenant(client)
    await add_member(app, owner.org_id, member.user_id, role="member")
    as_member = await switch_org(client, member, owner.org_id)
    resp = await client.get("/api/v1/audit-logs", headers=as_member.headers)
    assert resp.status_code == 403
    assert resp.headers["content-type"] == "application/problem+json"
    # Their own org's log, where they are owner, stays readable.
    assert (await client.get("/api/v1/audit-logs", headers=member.headers)).status_code == 200


async def test_another_orgs_entries_are_invisible(client: httpx.AsyncClient) -> None:
    mine, other = await create_tenant(client), await create_tenant(client)
    entries = await _entries(client, mine, actor_id=other.user_id)
    assert entries == []
    assert all(e["org_id"] == mine.org_id for e in await _entries(client, mine))
