"""The audit log's IP is the peer's, whatever `X-Forwarded-For` claims, unless the operator
trusts forwarded headers, and then only from the proxies they name (issue 11 item 13).

Served by a real `agentdeck serve` process on a loopback port: uvicorn itself believes
`X-Forwarded-For` from 127.0.0.1 by default, which is what this must not do.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentdeck._middleware import TrustedProxies
from agentdeck.config import Settings
from tests.factories import PASSWORD, unique_email

CLAIMED = "203.0.113.9"
_AGENTDECK = Path(sys.executable).with_name("agentdeck")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _spawn(settings: Settings, tmp_path: Path, port: int, env: dict[str, str]) -> Any:
    environment = {
        **os.environ,
        "AGENTDECK_DB__URL": settings.resolved_db_url,
        "AGENTDECK_DATA_DIR": str(tmp_path),
        "AGENTDECK_ENV": "test",
        "AGENTDECK_LLM__WARM_LOCAL_MODEL": "false",
        "AGENTDECK_AUTH__ARGON2_TIME_COST": "1",
        "AGENTDECK_AUTH__ARGON2_MEMORY_KIB": "1024",
        **env,
    }
    with (tmp_path / "serve.log").open("ab") as log:
        return subprocess.Popen(
            [str(_AGENTDECK), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"],
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _stop(process: Any) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


async def _serve(settings: Settings, tmp_path: Path, **env: str) -> AsyncIterator[str]:
    """`http://127.0.0.1:<port>` of a running `agentdeck serve` with ``env``."""
    port = _free_port()
    process = _spawn(settings, tmp_path, port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            for _ in range(600):  # start-up imports the whole app
                if process.poll() is not None:
                    break
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        assert process.poll() is None, (tmp_path / "serve.log").read_text()[-3000:]
        yield base
    finally:
        await asyncio.to_thread(_stop, process)


async def _audit_ips(base: str) -> set[str | None]:
    """Sign up claiming to be CLAIMED; the IPs the audit log recorded."""
    forwarded = {"X-Forwarded-For": CLAIMED}
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        signup = await client.post(
            "/api/v1/auth/signup",
            json={"email": unique_email("xff"), "password": PASSWORD, "name": "X"},
            headers=forwarded,
        )
        assert signup.status_code == 201, signup.text
        token = signup.json()["access_token"]
        resp = await client.get(
            "/api/v1/audit-logs", headers={"Authorization": f"Bearer {token}", **forwarded}
        )
        assert resp.status_code == 200, resp.text
        return {entry["ip"] for entry in resp.json()["items"]}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, "127.0.0.1"),
        ({"AGENTDECK_API__TRUST_FORWARDED_FOR": "true"}, CLAIMED),
        (
            {
                "AGENTDECK_API__TRUST_FORWARDED_FOR": "true",
                "AGENTDECK_API__TRUSTED_PROXIES": '["10.0.0.0/8"]',
            },
            "127.0.0.1",
        ),
    ],
    ids=["default", "trusted-loopback-proxy", "peer-not-a-trusted-proxy"],
)
async def test_served_audit_ip_believes_forwarded_for_only_from_trusted_proxies(
    settings: Settings, tmp_path: Path, env: dict[str, str], expected: str
) -> None:
    served = _serve(settings, tmp_path, **env)
    base = await anext(served)
    try:
        assert await _audit_ips(base) == {expected}
    finally:
        await served.aclose()


def test_the_client_is_the_nearest_address_that_is_not_a_trusted_proxy() -> None:
    proxies = TrustedProxies(["10.0.0.0/8", "::1"])
    assert proxies.client_ip("192.0.2.1", "198.51.100.7") == "192.0.2.1"
    assert proxies.client_ip("10.0.0.2", "198.51.100.7") == "198.51.100.7"
    assert proxies.client_ip("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.9") == "198.51.100.7"
    assert proxies.client_ip("::1", "10.0.0.3, 10.0.0.9") == "10.0.0.3"
    assert proxies.client_ip("10.0.0.2", "not-an-ip") == "10.0.0.2"
    assert proxies.client_ip("10.0.0.2", None) == "10.0.0.2"
    assert TrustedProxies([]).client_ip("127.0.0.1", "198.51.100.7") == "127.0.0.1"
