"""OpenAI's chat completion chunks as a pass-through sends them on: the stream read line by
line, each chunk rewritten only for ``model`` and ``usage``, and the frames that end it."""

from __future__ import annotations

from typing import Any

import orjson

from agentdeck.llm.errors import LLMError
from agentdeck.llm.types import Usage

DONE = b"data: [DONE]\n\n"


def usage_of(value: Any) -> Usage:
    """OpenAI's ``usage`` object as the gateway's :class:`Usage` (zeros when absent)."""
    if not isinstance(value, dict):
        return Usage()
    details = value.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return Usage(
        input_tokens=int(value.get("prompt_tokens") or 0),
        output_tokens=int(value.get("completion_tokens") or 0),
        cached_tokens=int(cached or 0),
    )


def error_frame(exc: LLMError) -> bytes:
    """An error document as one SSE frame (OpenAI's shape, as the /v1 surface sends it)."""
    code = exc.type.replace(".", "_")
    doc = {"error": {"message": exc.detail, "type": "api_error", "param": None, "code": code}}
    return b"data: " + orjson.dumps(doc) + b"\n\n"


class ChunkRewriter:
    """Rewrites an upstream's chat completion chunks for the client: the alias as ``model``,
    the usage kept for the gateway and sent on only when the client asked for it, as
    OpenAI sends it (``usage: null`` on every chunk, then one chunk with ``choices: []``).

    Fed the stream's bytes as they arrive; returns the frames to send on.
    """

    def __init__(self, model: str, *, include_usage: bool) -> None:
        self.model = model
        self.include_usage = include_usage
        self.usage = Usage()
        self.done = False  # the upstream's [DONE] arrived
        self._usage_sent = False
        self._last: dict[str, Any] = {}
        self._buffer = b""

    def feed(self, data: bytes) -> bytes:
        """The frames for the complete lines in ``data`` (and what was left before)."""
        buffer = self._buffer + data if self._buffer else data
        out: list[bytes] = []
        start = 0
        while not self.done:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            line = buffer[start:end]
            start = end + 1
            if line.startswith(b"data:"):
                frame = self._event(line[5:].strip())
                if frame:
                    out.append(frame)
        self._buffer = buffer[start:] if not self.done else b""
        return b"".join(out)

    def _event(self, payload: bytes) -> bytes:
        if payload == b"[DONE]":
            self.done = True
            return b""
        try:
            chunk = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(chunk, dict):
            return b""
        if "model" in chunk:
            chunk["model"] = self.model
        usage = chunk.get("usage")
        if usage:
            self.usage = usage_of(usage)
        if chunk.get("choices"):
            self._last = chunk
            if self.include_usage:
                chunk["usage"] = None
            else:
                chunk.pop("usage", None)
        elif usage:  # the usage chunk itself
            if not self.include_usage:
                return b""
            self._usage_sent = True
        return b"data: " + orjson.dumps(chunk) + b"\n\n"

    def trailer(self) -> bytes:
        """What ends the client's stream: the usage chunk if the client asked for it and
        the upstream sent it inside another chunk, then ``[DONE]``."""
        if not self.include_usage or self._usage_sent:
            return DONE
        last = self._last
        chunk = {
            "id": last.get("id", ""),
            "object": "chat.completion.chunk",
            "created": last.get("created", 0),
            "model": self.model,
            "choices": [],
            "usage": {
                "prompt_tokens": self.usage.input_tokens,
                "completion_tokens": self.usage.output_tokens,
                "total_tokens": self.usage.input_tokens + self.usage.output_tokens,
                "prompt_tokens_details": {"cached_tokens": self.usage.cached_tokens},
            },
        }
        return b"data: " + orjson.dumps(chunk) + b"\n\n" + DONE
