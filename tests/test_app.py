"""The application shell: health, readiness, request ids, CORS, OpenAPI and docs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from agentdeck.app import create_app
from agentdeck.config import DatabaseSettings, Settings


async def test_healthz(client: httpx.AsyncClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


async def test_readyz_when_migrated(client: httpx.AsyncClient) -> None:
    resp = await client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json() == {"status": "ready"}


async def test_readyz_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        db=DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"),
    )
    app = create_app(settings, configure_logs=False)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            resp = await client.get("/readyz")
    finally:
        await app.state.runtime.engine.dispose()
    assert resp.status_code == 503
    assert resp.headers["content-type"] == "application/problem+json"
    assert "migrat" in resp.json()["detail"]


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "req-123.abc"})
    assert echoed.headers["x-request-id"] == "req-123.abc"
    generated = await client.get("/healthz")
    other = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) >= 16
    assert generated.headers["x-request-id"] != other.headers["x-request-id"]
    unsafe = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"
    problem = await client.get("/api/v1/nowhere", headers={"X-Request-ID": "req-404"})
    assert problem.json()["request_id"] == "req-404"


async def test_cors_preflight_from_the_allowed_origin(client: httpx.AsyncClient) -> None:
    resp = await client.options(
        "/api/v1/auth/login",
        headers={
            "Origin": "http://localhost:3000",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,authorization",
        },
    )
    assert resp.status_code == 200
    assert resp.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert "POST" in resp.headers["access-control-allow-methods"]
    refused = await client.options(
        "/api/v1/auth/login",
        headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert refused.headers.get("access-control-allow-origin") != "http://evil.example"


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    spec = await client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["info"]["title"] == "agentdeck"
    assert "/api/v1/auth/login" in spec.json()["paths"]
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assert "/api/v1/openapi.json" in docs.text


def test_every_component_schema_has_an_example(app: Any) -> None:
    schemas = app.openapi()["components"]["schemas"]
    offenders = sorted(
        name
        for name, schema in schemas.items()
        if "example" not in schema and "examples" not in schema
    )
    assert offenders == [], f"component schemas without an example: {offenders}"
