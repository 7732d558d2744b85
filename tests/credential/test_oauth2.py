"""OAuth2 credentials against a real token server on 127.0.0.1: refreshed before expiry,
once for many concurrent callers; invalid_grant marks needs_reauth, audits and fails
clearly; every token request goes through the network policy; no secret leaks."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from agentdeck.auth.principal import scope_for_background_work
from agentdeck.credential.service import (
    CredentialNeedsReauth,
    CredentialRefreshFailed,
    auth_headers,
)
from agentdeck.kit.tenancy import TenantScope
from agentdeck.runtime import Runtime
from tests.credential.support import Answer, LocalServer, audit_text, create_credential
from tests.factories import Tenant, create_tenant, personal_space_id

S = "oauth-s3cr3t-" + uuid.uuid4().hex


class TokenServer(LocalServer):
    """An OAuth2 token endpoint: ``mode`` ok (new tokens, rotated refresh token),
    invalid_grant (RFC 6749 error with a description), or error (HTTP 500)."""

    def __init__(self) -> None:
        self.mode = "ok"
        super().__init__(self._answer)

    def _answer(self, path: str, form: dict[str, str]) -> Answer:
        if self.mode == "invalid_grant":
            return 400, {"error": "invalid_grant", "error_description": f"revoked {S}-desc"}
        if self.mode == "error":
            return 500, {"error": f"boom {S}-body"}
        n = len(self.requests) - 1  # this one is already recorded
        return 200, {
            "access_token": f"{S}-access-{n}",
            "refresh_token": f"{S}-refresh-{n}",
            "expires_in": 3600,
            "token_type": "Bearer",
        }

    @property
    def posts(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == "POST"]


@pytest.fixture
def runtime(app: Any) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


@pytest.fixture
def token_server() -> Iterator[TokenServer]:
    server = TokenServer()
    yield server
    server.stop()


def _soon(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).isoformat()


async def _oauth2(
    client: httpx.AsyncClient, tenant: Tenant, server: TokenServer, *, expires_in: float
) -> dict[str, Any]:
    with server.allowed():  # the token URL is checked against the policy when stored
        resp = await create_credential(
            client,
            tenant.headers,
            kind="oauth2",
            client_id="client-abc",
            client_secret=f"{S}-client-secret",
            token_url=f"{server.url}/token",
            scopes=["repo", "read:user"],
            access_token=f"{S}-access-old",
            refresh_token=f"{S}-refresh-old",
            expires_at=_soon(expires_in),
        )
    assert resp.status_code == 201, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def _scope(client: httpx.AsyncClient, tenant: Tenant) -> TenantScope:
    space = await personal_space_id(client, tenant)
    return scope_for_background_work(
        org_id=uuid.UUID(tenant.org_id),
        space_id=uuid.UUID(space),
        user_id=uuid.UUID(tenant.user_id),
    )


async def test_ten_concurrent_callers_share_exactly_one_refresh(
    client: httpx.AsyncClient, runtime: Runtime, token_server: TokenServer
) -> None:
    tenant = await create_tenant(client)
    cred = await _oauth2(client, tenant, token_server, expires_in=10)  # inside the margin
    scope, cid = await _scope(client, tenant), uuid.UUID(cred["id"])

    async def call() -> dict[str, str]:
        return await auth_headers(
            runtime.sessionmaker, runtime.cipher, scope, cid, http=runtime.http()
        )

    with token_server.allowed(), capture_logs() as logs:
        results = await asyncio.gather(*(call() for _ in range(10)))
        assert results == [{"Authorization": f"Bearer {S}-access-0"}] * 10
        assert len(token_server.posts) == 1
        form = token_server.posts[0]["form"]
        assert form == {
            "grant_type": "refresh_token",
            "refresh_token": f"{S}-refresh-old",
            "client_id": "client-abc",
            "client_secret": f"{S}-client-secret",
            "scope": "repo read:user",
        }
        # Fresh now: no request at all.
        assert await call() == {"Authorization": f"Bearer {S}-access-0"}
        assert len(token_server.posts) == 1
        shown = await client.get(f"/api/v1/credentials/{cid}", headers=tenant.headers)
        expires = dt.datetime.fromisoformat(shown.json()["expires_at"])
        assert expires > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)
        assert shown.json()["hint"] == cred["hint"] and S not in shown.text
        # Expiring again: the next refresh sends the rotated refresh token.
        patched = await client.patch(
            f"/api/v1/credentials/{cid}", json={"expires_at": _soon(5)}, headers=tenant.headers
        )
        assert patched.status_code == 200, patched.text
        assert await call() == {"Authorization": f"Bearer {S}-access-1"}
        assert token_server.posts[1]["form"]["refresh_token"] == f"{S}-refresh-0"
    assert S not in repr(logs)


async def test_invalid_grant_marks_needs_reauth_audits_and_fails_clearly(
    client: httpx.AsyncClient, runtime: Runtime, token_server: TokenServer
) -> None:
    tenant = await create_tenant(client)
    cred = await _oauth2(client, tenant, token_server, expires_in=-60)  # expired
    scope, cid = await _scope(client, tenant), uuid.UUID(cred["id"])
    token_server.mode = "invalid_grant"
    with token_server.allowed(), capture_logs() as logs:
        results = await asyncio.gather(
            *(
                auth_headers(runtime.sessionmaker, runtime.cipher, scope, cid, http=runtime.http())
                for _ in range(3)
            ),
            return_exceptions=True,
        )
        assert all(isinstance(r, CredentialNeedsReauth) for r in results), results
        assert len(token_server.posts) == 1
        error = results[0]
        assert isinstance(error, CredentialNeedsReauth)
        assert "authorised again" in error.detail and S not in error.detail
        # Known now: the next call fails at once, without asking the server.
        with pytest.raises(CredentialNeedsReauth):
            await auth_headers(
                runtime.sessionmaker, runtime.cipher, scope, cid, http=runtime.http()
            )
        assert len(token_server.posts) == 1
        shown = await client.get(f"/api/v1/credentials/{cid}", headers=tenant.headers)
        assert shown.json()["status"] == "needs_reauth"
        tested = await client.post(f"/api/v1/credentials/{cid}/test", headers=tenant.headers)
        assert tested.status_code == 200
        assert tested.json()["ok"] is False and tested.json()["error_type"] == "needs_reauth"
        audit = await audit_text(client, tenant)
        assert "credential.needs_reauth" in audit and "invalid_grant" in audit
        assert audit.count("credential.needs_reauth") == 1
        # New tokens make it active again.
        token_server.mode = "ok"
        repaired = await client.patch(
            f"/api/v1/credentials/{cid}",
            json={"refresh_token": f"{S}-refresh-new", "access_token": f"{S}-access-new",
                  "expires_at": _soon(-1)},
            headers=tenant.headers,
        )  # fmt: skip
        assert repaired.status_code == 200 and repaired.json()["status"] == "active"
        headers = await auth_headers(
            runtime.sessionmaker, runtime.cipher, scope, cid, http=runtime.http()
        )
        assert headers["Authorization"].startswith(f"Bearer {S}-access-")
        assert token_server.posts[-1]["form"]["refresh_token"] == f"{S}-refresh-new"
    for text in (shown.text, tested.text, audit, repaired.text, repr(logs)):
        assert S not in text


async def test_test_endpoint_refreshes_and_reports_failures_without_bodies(
    client: httpx.AsyncClient, token_server: TokenServer
) -> None:
    tenant = await create_tenant(client)
    cred = await _oauth2(client, tenant, token_server, expires_in=-1)
    url = f"/api/v1/credentials/{cred['id']}/test"
    token_server.mode = "error"
    with token_server.allowed():
        failed = await client.post(url, headers=tenant.headers)
    assert failed.json()["ok"] is False and failed.json()["error_type"] == "refresh_failed"
    assert failed.json()["status_code"] == 500 and S not in failed.text
    token_server.mode = "ok"
    with token_server.allowed():
        ok = await client.post(url, headers=tenant.headers)
    assert ok.json() == {"ok": True, "status_code": None, "error_type": None, "error": None}
    assert len(token_server.posts) == 2
    shown = await client.get(f"/api/v1/credentials/{cred['id']}", headers=tenant.headers)
    assert shown.json()["status"] == "active"


async def test_the_token_url_obeys_the_network_policy_at_every_refresh(
    client: httpx.AsyncClient, runtime: Runtime, token_server: TokenServer
) -> None:
    tenant = await create_tenant(client)
    cred = await _oauth2(client, tenant, token_server, expires_in=-1)
    scope = await _scope(client, tenant)
    # The operator no longer allows the host: nothing is sent.
    with pytest.raises(CredentialRefreshFailed) as caught:
        await auth_headers(
            runtime.sessionmaker, runtime.cipher, scope, uuid.UUID(cred["id"]), http=runtime.http()
        )
    assert caught.value.extra["reason"] == "blocked" and token_server.requests == []
    # ... and a new token URL on a private host is refused when stored.
    refused = await client.patch(
        f"/api/v1/credentials/{cred['id']}",
        json={"token_url": f"{token_server.url}/token"},
        headers=tenant.headers,
    )
    assert refused.status_code == 422 and refused.json()["field"] == "token_url"
