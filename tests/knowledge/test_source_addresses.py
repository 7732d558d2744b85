"""A website source whose host is or resolves to a private address is refused when it is saved
(issue 11 item 12): spellings of loopback that are no literal address to ``ipaddress`` and
names that resolve to loopback, on create and on change."""

from __future__ import annotations

import socket

import httpx
import pytest

from agentdeck.kit import netguard
from tests.factories import Tenant, create_tenant, personal_space_id

KB = "/api/v1/knowledge-bases"


def _bare_hostname() -> str:
    """This machine's own name when it resolves to a non-public address (else skipped)."""
    name = socket.gethostname()
    try:
        addresses = [str(info[4][0]) for info in socket.getaddrinfo(name, 80)]
    except OSError:
        return "skip"
    return name if addresses and not all(netguard.is_public(a) for a in addresses) else "skip"


PRIVATE_HOSTS = [
    "127.1",
    "0x7f000001",
    "2130706433",
    "0",
    "0177.0.0.1",
    "localhost.",
    "[::ffff:127.0.0.1]",
    "10.1",
    _bare_hostname(),
]


@pytest.fixture(autouse=True)
def _private_urls_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTDECK_CRAWL__ALLOW_PRIVATE_URLS", "false")


async def _kb(client: httpx.AsyncClient) -> tuple[Tenant, str]:
    tenant = await create_tenant(client)
    space_id = await personal_space_id(client, tenant)
    resp = await client.post(
        KB, json={"name": "site", "space_id": space_id}, headers=tenant.headers
    )
    assert resp.status_code == 201, resp.text
    return tenant, str(resp.json()["id"])


def _refused(resp: httpx.Response) -> None:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["field"] == "start_url"


@pytest.mark.parametrize("host", PRIVATE_HOSTS)
async def test_a_private_host_is_refused_on_create(client: httpx.AsyncClient, host: str) -> None:
    if host == "skip":
        pytest.skip("this machine's name does not resolve to a private address")
    tenant, kb_id = await _kb(client)
    resp = await client.post(
        f"{KB}/{kb_id}/sources",
        json={"start_url": f"http://{host}:8080/docs/"},
        headers=tenant.headers,
    )
    _refused(resp)
    listed = await client.get(f"{KB}/{kb_id}/sources", headers=tenant.headers)
    assert listed.json()["items"] == []


@pytest.mark.parametrize("host", ["127.1", "2130706433", "localhost."])
async def test_a_private_host_is_refused_on_change(client: httpx.AsyncClient, host: str) -> None:
    tenant, kb_id = await _kb(client)
    # A public literal address: nothing to resolve, and nothing is fetched before a crawl.
    created = await client.post(
        f"{KB}/{kb_id}/sources",
        json={"start_url": "https://93.184.215.14/"},
        headers=tenant.headers,
    )
    assert created.status_code == 201, created.text
    url = f"{KB}/{kb_id}/sources/{created.json()['id']}"

    _refused(await client.patch(url, json={"start_url": f"http://{host}/"}, headers=tenant.headers))
    unchanged = await client.get(url, headers=tenant.headers)
    assert unchanged.json()["start_url"] == "https://93.184.215.14/"


async def test_a_host_that_does_not_resolve_yet_is_accepted(client: httpx.AsyncClient) -> None:
    """Its crawl checks the address again before the first request (and fails with dns)."""
    tenant, kb_id = await _kb(client)
    resp = await client.post(
        f"{KB}/{kb_id}/sources",
        json={"start_url": "https://docs.example.invalid/"},
        headers=tenant.headers,
    )
    assert resp.status_code == 201, resp.text


async def test_private_hosts_are_accepted_when_the_operator_allows_them(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTDECK_CRAWL__ALLOW_PRIVATE_URLS", "true")
    tenant, kb_id = await _kb(client)
    resp = await client.post(
        f"{KB}/{kb_id}/sources", json={"start_url": "http://127.1:8080/"}, headers=tenant.headers
    )
    assert resp.status_code == 201, resp.text


async def test_the_operators_allow_list_is_obeyed(client: httpx.AsyncClient) -> None:
    """A private host:port on the network policy's allow-list is accepted; other ports of
    that host are still refused."""
    tenant, kb_id = await _kb(client)
    with netguard.using(netguard.NetworkPolicy.parse(["127.0.0.1:8080"])):
        allowed = await client.post(
            f"{KB}/{kb_id}/sources",
            json={"start_url": "http://127.1:8080/"},
            headers=tenant.headers,
        )
        assert allowed.status_code == 201, allowed.text
        other_port = await client.post(
            f"{KB}/{kb_id}/sources",
            json={"start_url": "http://127.1:8081/"},
            headers=tenant.headers,
        )
        _refused(other_port)
