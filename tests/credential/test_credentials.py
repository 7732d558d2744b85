"""Credentials through the HTTP API: every kind's CRUD, masked hints and no secret anywhere,
field-naming 422s, tenancy and roles, and ciphertexts bound to their row."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from structlog.testing import capture_logs

from agentdeck.auth.principal import scope_for_background_work
from agentdeck.credential.service import CredentialUnreadable, auth_headers
from agentdeck.errors import NotFound
from agentdeck.models import Credential
from agentdeck.runtime import Runtime
from tests.credential.support import LocalServer, audit_text, create_credential
from tests.factories import (
    add_space_member,
    create_api_key,
    create_space,
    create_tenant,
    join_by_invitation,
    key_headers,
    personal_space_id,
)

S = "s3cr3t-" + uuid.uuid4().hex  # a run-unique marker in every secret below

KINDS: dict[str, tuple[dict[str, Any], list[str], dict[str, Any]]] = {
    # kind: (body, secrets, non-secret fields shown)
    "api_key": (
        {"kind": "api_key", "header_name": "X-Api-Key", "value": f"{S}-apikey-wxyz"},
        [f"{S}-apikey-wxyz"],
        {"header_name": "X-Api-Key"},
    ),
    "bearer": ({"kind": "bearer", "token": f"{S}-bearer-abcd"}, [f"{S}-bearer-abcd"], {}),
    "basic": (
        {"kind": "basic", "username": "ada", "password": f"{S}-password-pw12"},
        [f"{S}-password-pw12"],
        {"username": "ada"},
    ),
    "headers": (
        {"kind": "headers", "headers": {"X-One": f"{S}-one-1111", "X-Two": f"{S}-two-2222"}},
        [f"{S}-one-1111", f"{S}-two-2222"],
        {"header_names": ["X-One", "X-Two"]},
    ),
    "oauth2": (
        {
            "kind": "oauth2",
            "client_id": "client-123",
            "client_secret": f"{S}-csecret-cs99",
            "token_url": "https://auth.example.com/token",
            "scopes": ["repo", "read:user"],
            "access_token": f"{S}-access-ac01",
            "refresh_token": f"{S}-refresh-rf01",
            "expires_at": "2099-01-01T00:00:00Z",
        },
        [f"{S}-csecret-cs99", f"{S}-access-ac01", f"{S}-refresh-rf01"],
        {
            "client_id": "client-123",
            "token_url": "https://auth.example.com/token",
            "scopes": ["repo", "read:user"],
        },
    ),
}
EXPECTED_HEADERS = {
    "api_key": {"X-Api-Key": f"{S}-apikey-wxyz"},
    "bearer": {"Authorization": f"Bearer {S}-bearer-abcd"},
    "basic": {
        "Authorization": "Basic " + base64.b64encode(f"ada:{S}-password-pw12".encode()).decode()
    },
    "headers": {"X-One": f"{S}-one-1111", "X-Two": f"{S}-two-2222"},
    "oauth2": {"Authorization": f"Bearer {S}-access-ac01"},
}
HINTS = {"api_key": "…wxyz", "bearer": "…abcd", "basic": "…pw12", "headers": "…1111"}
HINTS["oauth2"] = "…cs99"


@pytest.fixture
def runtime(app: Any) -> Runtime:
    rt: Runtime = app.state.runtime
    return rt


@pytest.fixture
def echo_server() -> Iterator[LocalServer]:
    server = LocalServer(lambda path, form: (401 if "deny" in path else 200, {"echo": S}))
    yield server
    server.stop()


def _no_secret(text: str) -> None:
    assert S not in text, "a secret leaked"


@pytest.mark.parametrize("kind", list(KINDS))
async def test_crud_of_every_kind_shows_a_hint_and_never_a_secret(
    client: httpx.AsyncClient, runtime: Runtime, kind: str
) -> None:
    body, secrets, shown = KINDS[kind]
    tenant = await create_tenant(client)
    with capture_logs() as logs:
        created = await create_credential(client, tenant.headers, **body)
        assert created.status_code == 201, created.text
        cred = created.json()
        assert cred["kind"] == kind and cred["status"] == "active" and cred["space_id"] is None
        assert cred["hint"] == HINTS[kind]
        for name, value in shown.items():
            assert cred[name] == value
        responses = [created]
        responses.append(
            await client.get(f"/api/v1/credentials/{cred['id']}", headers=tenant.headers)
        )
        listed = await client.get("/api/v1/credentials", headers=tenant.headers)
        assert [c["id"] for c in listed.json()["items"]] == [cred["id"]]
        responses.append(listed)

        space = await personal_space_id(client, tenant)
        scope = scope_for_background_work(
            org_id=uuid.UUID(tenant.org_id), space_id=uuid.UUID(space),
            user_id=uuid.UUID(tenant.user_id),
        )  # fmt: skip
        headers = await auth_headers(
            runtime.sessionmaker, runtime.cipher, scope, uuid.UUID(cred["id"]), http=runtime.http()
        )
        assert headers == EXPECTED_HEADERS[kind]

        secret_field = next(iter(set(body) - set(shown) - {"kind", "expires_at"}))
        new_secret = {"headers": {"X-Three": f"{S}-new-9876"}}.get(secret_field, f"{S}-new-9876")
        patched = await client.patch(
            f"/api/v1/credentials/{cred['id']}",
            json={"name": "renamed", secret_field: new_secret},
            headers=tenant.headers,
        )
        assert patched.status_code == 200, patched.text
        assert patched.json()["name"] == "renamed"
        if kind != "oauth2":
            assert patched.json()["hint"] == "…9876"
        responses.append(patched)
        tested = await client.post(f"/api/v1/credentials/{cred['id']}/test", headers=tenant.headers)
        assert tested.status_code == 200 and tested.json()["ok"] is True, tested.text
        responses.append(tested)
        responses.append(await client.get("/api/v1/audit-logs", headers=tenant.headers))
        deleted = await client.delete(f"/api/v1/credentials/{cred['id']}", headers=tenant.headers)
        assert deleted.status_code == 204
        gone = await client.get(f"/api/v1/credentials/{cred['id']}", headers=tenant.headers)
        assert gone.status_code == 404
    seen = "".join(r.text for r in responses) + repr(logs)
    assert not [secret for secret in secrets if secret in seen]
    _no_secret(seen)
    audit = await audit_text(client, tenant)
    assert "credential.created" in audit and "credential.deleted" in audit
    _no_secret(audit)
    async with runtime.sessionmaker() as session:  # sealed at rest, too
        rows = await session.execute(
            select(Credential.secret_enc).execution_options(tenant_bypass="test")
        )
        assert all(S not in enc for enc in rows.scalars())


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "api_key", "value": "line\nbreak"}, "value"),
        ({"kind": "api_key", "value": "naïve-secret"}, "value"),
        ({"kind": "api_key", "header_name": "Bad Header", "value": "x" * 20}, "header_name"),
        ({"kind": "bearer", "token": "tab\u00e9"}, "token"),
        ({"kind": "headers", "headers": {"X-Ok": "caf\u00e9"}}, "headers.X-Ok"),
        ({"kind": "bearer"}, "token"),
        ({"kind": "basic", "password": "pw"}, "username"),
        ({"kind": "basic", "username": "a:b", "password": "pw"}, "username"),
        ({"kind": "bearer", "token": "t" * 20, "value": "v"}, "value"),
        ({"kind": "oauth2", "client_id": "c", "token_url": "https://a.example/t"}, "refresh_token"),
        (
            {
                "kind": "oauth2",
                "client_id": "c",
                "token_url": "http://127.0.0.1/t",
                "refresh_token": "r",
            },
            "token_url",
        ),
    ],
)
async def test_bad_input_is_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    tenant = await create_tenant(client)
    resp = await create_credential(client, tenant.headers, **body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field, resp.text


async def test_another_org_gets_404_and_never_sees_it_listed(client: httpx.AsyncClient) -> None:
    owner, other = await create_tenant(client), await create_tenant(client)
    other_key = key_headers((await create_api_key(client, other, scopes=["admin"]))["key"])
    cred = (await create_credential(client, owner.headers, **KINDS["bearer"][0])).json()
    for headers in (other.headers, other_key):
        for method, suffix, body in (
            ("GET", "", None),
            ("PATCH", "", {"name": "stolen"}),
            ("DELETE", "", None),
            ("POST", "/test", None),
            ("POST", "/test", {"test_url": "https://example.com/"}),
        ):
            resp = await client.request(
                method, f"/api/v1/credentials/{cred['id']}{suffix}", json=body, headers=headers
            )
            assert resp.status_code == 404, (method, suffix, resp.text)
        listed = await client.get("/api/v1/credentials", headers=headers)
        assert cred["id"] not in listed.text
    still = await client.get(f"/api/v1/credentials/{cred['id']}", headers=owner.headers)
    assert still.status_code == 200 and still.json()["name"] == cred["name"]


async def test_space_editors_use_org_wide_credentials_and_manage_their_spaces(
    client: httpx.AsyncClient,
) -> None:
    owner = await create_tenant(client)
    space = await create_space(client, owner)
    editor = await join_by_invitation(client, owner)
    viewer = await join_by_invitation(client, owner)
    outsider = await join_by_invitation(client, owner)
    await add_space_member(client, owner, space["id"], editor.user_id, "editor")
    await add_space_member(client, owner, space["id"], viewer.user_id, "viewer")
    org_wide = (await create_credential(client, owner.headers, **KINDS["bearer"][0])).json()
    url = f"/api/v1/credentials/{org_wide['id']}"

    # An editor sees (and so may use) the org-wide credential, but cannot manage it.
    for params in ({}, {"space_id": space["id"]}):
        listed = await client.get("/api/v1/credentials", params=params, headers=editor.headers)
        assert org_wide["id"] in [c["id"] for c in listed.json()["items"]]
    assert (await client.get(url, headers=editor.headers)).status_code == 200
    assert (await client.patch(url, json={"name": "x"}, headers=editor.headers)).status_code == 403
    assert (await client.delete(url, headers=editor.headers)).status_code == 403
    assert (await client.post(f"{url}/test", headers=editor.headers)).status_code == 403
    denied = await create_credential(client, editor.headers, **KINDS["bearer"][0])
    assert denied.status_code == 403

    # A credential limited to the space: its editors manage it, its viewers only see it,
    # and no one outside the space sees it at all.
    mine = await create_credential(
        client, editor.headers, space_id=space["id"], **KINDS["api_key"][0]
    )
    assert mine.status_code == 201, mine.text
    mine_url = f"/api/v1/credentials/{mine.json()['id']}"
    renamed = await client.patch(mine_url, json={"name": "ours"}, headers=editor.headers)
    assert renamed.status_code == 200
    assert (await client.get(mine_url, headers=viewer.headers)).status_code == 200
    assert (
        await client.patch(mine_url, json={"name": "v"}, headers=viewer.headers)
    ).status_code == 403
    assert (await client.delete(mine_url, headers=viewer.headers)).status_code == 403
    for_viewer = await create_credential(
        client, viewer.headers, space_id=space["id"], **KINDS["bearer"][0]
    )
    assert for_viewer.status_code == 403
    assert (await client.get(mine_url, headers=outsider.headers)).status_code == 404
    outsiders = await client.get("/api/v1/credentials", headers=outsider.headers)
    assert [c["id"] for c in outsiders.json()["items"]] == [org_wide["id"]]
    not_theirs = await client.get(
        "/api/v1/credentials", params={"space_id": space["id"]}, headers=outsider.headers
    )
    assert not_theirs.status_code == 404
    # The org owner manages both.
    assert (
        await client.patch(mine_url, json={"name": "o"}, headers=owner.headers)
    ).status_code == 200
    assert (await client.delete(mine_url, headers=editor.headers)).status_code == 204
    # A read key sees, a write key of an org admin manages.
    read_key = key_headers((await create_api_key(client, owner, scopes=["read"]))["key"])
    assert (await client.get(url, headers=read_key)).status_code == 200
    assert (await client.delete(url, headers=read_key)).status_code == 403
    write_key = key_headers((await create_api_key(client, owner, scopes=["write"]))["key"])
    assert (await client.delete(url, headers=write_key)).status_code == 204


async def test_space_limited_credentials_serve_only_runs_of_their_space(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    owner = await create_tenant(client)
    space = await create_space(client, owner)
    personal = await personal_space_id(client, owner)
    cred = (
        await create_credential(client, owner.headers, space_id=space["id"], **KINDS["bearer"][0])
    ).json()

    def scope(space_id: str) -> Any:
        return scope_for_background_work(
            org_id=uuid.UUID(owner.org_id), space_id=uuid.UUID(space_id),
            user_id=uuid.UUID(owner.user_id),
        )  # fmt: skip

    cid = uuid.UUID(cred["id"])
    ok = await auth_headers(
        runtime.sessionmaker, runtime.cipher, scope(space["id"]), cid, http=runtime.http()
    )
    assert ok == EXPECTED_HEADERS["bearer"]
    with pytest.raises(NotFound):
        await auth_headers(
            runtime.sessionmaker, runtime.cipher, scope(personal), cid, http=runtime.http()
        )


async def test_a_ciphertext_copied_to_another_row_does_not_decrypt(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await create_tenant(client)
    source = (await create_credential(client, tenant.headers, **KINDS["bearer"][0])).json()
    target = (await create_credential(client, tenant.headers, kind="bearer", token="t" * 16)).json()
    async with runtime.sessionmaker() as session:
        stolen = (
            await session.execute(
                select(Credential.secret_enc)
                .where(Credential.id == uuid.UUID(source["id"]))
                .execution_options(tenant_bypass="test")
            )
        ).scalar_one()
        await session.execute(
            update(Credential)
            .where(Credential.id == uuid.UUID(target["id"]))
            .values(secret_enc=stolen)
            .execution_options(tenant_bypass="test")
        )
        await session.commit()
    url = f"/api/v1/credentials/{target['id']}"
    tested = await client.post(f"{url}/test", headers=tenant.headers)
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is False and tested.json()["error_type"] == "unreadable"
    _no_secret(tested.text)
    space = await personal_space_id(client, tenant)
    scope = scope_for_background_work(
        org_id=uuid.UUID(tenant.org_id),
        space_id=uuid.UUID(space),
        user_id=uuid.UUID(tenant.user_id),
    )
    with pytest.raises(CredentialUnreadable):
        await auth_headers(
            runtime.sessionmaker,
            runtime.cipher,
            scope,
            uuid.UUID(target["id"]),
            http=runtime.http(),
        )
    # A change that leaves the secret alone still works (it is not decrypted).
    renamed_only = await client.patch(url, json={"name": "still-here"}, headers=tenant.headers)
    assert renamed_only.status_code == 200
    # Setting the secret again repairs it.
    repaired = await client.patch(url, json={"token": "r" * 16}, headers=tenant.headers)
    assert repaired.status_code == 200, repaired.text
    again = await client.post(f"{url}/test", headers=tenant.headers)
    assert again.json()["ok"] is True


async def test_test_url_reports_the_status_code_never_the_body(
    client: httpx.AsyncClient, echo_server: LocalServer
) -> None:
    tenant = await create_tenant(client)
    cred = (await create_credential(client, tenant.headers, **KINDS["api_key"][0])).json()
    url = f"/api/v1/credentials/{cred['id']}/test"
    blocked = await client.post(
        url, json={"test_url": f"{echo_server.url}/ok"}, headers=tenant.headers
    )
    assert blocked.status_code == 200 and blocked.json()["error_type"] == "blocked"
    assert echo_server.requests == []
    with echo_server.allowed():
        ok = await client.post(
            url, json={"test_url": f"{echo_server.url}/ok"}, headers=tenant.headers
        )
        denied = await client.post(
            url, json={"test_url": f"{echo_server.url}/deny"}, headers=tenant.headers
        )
    assert ok.json() == {"ok": True, "status_code": 200, "error_type": None, "error": None}
    assert denied.json()["ok"] is False and denied.json()["status_code"] == 401
    assert denied.json()["error_type"] == "http_status"
    assert [r["headers"].get("X-Api-Key") for r in echo_server.requests] == [f"{S}-apikey-wxyz"] * 2
    _no_secret(ok.text + denied.text)
