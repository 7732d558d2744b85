"""OpenAI's answer shapes as plain dicts: chat completions, their chunks, responses and
their stream events, and the SSE framing of both (pure functions, no I/O)."""

from __future__ import annotations

import json
import time
from typing import Any

from agentdeck.llm import ToolCall, Usage

DONE = "data: [DONE]\n\n"


def data_frame(payload: dict[str, Any]) -> str:
    """One SSE message carrying only `data` (chat completion chunks)."""
    return f"data: {json.dumps(payload, separators=(',', ':'), default=str)}\n\n"


def event_frame(payload: dict[str, Any]) -> str:
    """One SSE message named after the payload's `type` (Responses API events)."""
    data = json.dumps(payload, separators=(",", ":"), default=str)
    return f"event: {payload['type']}\ndata: {data}\n\n"


def now() -> int:
    return int(time.time())


def chat_usage(usage: Usage) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.input_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cached_tokens},
    }


def tool_calls_out(calls: list[ToolCall]) -> list[dict[str, Any]]:
    return [
        {
            "id": c.id,
            "type": "function",
            "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
        }
        for c in calls
    ]


def completion(
    cid: str,
    model: str,
    text: str,
    *,
    tool_calls: list[ToolCall] = (),  # type: ignore[assignment]
    usage: Usage,
    created: int | None = None,
) -> dict[str, Any]:
    """A `chat.completion` with one choice."""
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    if tool_calls:
        message["tool_calls"] = tool_calls_out(list(tool_calls))
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created or now(),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if tool_calls else "stop",
                "logprobs": None,
            }
        ],
        "usage": chat_usage(usage),
    }


class ChunkWriter:
    """The `chat.completion.chunk` frames of one streamed answer."""

    def __init__(self, cid: str, model: str, *, include_usage: bool) -> None:
        self.cid = cid
        self.model = model
        self.created = now()
        self.include_usage = include_usage
        self._tool_index = 0

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> str:
        chunk: dict[str, Any] = {
            "id": self.cid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }
        if self.include_usage:
            chunk["usage"] = None
        return data_frame(chunk)

    def start(self) -> str:
        return self._chunk({"role": "assistant", "content": ""})

    def text(self, delta: str) -> str:
        return self._chunk({"content": delta})

    def tool_call(self, call: ToolCall) -> str:
        (out,) = tool_calls_out([call])
        index, self._tool_index = self._tool_index, self._tool_index + 1
        return self._chunk({"tool_calls": [{"index": index, **out}]})

    def finish(self, usage: Usage | None) -> str:
        """The last choice chunk, the usage chunk (with `include_usage`) and `[DONE]`."""
        reason = "tool_calls" if self._tool_index else "stop"
        out = self._chunk({}, reason)
        if self.include_usage:
            out += data_frame(
                {
                    "id": self.cid,
                    "object": "chat.completion.chunk",
                    "created": self.created,
                    "model": self.model,
                    "choices": [],
                    "usage": chat_usage(usage or Usage()),
                }
            )
        return out + DONE

    def error(self, document: dict[str, Any]) -> str:
        return data_frame(document) + DONE


def response_usage(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "input_tokens_details": {"cached_tokens": usage.cached_tokens},
        "output_tokens": usage.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": usage.input_tokens + usage.output_tokens,
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "type": "message",
        "id": item_id,
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def response(
    rid: str,
    model: str,
    *,
    status: str,
    text: str | None,
    usage: Usage | None,
    previous_response_id: str | None,
    created_at: int,
    instructions: str | None = None,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A `response` object; its output is one assistant message once there is text."""
    output = [] if text is None else [message_item(f"msg_{rid[5:]}", text)]
    return {
        "id": rid,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "model": model,
        "output": output,
        "usage": None if usage is None else response_usage(usage),
        "previous_response_id": previous_response_id,
        "instructions": instructions,
        "metadata": metadata or {},
        "error": None,
        "incomplete_details": None,
        "parallel_tool_calls": False,
        "tool_choice": "auto",
        "tools": [],
        "temperature": None,
        "top_p": None,
        "text": {"format": {"type": "text"}},
    }


class ResponseEvents:
    """The Responses API stream of one answer, each event with its `sequence_number`."""

    def __init__(self, skeleton: dict[str, Any]) -> None:
        self.skeleton = skeleton
        self.item_id = f"msg_{skeleton['id'][5:]}"
        self._seq = 0
        self.text = ""

    def _event(self, kind: str, **fields: Any) -> str:
        payload = {"type": kind, "sequence_number": self._seq, **fields}
        self._seq += 1
        return event_frame(payload)

    def start(self) -> str:
        where = {"output_index": 0}
        part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
        return (
            self._event("response.created", response=self.skeleton)
            + self._event("response.in_progress", response=self.skeleton)
            + self._event(
                "response.output_item.added",
                **where,
                item=message_item(self.item_id, "", "in_progress"),
            )
            + self._event(
                "response.content_part.added",
                item_id=self.item_id,
                **where,
                content_index=0,
                part=part,
            )
        )

    def delta(self, text: str) -> str:
        self.text += text
        return self._event(
            "response.output_text.delta",
            item_id=self.item_id,
            output_index=0,
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def done(self, final: dict[str, Any]) -> str:
        where = {"item_id": self.item_id, "output_index": 0, "content_index": 0}
        part = {"type": "output_text", "text": self.text, "annotations": [], "logprobs": []}
        return (
            self._event("response.output_text.done", **where, text=self.text, logprobs=[])
            + self._event("response.content_part.done", **where, part=part)
            + self._event(
                "response.output_item.done",
                output_index=0,
                item=message_item(self.item_id, self.text),
            )
            + self._event("response.completed", response=final)
        )

    def failed(self, message: str, code: str) -> str:
        failed = {**self.skeleton, "status": "failed", "error": {"code": code, "message": message}}
        return self._event("response.failed", response=failed)
