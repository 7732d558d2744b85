"""The `webhook` builtin: a JSON POST whose HMAC-SHA256 signature the receiver verifies."""

from __future__ import annotations

import time

import pytest

from agentdeck.tools.base import ToolsetConfig, ToolsetConfigError
from agentdeck.tools.builtin.webhook import sign, verify_signature
from agentdeck.tools.registry import ToolRegistry, build_toolset
from tests.tools.servers import FakeApi, Recorded, Reply, loopback_allowed, serving

SECRET = b"whsec-test"


async def _secret() -> bytes:
    return SECRET


async def test_payload_is_posted_signed_and_verifiable() -> None:
    api = FakeApi()

    @api.route("POST", "/hooks/in")
    def receive(req: Recorded) -> Reply:
        return Reply(202, {"accepted": True})

    async with serving(api) as url:
        stored = ToolsetConfig(
            "hook",
            "builtin",
            {"integration": "webhook", "url": url + "/hooks/in"},
            signing_secret=_secret,
        )
        registry = ToolRegistry([build_toolset(stored)])
        with loopback_allowed():
            result = await registry.call(
                "hook.send",
                {"payload": {"order": 42, "ok": "ü"}, "event": "order.paid"},
                idempotency_key="r:n",
            )
        await registry.aclose()
    assert result == {"status": 202, "body": {"accepted": True}}
    (req,) = api.requests
    assert (req.method, req.path) == ("POST", "/hooks/in")
    assert req.json == {"order": 42, "ok": "ü"}
    assert req.headers["x-agentdeck-event"] == "order.paid"
    assert req.headers["idempotency-key"] == "r:n"
    timestamp = req.headers["x-agentdeck-timestamp"]
    signature = req.headers["x-agentdeck-signature"]
    assert signature.startswith("sha256=")
    assert verify_signature(SECRET, req.body, timestamp, signature)
    assert not verify_signature(b"other", req.body, timestamp, signature)
    assert not verify_signature(SECRET, req.body + b" ", timestamp, signature)


def test_an_old_timestamp_does_not_verify() -> None:
    then = int(time.time()) - 3600
    signature = sign(SECRET, b"{}", then)
    assert not verify_signature(SECRET, b"{}", str(then), signature)
    assert verify_signature(SECRET, b"{}", str(then), signature, now=then + 1)


def test_a_webhook_needs_a_url_and_a_secret() -> None:
    with pytest.raises(ToolsetConfigError) as caught:
        build_toolset(ToolsetConfig("hook", "builtin", {"integration": "webhook"}))
    assert caught.value.field == "url"
    with pytest.raises(ToolsetConfigError) as caught:
        build_toolset(
            ToolsetConfig("hook", "builtin", {"integration": "webhook", "url": "https://x.io/h"})
        )
    assert caught.value.field == "credential"
