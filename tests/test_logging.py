"""No secret reaches a log line or an error body, with the production (JSON) log set-up."""

from __future__ import annotations

import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import structlog

from agentdeck.logging import REDACTED, configure_logging, redact_secrets
from tests.factories import PASSWORD, create_api_key, create_tenant, key_headers


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Production logging, with the root handler writing into a buffer we can read."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging(json_logs=True, level="DEBUG")
    stream = io.StringIO()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        yield stream
    finally:
        root.handlers, root.level = handlers, level
        structlog.reset_defaults()


async def test_secrets_never_reach_logs_or_error_bodies(
    client: httpx.AsyncClient, json_logs: io.StringIO
) -> None:
    bodies: list[str] = []

    async def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
        resp = await client.request(method, url, **kwargs)
        if resp.status_code >= 400:
            bodies.append(resp.text)
        return resp

    tenant = await create_tenant(client)
    login = await call(
        "POST", "/api/v1/auth/login", json={"email": tenant.email, "password": PASSWORD}
    )
    wrong = f"{PASSWORD} but wrong"
    bad = await call("POST", "/api/v1/auth/login", json={"email": tenant.email, "password": wrong})
    assert bad.status_code == 401
    refreshed = await call(
        "POST", "/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token}
    )
    new_tokens = refreshed.json()
    reused = await call(
        "POST", "/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token}
    )
    assert reused.status_code == 401  # and the signup's login session has ended with it
    other_login = dataclasses.replace(tenant, access_token=login.json()["access_token"])
    key = (await create_api_key(client, other_login, scopes=["read"]))["key"]
    assert (await call("GET", "/api/v1/me", headers=key_headers(key))).status_code == 200
    refused = await call(
        "POST", "/api/v1/api-keys", json={"name": "x", "scopes": ["read"]}, headers=key_headers(key)
    )
    assert refused.status_code == 403
    await call("POST", "/api/v1/auth/signup", json={"email": "bad", "password": wrong})
    await call("GET", "/api/v1/me", headers={"Authorization": f"Bearer {tenant.access_token}x"})

    # Code that logs carelessly is still scrubbed by the pipeline.
    log = structlog.get_logger("agentdeck.test")
    log.info(
        "careless",
        password=PASSWORD,
        authorization=f"Bearer {tenant.access_token}",
        note=f"used {key} and {new_tokens['access_token']}",
        body={"refresh_token": "x"},
    )
    logging.getLogger("agentdeck.stdlib").warning("stdlib %s %s", key, tenant.access_token)

    lines = [line for line in json_logs.getvalue().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]
    events = {r["event"] for r in records}
    assert {"http.request", "careless"} <= events, "the JSON log pipeline captured the calls"
    assert any("stdlib" in e for e in events)
    assert len(bodies) >= 5
    secrets = {
        "password": PASSWORD,
        "wrong password": wrong,
        "access token": tenant.access_token,
        "refreshed access token": new_tokens["access_token"],
        "refresh token": tenant.refresh_token,
        "rotated refresh token": new_tokens["refresh_token"],
        "api key": key,
    }
    for what, secret in secrets.items():
        for line in lines:
            assert secret not in line, f"{what} leaked into a log line: {line}"
        for body in bodies:
            assert secret not in body, f"{what} leaked into an error body: {body}"


def test_redaction_processor_scrubs_keys_and_values() -> None:
    event = {
        "event": "x",
        "password": "hunter2",
        "headers": {"Authorization": "Bearer abc", "accept": "json"},
        "items": ["ad_0123456789abcdefghij", "plain"],
        "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
        "refresh": "rt_0123456789abcdefghijklmnop",
        "invite": "inv_0123456789abcdefghijklmnop",
    }
    out = redact_secrets(None, "info", event)
    assert out["password"] == REDACTED
    assert out["headers"] == {"Authorization": REDACTED, "accept": "json"}
    assert out["items"] == [REDACTED, "plain"]
    assert out["jwt"] == REDACTED
    assert out["refresh"] == REDACTED
    assert out["invite"] == REDACTED
