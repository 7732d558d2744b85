"""The SSRF guard shared by http nodes, URL documents and the crawler."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from agentdeck.kit import netguard


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("169.254.169.254", False),  # cloud metadata
        ("::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("fe80::1%eth0", False),
        ("224.0.0.1", False),
    ],
)
def test_is_public(address: str, public: bool) -> None:
    assert netguard.is_public(address) is public


def _resolver(answer: Sequence[str]) -> netguard.Resolver:
    async def resolve(host: str, port: int) -> Sequence[str]:
        return answer

    return resolve


async def test_public_address_refuses_any_private_answer() -> None:
    url = "https://example.org/a"
    assert await netguard.public_address(url, _resolver(["93.184.216.34"])) == "93.184.216.34"
    with pytest.raises(netguard.PrivateAddress):
        await netguard.public_address(url, _resolver(["93.184.216.34", "10.0.0.5"]))
    with pytest.raises(netguard.Unresolvable):
        await netguard.public_address(url, _resolver([]))


def test_pinned_request_keeps_the_host_name() -> None:
    https = netguard.pinned("https://example.org:8443/p?q=1#frag", "93.184.216.34")
    assert https.url == "https://93.184.216.34:8443/p?q=1"
    assert https.headers == {"Host": "example.org:8443"}
    assert https.extensions == {"sni_hostname": "example.org", netguard.VETTED: True}
    v6 = netguard.pinned("http://user:pw@example.org/x", "2606:2800:220:1::1")
    assert v6.url == "http://[2606:2800:220:1::1]/x"
    assert v6.headers == {"Host": "example.org"} and v6.extensions == {netguard.VETTED: True}
    assert netguard.pinned("http://a.example/x", None).url == "http://a.example/x"


@pytest.mark.parametrize(
    "address",
    [
        "192.88.99.1",
        "::7f00:1",
        "::ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
        "2002:c0a8:101::1",
        "::1",
        "0.0.0.0",
    ],
)
def test_embedded_and_relay_addresses_are_not_public(address: str) -> None:
    assert not netguard.is_public(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "2606:4700:4700::1111", "64:ff9b::808:808"])
def test_global_addresses_are_public(address: str) -> None:
    assert netguard.is_public(address)


def test_policy_parses_hosts_and_host_ports() -> None:
    policy = netguard.NetworkPolicy.parse(
        ["localhost:11434", "Models.LAN.", "[::1]:8080", "10.0.0.5"]
    )
    assert policy.allows("localhost", 11434) and not policy.allows("localhost", 80)
    assert policy.allows("models.lan", 1) and policy.allows("MODELS.lan.", 443)
    assert policy.allows("::1", 8080) and policy.allows("[::1]", 8080)
    assert not policy.allows("::1", 80)
    assert policy.allows("10.0.0.5", 22) and not policy.allows("10.0.0.6", 22)
    assert netguard.NetworkPolicy(allow_all=True).allows("anything", 1)
    assert policy.widened(True).allow_all and policy.widened(False) is policy
    for bad in ("http://x/", "x:notaport", "", "a/b", "u@h"):
        with pytest.raises(ValueError, match="ALLOWED_PRIVATE_HOSTS"):
            netguard.NetworkPolicy.parse([bad])


async def test_public_address_obeys_the_allow_list() -> None:
    policy = netguard.NetworkPolicy.parse(["localhost:11434", "10.0.0.5"])
    local = _resolver(["127.0.0.1"])
    assert await netguard.public_address("http://localhost:11434/v1", local, policy=policy) == (
        "127.0.0.1"
    )
    with pytest.raises(netguard.PrivateAddress, match="ALLOWED_PRIVATE_HOSTS"):
        await netguard.public_address("http://localhost:11435/v1", local, policy=policy)
    # an allowed address is allowed whatever name leads to it, another one is not
    ten = _resolver(["10.0.0.5"])
    assert await netguard.public_address("http://db.lan/", ten, policy=policy) == "10.0.0.5"
    with pytest.raises(netguard.PrivateAddress):
        await netguard.public_address("http://[::7f00:1]/", policy=policy)
    with netguard.using(policy):
        assert await netguard.public_address("http://10.0.0.5:9/") == "10.0.0.5"
    with pytest.raises(netguard.PrivateAddress):
        await netguard.public_address("http://10.0.0.5:9/")


async def test_guarded_transport_pins_the_checked_address() -> None:
    import httpx2

    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return httpx2.Response(200)

    resolve = _resolver(["93.184.216.34"])
    transport = netguard.GuardedTransport(httpx2.MockTransport(handler), resolver=resolve)
    async with httpx2.AsyncClient(transport=transport) as client:
        assert (await client.get("https://api.example/v1/models")).status_code == 200
        for url in ("http://127.0.0.1/", "http://[::7f00:1]/", "http://192.88.99.1/"):
            with pytest.raises(netguard.BlockedAddress):
                await client.get(url)
    [request] = seen
    assert request.url.host == "93.184.216.34" and request.headers["Host"] == "api.example"
    assert request.extensions["sni_hostname"] == "api.example"
