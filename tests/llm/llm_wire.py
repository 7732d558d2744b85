"""Canned OpenAI and Anthropic wire responses for MockTransport handlers."""

from __future__ import annotations

import json
from typing import Any

import httpx2


def openai_completion(
    text: str | None = "Hello!",
    *,
    model: str = "gpt-4o-mini",
    tool_calls: list[dict[str, Any]] | None = None,
    prompt_tokens: int = 11,
    completion_tokens: int = 3,
    cached_tokens: int = 0,
) -> httpx2.Response:
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if tool_calls:
        message["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
            }
            for call in tool_calls
        ]
    return httpx2.Response(
        200,
        json={
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": "tool_calls" if tool_calls else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "prompt_tokens_details": {"cached_tokens": cached_tokens},
            },
        },
    )


def openai_stream(pieces: list[str], *, model: str = "gpt-4o-mini") -> httpx2.Response:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return "data: " + json.dumps(payload) + "\n\n"

    body = "".join(chunk({"role": "assistant", "content": p}) for p in pieces)
    usage = {"prompt_tokens": 7, "completion_tokens": len(pieces), "total_tokens": 7 + len(pieces)}
    body += chunk({}, "stop", usage=usage) + "data: [DONE]\n\n"
    return httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=body.encode()
    )


def openai_error(status: int, message: str = "boom", **headers: str) -> httpx2.Response:
    return httpx2.Response(
        status,
        headers=headers,
        json={"error": {"message": message, "type": "error", "code": None}},
    )


def anthropic_message(
    content: list[dict[str, Any]], *, model: str = "claude-haiku-4-5"
) -> httpx2.Response:
    stop = "tool_use" if any(c["type"] == "tool_use" for c in content) else "end_turn"
    return httpx2.Response(
        200,
        json={
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": 20, "output_tokens": 5},
        },
    )


def anthropic_stream(
    content: list[dict[str, Any]], *, model: str = "claude-haiku-4-5"
) -> httpx2.Response:
    """The SSE stream Anthropic sends for `content` (text blocks are split per character run)."""

    def event(name: str, data: dict[str, Any]) -> str:
        return "event: " + name + "\ndata: " + json.dumps({"type": name, **data}) + "\n\n"

    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 20, "output_tokens": 1},
    }
    body = event("message_start", {"message": message})
    for index, block in enumerate(content):
        if block["type"] == "text":
            start: dict[str, Any] = {"type": "text", "text": ""}
            deltas = [{"type": "text_delta", "text": piece} for piece in block["pieces"]]
        else:
            start = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            deltas = [{"type": "input_json_delta", "partial_json": json.dumps(block["input"])}]
        body += event("content_block_start", {"index": index, "content_block": start})
        for delta in deltas:
            body += event("content_block_delta", {"index": index, "delta": delta})
        body += event("content_block_stop", {"index": index})
    stop = "tool_use" if any(c["type"] == "tool_use" for c in content) else "end_turn"
    body += event(
        "message_delta",
        {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}},
    )
    body += event("message_stop", {})
    return httpx2.Response(
        200, headers={"content-type": "text/event-stream"}, content=body.encode()
    )


def anthropic_reply(body: dict[str, Any], content: list[dict[str, Any]]) -> httpx2.Response:
    """Answer in the shape the request asked for (the SDK streams long requests itself)."""
    if body.get("stream"):
        blocks = [
            {"type": "text", "pieces": [c["text"]]} if c["type"] == "text" else c for c in content
        ]
        return anthropic_stream(blocks)
    return anthropic_message(content)
