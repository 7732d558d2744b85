"""Garbage in never gives a 500: every refusal is a problem+json the client can act on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD, create_tenant, unique_email

PROBLEM = "application/problem+json"
LIMIT = 64 * 1024  # api.max_body_bytes in the test settings


def _assert_problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"] == PROBLEM
    body: dict[str, Any] = resp.json()
    assert body["status"] == status
    assert body["type"].startswith("https://agentdeck.dev/problems/")
    assert body["title"] and body["detail"]
    return body


@pytest.mark.parametrize("raw", [b'{"email": ', b"not json at all", b"[1, 2", b"\xff\xfe"])
async def test_malformed_json_is_422(client: httpx.AsyncClient, raw: bytes) -> None:
    resp = await client.post(
        "/api/v1/auth/login", content=raw, headers={"Content-Type": "application/json"}
    )
    _assert_problem(resp, 422)


async def test_a_json_array_instead_of_an_object_is_422(client: httpx.AsyncClient) -> None:
    resp = await client.post("/api/v1/auth/login", json=[PASSWORD])
    _assert_problem(resp, 422)


async def test_wrong_types_name_the_field(client: httpx.AsyncClient) -> None:
    resp = await client.post(
        "/api/v1/auth/signup",
        json={"email": unique_email(), "password": 12345678901, "name": ["A"]},
    )
    body = _assert_problem(resp, 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"password", "name"} <= fields
    assert all({"field", "location", "message", "code"} <= set(e) for e in body["errors"])


async def test_unknown_fields_are_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    resp = await client.post(
        "/api/v1/api-keys",
        json={"name": "k", "scopes": ["read"], "is_superuser": True},
        headers=tenant.headers,
    )
    body = _assert_problem(resp, 422)
    assert [e["field"] for e in body["errors"]] == ["is_superuser"]
    bad_enum = await client.post(
        "/api/v1/api-keys", json={"name": "k", "scopes": ["root"]}, headers=tenant.headers
    )
    assert _assert_problem(bad_enum, 422)["errors"][0]["field"] == "scopes.0"


async def test_a_body_over_the_limit_is_413_with_content_length(
    client: httpx.AsyncClient,
) -> None:
    payload = b'{"email": "a@example.org", "password": "' + b"x" * LIMIT + b'"}'
    resp = await client.post(
        "/api/v1/auth/login", content=payload, headers={"Content-Type": "application/json"}
    )
    _assert_problem(resp, 413)
    assert resp.headers["x-request-id"]


async def test_a_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "a@example.org", "password": "'
        for _ in range(20):
            yield b"x" * 8192
        yield b'"}'

    request = client.build_request(
        "POST",
        "/api/v1/auth/login",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in request.headers
    assert request.headers["transfer-encoding"] == "chunked"
    resp = await client.send(request)
    _assert_problem(resp, 413)


async def test_a_body_under_the_limit_is_accepted(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    padding = "x" * (LIMIT // 2)
    resp = await client.post(
        "/api/v1/api-keys",
        json={"name": "k", "scopes": ["read"], "space_ids": None, "_": padding},
        headers=tenant.headers,
    )
    assert resp.status_code == 422, "parsed (and refused for the unknown field), not 413"


@pytest.mark.parametrize("path", ["/api/v1/api-keys", "/api/v1/audit-logs"])
@pytest.mark.parametrize("cursor", ["garbage", "eyJhZnRlciI6IDF9", "e30", "!!"])
async def test_bad_cursors_are_422(client: httpx.AsyncClient, path: str, cursor: str) -> None:
    tenant = await create_tenant(client)
    resp = await client.get(path, params={"cursor": cursor}, headers=tenant.headers)
    assert _assert_problem(resp, 422)["field"] == "cursor"


async def test_bad_limits_are_422(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    for limit in ("0", "-1", "100000", "ten"):
        resp = await client.get("/api/v1/api-keys", params={"limit": limit}, headers=tenant.headers)
        assert _assert_problem(resp, 422)["field"] == "limit"


async def test_bad_uuids_in_paths_are_422(client: httpx.AsyncClient, app: Any) -> None:
    tenant = await create_tenant(client)
    checked = 0
    for path, item in app.openapi()["paths"].items():
        if "{" not in path or "get" not in item:
            continue
        params = [
            p["name"]
            for p in item["get"].get("parameters", [])
            if p["in"] == "path" and p.get("schema", {}).get("format") == "uuid"
        ]
        if not params:
            continue  # named resources (e.g. model aliases) take any string
        url = path
        for name in params:
            url = url.replace("{" + name + "}", "not-a-uuid")
        resp = await client.get(url, headers=tenant.headers)
        body = _assert_problem(resp, 422)
        assert body["errors"][0]["location"] == "path"
        checked += 1
    assert checked >= 1


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    body = _assert_problem(await client.get("/api/v1/no-such-thing"), 404)
    assert body["instance"] == "/api/v1/no-such-thing"


async def test_wrong_method_is_405(client: httpx.AsyncClient) -> None:
    resp = await client.put("/api/v1/auth/login", json={"email": "a@example.org"})
    _assert_problem(resp, 405)
    assert "POST" in resp.headers["allow"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer garbage"},
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.bad-signature"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"X-Api-Key": "ad_not-a-real-key-at-all"},
        {"X-Api-Key": "garbage"},
    ],
)
async def test_missing_or_garbage_credentials_are_401(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    for path in ("/api/v1/me", "/api/v1/api-keys", "/api/v1/audit-logs"):
        resp = await client.get(path, headers=headers)
        _assert_problem(resp, 401)
        assert resp.headers["www-authenticate"].startswith("Bearer")


async def test_a_token_signed_with_another_secret_is_401(client: httpx.AsyncClient) -> None:
    import jwt

    tenant = await create_tenant(client)
    claims = jwt.decode(tenant.access_token, options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-of-sufficient-length!", algorithm="HS256")
    resp = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    _assert_problem(resp, 401)
    none_alg = jwt.encode(claims, None, algorithm="none")  # type: ignore[arg-type]
    resp = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {none_alg}"})
    _assert_problem(resp, 401)


async def test_unexpected_error_is_a_500_problem_without_internals(settings: object) -> None:
    import httpx as _httpx

    from agentdeck.app import create_app

    broken = create_app(settings, configure_logs=False)  # type: ignore[arg-type]

    @broken.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    transport = _httpx.ASGITransport(app=broken, raise_app_exceptions=False)
    async with _httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        resp = await c.get("/boom")
    await broken.state.runtime.engine.dispose()
    assert resp.status_code == 500
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["status"] == 500 and "secret internal detail" not in resp.text


async def test_nul_characters_never_cause_a_500(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    for resp in (
        await client.post("/api/v1/spaces", json={"name": "a\u0000b"}, headers=tenant.headers),
        await client.get("/api/v1/models/aliases/x%00y", headers=tenant.headers),
    ):
        assert resp.status_code in (404, 422), resp.text  # NUL in a text field is refused
        if resp.status_code == 422:
            assert resp.headers["content-type"] == "application/problem+json"


async def test_an_exhausted_connection_pool_is_a_503_to_retry(settings: object) -> None:
    import httpx as _httpx
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    from agentdeck.app import create_app

    busy = create_app(settings, configure_logs=False)  # type: ignore[arg-type]

    @busy.get("/busy")
    async def exhausted() -> None:
        raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached")

    transport = _httpx.ASGITransport(app=busy, raise_app_exceptions=False)
    async with _httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        resp = await c.get("/busy")
    await busy.state.runtime.engine.dispose()
    _assert_problem(resp, 503)
    assert resp.headers["retry-after"] == "1" and "QueuePool" not in resp.text
