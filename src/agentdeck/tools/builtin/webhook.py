"""``webhook``: a JSON POST to the toolset's URL, signed with HMAC-SHA256.

Config: ``url`` (required; the model cannot choose where it goes), ``signature_header``
(default ``X-Agentdeck-Signature``), ``timeout``, ``max_result_bytes``. The signing secret
comes from the credential (:data:`~agentdeck.tools.base.SigningSecret`).

The receiver checks ``X-Agentdeck-Signature: sha256=<hex>``, the HMAC-SHA256 with the
secret of ``<timestamp>.<body>``, where ``timestamp`` is ``X-Agentdeck-Timestamp`` (Unix
seconds; binding it stops replays of old deliveries): see :func:`verify_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentdeck.kit.headers import header_problem
from agentdeck.tools.base import SigningSecret, ToolError, ToolsetConfig, ToolsetConfigError
from agentdeck.tools.outbound import HttpCaller, raise_for_status
from agentdeck.tools.toolset_config import http_url, limits, static_headers
from agentdeck.tools.typed import CallContext, TypedTool, TypedToolset

SIGNATURE_HEADER = "X-Agentdeck-Signature"
TIMESTAMP_HEADER = "X-Agentdeck-Timestamp"
EVENT_HEADER = "X-Agentdeck-Event"


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The signature header value of ``body`` sent at ``timestamp``: ``sha256=<hex>``."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: bytes,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: float | None = None,
    tolerance: float = 300.0,
) -> bool:
    """True when ``signature`` signs ``body`` at ``timestamp`` with ``secret`` and the
    timestamp is within ``tolerance`` seconds of ``now`` (constant-time comparison)."""
    try:
        sent_at = int(timestamp)
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - sent_at) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, body, sent_at), signature)


class SendArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payload: dict[str, Any] = Field(description="The JSON object to deliver")
    event: str | None = Field(
        default=None, max_length=100, description="Event name, sent as X-Agentdeck-Event"
    )


def _send_tool(secret: SigningSecret, signature_header: str) -> TypedTool[SendArgs]:
    async def send(args: SendArgs, ctx: CallContext) -> dict[str, Any]:
        body = json.dumps(args.payload, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            key = await secret()
        except ToolError:
            raise
        except Exception as exc:
            raise ToolError(
                "tool",
                f"the signing secret could not be used ({type(exc).__name__})",
                tool=ctx.tool,
            ) from exc
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            TIMESTAMP_HEADER: str(timestamp),
            signature_header: sign(key, body, timestamp),
        }
        if args.event:
            if header_problem(EVENT_HEADER, args.event) is not None:
                raise ToolError("invalid_input", "event must be printable ASCII", tool=ctx.tool)
            headers[EVENT_HEADER] = args.event
        result = await ctx.http.request(
            ctx.tool, "POST", "", content=body, headers=headers, idempotency_key=ctx.idempotency_key
        )
        raise_for_status(result, ctx.tool)
        return {"status": result.status, "body": result.body()}

    return TypedTool(
        "send",
        "POST a JSON payload to the configured webhook, signed with HMAC-SHA256.",
        SendArgs,
        send,
    )


def build_webhook(stored: ToolsetConfig) -> TypedToolset:
    """The ``webhook`` toolset (ToolsetConfigError for a missing URL, signing secret or a
    bad signature header name)."""
    config = stored.config
    url = http_url(config, "url")
    header = config.get("signature_header", SIGNATURE_HEADER)
    if not isinstance(header, str) or header_problem(header, "x") is not None:
        raise ToolsetConfigError("signature_header", "must be a valid HTTP header name")
    if stored.signing_secret is None:
        raise ToolsetConfigError("credential", "a webhook toolset needs a signing secret")
    http = HttpCaller(
        base_url=url, auth=stored.auth, limits=limits(config), headers=static_headers(config)
    )
    return TypedToolset(stored.name, "builtin", [_send_tool(stored.signing_secret, header)], http)
