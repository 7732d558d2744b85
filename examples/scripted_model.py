"""A scripted, OpenAI-compatible model server, so the examples run offline and repeatably.

It is not a language model. It answers `POST /v1/chat/completions` (with and without
`stream`) by a few fixed rules that make the wiring of the examples visible:

- tools named `agent_*` offered and not yet answered: it calls each of them once, with
  `{"question": <the last user message>}`; once their results are back, it merges them into
  one answer that names which agent said what;
- a JSON Schema asked for (pydantic-ai's prompted output, "compatible with this schema:"):
  it fills the schema; an `enum` gets the value the conversation mentions most often (ties:
  the last value), which is how the router's classifier picks a branch;
- numbered sources in the prompt (lines `[n] name: text`): it writes a recommendation that
  cites each of them as `[n]`;
- otherwise: a one-sentence answer in the voice of the persona of the system message
  ("You are the legal reviewer." -> "The legal reviewer: ...").

Run it with `.venv/bin/python examples/scripted_model.py --port 8765` and register it as an
`openai_compatible` provider (see examples/README.md). The test suite serves the same ASGI
`app` on a loopback port (tests/examples).
"""

from __future__ import annotations

import argparse
import json
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

MODEL = "scripted"
_SCHEMA_MARK = "compatible with this schema:"
_PERSONA = re.compile(r"You are (?:the |an? )?(?P<who>[^.\n]+)", re.IGNORECASE)
_SOURCE = re.compile(r"^\[(?P<n>\d+)\]\s*(?P<name>[\w-]+):\s*(?P<text>.+)$", re.MULTILINE)


def _text(content: Any) -> str:
    """A message's text: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _last_user(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def _system(messages: list[dict[str, Any]]) -> str:
    return "\n".join(
        _text(m.get("content")) for m in messages if m.get("role") in ("system", "developer")
    )


def _schema_in(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON Schema that prompted structured output put into the conversation, if any."""
    for message in messages:
        text = _text(message.get("content"))
        at = text.find(_SCHEMA_MARK)
        if at < 0:
            continue
        start = text.find("{", at)
        try:
            schema, _ = json.JSONDecoder().raw_decode(text, start)
        except ValueError:
            continue
        if isinstance(schema, dict):
            return schema
    return None


def fill(schema: dict[str, Any], context: str, name: str = "value") -> Any:
    """A value matching `schema`; enums pick the value `context` mentions most often."""
    if "enum" in schema:
        values = list(schema["enum"])
        counts = [len(re.findall(rf"\b{re.escape(str(v))}\b", context, re.I)) for v in values]
        best = max(counts)
        return values[max(i for i, c in enumerate(counts) if c == best)]
    kind = schema.get("type", "string")
    if kind == "object":
        props = schema.get("properties", {})
        return {key: fill(sub, context, key) for key, sub in props.items()}
    if kind == "array":
        return [fill(schema.get("items", {}), context, name)] * int(schema.get("minItems", 0))
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return True
    return f"scripted {name}"


def _persona_answer(messages: list[dict[str, Any]]) -> str:
    question = " ".join(_last_user(messages).split())
    topic = question if len(question) <= 80 else question[:77] + "..."
    match = _PERSONA.search(_system(messages))
    who = match.group("who").strip() if match else "assistant"
    return f"The {who}: no blocking issue with \u201c{topic}\u201d."


def _cite(prompt: str) -> str:
    points = [
        f"{m.group('name')} says: {m.group('text').strip()} [{m.group('n')}]"
        for m in _SOURCE.finditer(prompt)
    ]
    return "Recommendation: go ahead. " + " ".join(points)


def _agent_calls(messages: list[dict[str, Any]], tools: list[dict[str, Any]]) -> Any:
    """Tool calls for every offered `agent_*` tool, or None once results came back."""
    names = [t["function"]["name"] for t in tools if t.get("type", "function") == "function"]
    agents = [n for n in names if n.startswith("agent_")]
    if not agents or any(m.get("role") == "tool" for m in messages):
        return None
    question = _last_user(messages)
    return [
        {
            "id": f"call_{i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps({"question": question})},
        }
        for i, name in enumerate(agents, 1)
    ]


def _merge(messages: list[dict[str, Any]]) -> str:
    """One answer from the agents' results, each line naming the agent that gave it."""
    called: dict[str, str] = {}
    for message in messages:
        for call in message.get("tool_calls") or ():
            called[call["id"]] = call["function"]["name"].removeprefix("agent_")
    lines = [
        f"- {called.get(m.get('tool_call_id', ''), 'tool')}: {_text(m.get('content'))}"
        for m in messages
        if m.get("role") == "tool"
    ]
    return "Merged answer:\n" + "\n".join(lines)


def reply(body: dict[str, Any]) -> dict[str, Any]:
    """The assistant message for a chat-completions request: `content` or `tool_calls`."""
    messages: list[dict[str, Any]] = list(body.get("messages") or [])
    calls = _agent_calls(messages, list(body.get("tools") or []))
    if calls is not None:
        return {"role": "assistant", "content": None, "tool_calls": calls}
    if any(m.get("role") == "tool" for m in messages):
        return {"role": "assistant", "content": _merge(messages)}
    schema = _schema_in(messages)
    if schema is not None:
        context = "\n".join(_text(m.get("content")) for m in messages if m.get("role") == "user")
        return {"role": "assistant", "content": json.dumps(fill(schema, context))}
    prompt = _last_user(messages)
    if _SOURCE.search(prompt):
        return {"role": "assistant", "content": _cite(prompt)}
    return {"role": "assistant", "content": _persona_answer(messages)}


def _usage(body: dict[str, Any], message: dict[str, Any]) -> dict[str, int]:
    prompt = sum(len(_text(m.get("content")).split()) for m in body.get("messages") or [])
    completion = len(str(message.get("content") or "").split()) + len(
        message.get("tool_calls") or []
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def completion(body: dict[str, Any]) -> dict[str, Any]:
    """A whole `chat.completion` object."""
    message = reply(body)
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", MODEL),
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }
        ],
        "usage": _usage(body, message),
    }


def chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The `chat.completion.chunk` objects of a streamed answer (word by word)."""
    message = reply(body)
    base = {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": body.get("model", MODEL),
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if message.get("tool_calls"):
        calls = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
        out += [chunk({"tool_calls": calls}), chunk({}, "tool_calls")]
    else:
        words = re.findall(r"\S+\s*|\s+", str(message["content"]))
        out += [chunk({"content": w}) for w in words] + [chunk({}, "stop")]
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append({**base, "choices": [], "usage": _usage(body, message)})
    return out


async def _read_body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += bytes(message.get("body", b""))
        if not message.get("more_body"):
            return body


async def _respond(send: Send, status: int, data: bytes, content_type: str) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(data))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI app: `GET /v1/models` and `POST /v1/chat/completions`."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = await _read_body(receive)
    path, method = scope["path"].rstrip("/"), scope["method"]
    if method == "GET" and path == "/v1/models":
        listing = {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0}]}
        await _respond(send, 200, json.dumps(listing).encode(), "application/json")
        return
    if method != "POST" or path != "/v1/chat/completions":
        await _respond(send, 404, b'{"error": {"message": "not found"}}', "application/json")
        return
    request = json.loads(body or b"{}")
    if not request.get("stream"):
        await _respond(send, 200, json.dumps(completion(request)).encode(), "application/json")
        return
    events = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks(request))
    await _respond(send, 200, events + b"data: [DONE]\n\n", "text/event-stream")


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="info")


if __name__ == "__main__":
    main()
