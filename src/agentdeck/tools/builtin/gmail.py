"""``gmail``: send, list and read messages over the Gmail REST API (``users.messages``).

Config: ``base_url`` (default ``https://gmail.googleapis.com``), ``user_id`` (default
``me``), ``timeout``, ``max_result_bytes``. The credential is OAuth2: it gives
``Authorization: Bearer <access token>``, refreshed before expiry by the credential feature.
Messages travel as RFC 822 text in base64url (``raw``); bodies are decoded for the model.
"""

from __future__ import annotations

import base64
import binascii
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from agentdeck.tools.base import ToolError, ToolsetConfig, ToolsetConfigError
from agentdeck.tools.outbound import HttpResult, api_json
from agentdeck.tools.toolset_config import caller
from agentdeck.tools.typed import CallContext, TypedTool, TypedToolset

DEFAULT_BASE_URL = "https://gmail.googleapis.com"
_HEADERS = ("From", "To", "Cc", "Subject", "Date", "Message-ID")
_MAX_TEXT = 20_000


class SendMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(min_length=1, description="Recipient addresses")
    subject: str = Field(max_length=998)
    body: str = Field(description="Plain-text body")
    cc: list[str] = Field(default_factory=list)
    thread_id: str | None = Field(default=None, description="Reply within this thread")


class ListMessages(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: str | None = Field(default=None, description="Gmail search, e.g. from:x is:unread")
    max_results: int = Field(default=20, ge=1, le=100)
    page_token: str | None = None


class ReadMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message_id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")


def b64url_decode(data: str) -> bytes:
    """base64url without padding, as Gmail sends it."""
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def _message(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("message")) if isinstance(error, dict) and error.get("message") else None


def _text(payload: dict[str, Any]) -> str:
    """The first text/plain part (depth first), else the first text/html part."""
    found: dict[str, str] = {}

    def walk(part: dict[str, Any]) -> None:
        mime = str(part.get("mimeType", ""))
        data = (part.get("body") or {}).get("data")
        if data and mime in ("text/plain", "text/html") and mime not in found:
            found[mime] = b64url_decode(str(data)).decode(errors="replace")
        for child in part.get("parts") or []:
            if isinstance(child, dict):
                walk(child)

    walk(payload)
    return found.get("text/plain") or found.get("text/html") or ""


class _Gmail:
    def __init__(self, user_id: str) -> None:
        self.root = f"/gmail/v1/users/{quote(user_id, safe='@')}"

    def json(self, result: HttpResult, tool: str) -> Any:
        body = api_json(result, tool, _message)
        if not isinstance(body, dict):
            raise ToolError(
                "invalid_output", "Gmail answered something that is not an object", tool=tool
            )
        return body

    async def send(self, args: SendMessage, ctx: CallContext) -> dict[str, Any]:
        mail = EmailMessage()
        mail["To"] = ", ".join(args.to)
        if args.cc:
            mail["Cc"] = ", ".join(args.cc)
        mail["Subject"] = args.subject
        mail.set_content(args.body)
        raw = base64.urlsafe_b64encode(mail.as_bytes()).decode().rstrip("=")
        payload: dict[str, Any] = {"raw": raw}
        if args.thread_id:
            payload["threadId"] = args.thread_id
        result = await ctx.http.request(
            ctx.tool,
            "POST",
            f"{self.root}/messages/send",
            json_body=payload,
            idempotency_key=ctx.idempotency_key,
        )
        body = self.json(result, ctx.tool)
        return {
            "id": body.get("id"),
            "thread_id": body.get("threadId"),
            "labels": body.get("labelIds"),
        }

    async def list(self, args: ListMessages, ctx: CallContext) -> dict[str, Any]:
        params = {"q": args.query, "maxResults": args.max_results, "pageToken": args.page_token}
        result = await ctx.http.request(
            ctx.tool,
            "GET",
            f"{self.root}/messages",
            params=params,
            idempotency_key=ctx.idempotency_key,
        )
        body = self.json(result, ctx.tool)
        messages = [
            {"id": m.get("id"), "thread_id": m.get("threadId")}
            for m in body.get("messages") or []
            if isinstance(m, dict)
        ]
        return {
            "messages": messages,
            "next_page_token": body.get("nextPageToken"),
            "result_size_estimate": body.get("resultSizeEstimate"),
        }

    async def read(self, args: ReadMessage, ctx: CallContext) -> dict[str, Any]:
        result = await ctx.http.request(
            ctx.tool,
            "GET",
            f"{self.root}/messages/{args.message_id}",
            params={"format": "full"},
            idempotency_key=ctx.idempotency_key,
        )
        body = self.json(result, ctx.tool)
        payload = body.get("payload") or {}
        headers = {
            str(h.get("name")): str(h.get("value"))
            for h in payload.get("headers") or []
            if isinstance(h, dict) and h.get("name") in _HEADERS
        }
        try:
            text = _text(payload)
        except (binascii.Error, ValueError):
            raise ToolError(
                "invalid_output", "Gmail sent a body that is not base64url", tool=ctx.tool
            ) from None
        out: dict[str, Any] = {
            "id": body.get("id"),
            "thread_id": body.get("threadId"),
            "labels": body.get("labelIds"),
            "snippet": body.get("snippet"),
            "headers": headers,
            "text": text[:_MAX_TEXT],
        }
        if len(text) > _MAX_TEXT:
            out["text_truncated"] = f"the body was truncated to {_MAX_TEXT} of {len(text)} chars"
        return out


def build_gmail(stored: ToolsetConfig) -> TypedToolset:
    """The ``gmail`` toolset (ToolsetConfigError naming a wrong config key)."""
    user_id = stored.config.get("user_id", "me")
    if not isinstance(user_id, str) or not user_id or "/" in user_id:
        raise ToolsetConfigError("user_id", "must be `me` or an e-mail address")
    gmail = _Gmail(user_id)
    tools: list[TypedTool[Any]] = [
        TypedTool(
            "send_message",
            "Send an e-mail from the connected Gmail account.",
            SendMessage,
            gmail.send,
        ),
        TypedTool(
            "list_messages",
            "List Gmail messages (ids), optionally matching a search.",
            ListMessages,
            gmail.list,
        ),
        TypedTool(
            "read_message",
            "Read one Gmail message: headers and text body.",
            ReadMessage,
            gmail.read,
        ),
    ]
    return TypedToolset(stored.name, "builtin", tools, caller(stored, DEFAULT_BASE_URL))
