"""Provider base URLs obey the network policy (issue 11 items 10, 11, 19): checked when
stored and at every connection; `/test` reports reachability, never the target's body."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import httpx2
import pytest

from agentdeck.app import create_app
from agentdeck.config import ConfigError, NetworkSettings, Settings
from agentdeck.kit import netguard
from agentdeck.run.settings import network_policy
from agentdeck.runtime import Runtime
from tests.factories import Tenant, create_tenant

KEY = "sk-test-" + "k" * 24
INTERNAL = "INTERNAL-SERVICE-SECRET-BODY"
_ips = itertools.count(1)


class _ModelServer:
    """An OpenAI-format `/v1/models` on 127.0.0.1; `/gone/...` answers 404 with a body."""

    def __init__(self) -> None:
        self.auth: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.auth.append(self.headers.get("Authorization", ""))
                if self.path == "/v1/models":
                    status, raw = 200, json.dumps({"data": [{"id": "m2"}, {"id": "m1"}]})
                else:
                    status, raw = 404, json.dumps({"error": INTERNAL})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw.encode())

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def model_server() -> Iterator[_ModelServer]:
    server = _ModelServer()
    yield server
    server.stop()


async def _client_of(app: Any) -> httpx.AsyncClient:
    n = next(_ips)
    transport = httpx.ASGITransport(app=app, client=(f"10.200.{n // 256 % 256}.{n % 256}", 5))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def allowing_app(
    settings: Settings, model_server: _ModelServer
) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose operator allows the local model server's host and port."""
    previous = netguard.current_policy()
    network = NetworkSettings(allowed_private_hosts=[f"127.0.0.1:{model_server.port}"])
    app = create_app(settings.model_copy(update={"network": network}), configure_logs=False)
    try:
        async with await _client_of(app) as client:
            yield client
    finally:
        runtime: Runtime = app.state.runtime
        if runtime.http_client is not None:
            await runtime.http_client.aclose()
        await runtime.engine.dispose()
        netguard.configure(previous)


async def _create(client: httpx.AsyncClient, tenant: Tenant, **over: object) -> httpx.Response:
    payload = {"name": f"p{uuid.uuid4().hex[:6]}", "kind": "openai_compatible", **over}
    return await client.post("/api/v1/providers", json=payload, headers=tenant.headers)


PRIVATE_URLS = [
    "http://127.0.0.1:11434/v1",
    "http://169.254.169.254/v1",
    "http://[::7f00:1]/v1",
    "http://[64:ff9b::7f00:1]/v1",
    "http://192.88.99.1/v1",
    "http://[::1]:8080/v1",
    "http://localhost:11434/v1",
]


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_a_private_base_url_is_refused_naming_base_url(
    client: httpx.AsyncClient, url: str
) -> None:
    tenant = await create_tenant(client)
    created = await _create(client, tenant, base_url=url)
    assert created.status_code == 422, created.text
    assert created.json()["field"] == "base_url"
    assert "ALLOWED_PRIVATE_HOSTS" in created.json()["detail"]
    public = await _create(client, tenant, base_url="http://llm.test/v1")
    assert public.status_code == 201, public.text
    patched = await client.patch(
        f"/api/v1/providers/{public.json()['id']}", json={"base_url": url}, headers=tenant.headers
    )
    assert patched.status_code == 422 and patched.json()["field"] == "base_url"


async def test_an_allowed_host_is_accepted_and_test_reports_models_not_bodies(
    allowing_app: httpx.AsyncClient, model_server: _ModelServer
) -> None:
    client = allowing_app
    tenant = await create_tenant(client)
    base = f"http://127.0.0.1:{model_server.port}"
    ok = await _create(client, tenant, base_url=base + "/v1", api_key=KEY)
    assert ok.status_code == 201, ok.text
    result = await client.post(f"/api/v1/providers/{ok.json()['id']}/test", headers=tenant.headers)
    assert result.status_code == 200, result.text
    assert result.json()["ok"] is True and result.json()["models"] == ["m1", "m2"]
    assert model_server.auth == [f"Bearer {KEY}"]

    gone = await _create(client, tenant, base_url=base + "/gone/v1", api_key=KEY)
    failed = await client.post(
        f"/api/v1/providers/{gone.json()['id']}/test", headers=tenant.headers
    )
    assert failed.status_code == 200, failed.text
    body = failed.json()
    assert body["ok"] is False and body["models"] == []
    assert body["status_code"] == 404 and body["error_type"] == "http_status"
    assert INTERNAL not in failed.text and KEY not in failed.text

    # The same host on another port is not on the list.
    other = await _create(client, tenant, base_url=f"http://127.0.0.1:{model_server.port + 1}/v1")
    assert other.status_code == 422 and other.json()["field"] == "base_url"


async def test_ollama_default_localhost_obeys_the_policy(client: httpx.AsyncClient) -> None:
    """Ollama's default base URL (localhost:11434) is refused at connection time unless the
    operator allows it: the runtime's real client is guarded."""
    tenant = await create_tenant(client)
    created = await _create(client, tenant, kind="ollama")
    assert created.status_code == 201, created.text
    result = await client.post(
        f"/api/v1/providers/{created.json()['id']}/test", headers=tenant.headers
    )
    assert result.status_code == 200
    assert result.json()["ok"] is False and result.json()["error_type"] == "blocked"


async def test_a_host_that_resolves_privately_at_call_time_is_blocked(
    client: httpx.AsyncClient, app: Any
) -> None:
    """DNS can change after the check at creation: the connection is checked again."""
    sent: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        sent.append(request)
        return httpx2.Response(200, json={"data": [{"id": "x"}]})

    async def rebound(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    runtime: Runtime = app.state.runtime
    previous = runtime.http_client
    transport = netguard.GuardedTransport(httpx2.MockTransport(handler), resolver=rebound)
    runtime.http_client = httpx2.AsyncClient(transport=transport)
    try:
        tenant = await create_tenant(client)
        created = await _create(client, tenant, base_url="http://rebind.test/v1", api_key=KEY)
        assert created.status_code == 201, created.text
        result = await client.post(
            f"/api/v1/providers/{created.json()['id']}/test", headers=tenant.headers
        )
        assert result.json()["ok"] is False and result.json()["error_type"] == "blocked"
        assert sent == []
    finally:
        await runtime.http_client.aclose()
        runtime.http_client = previous


@pytest.mark.parametrize("key", ["clé-secrète-1234567890", "sk-abc\r\nX-Injected: 1", "ключ"])
async def test_an_api_key_that_cannot_travel_in_a_header_is_refused(
    client: httpx.AsyncClient, key: str
) -> None:
    tenant = await create_tenant(client)
    created = await _create(client, tenant, base_url="http://llm.test/v1", api_key=key)
    assert created.status_code == 422, created.text
    assert created.json()["field"] == "api_key"
    fine = await _create(client, tenant, base_url="http://llm.test/v1", api_key=KEY)
    patched = await client.patch(
        f"/api/v1/providers/{fine.json()['id']}", json={"api_key": key}, headers=tenant.headers
    )
    assert patched.status_code == 422 and patched.json()["field"] == "api_key"


def test_a_malformed_allow_list_entry_stops_start_up(settings: Settings) -> None:
    previous = netguard.current_policy()
    network = NetworkSettings(allowed_private_hosts=["http://localhost:11434/v1"])
    with pytest.raises(ConfigError, match="ALLOWED_PRIVATE_HOSTS"):
        network_policy(settings.model_copy(update={"network": network}))
    assert netguard.current_policy() is previous
