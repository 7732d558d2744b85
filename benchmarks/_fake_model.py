"""A local upstream for the HTTP benchmarks: a fake OpenAI-compatible model and a step counter.

    .venv/bin/python benchmarks/_fake_model.py [--port 0] [--delay-ms 200]

One asyncio server (uvloop when installed) in its own process on 127.0.0.1, so that it is
never the bottleneck and does not share an event loop or a GIL with the load generator:

- `POST /v1/chat/completions` answers after `--delay-ms` with a one-word completion (a JSON
  body, or an SSE stream when the request has `"stream": true`); `GET /v1/models` lists
  `fake-model`. This is the "model" of `sleep5` for agentdeck and for LangGraph.
- `POST /count/<name>` answers at once and counts the call under its `Idempotency-Key`
  header (`benchmarks/soak.py` checks that no finished step is called twice);
  `GET /counts` answers `{key: calls}`.

It prints `READY <port>` on stdout once it listens; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from collections import Counter

MODEL = "fake-model"
USAGE = {"prompt_tokens": 9, "completion_tokens": 1, "total_tokens": 10}
COMPLETION = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }
).encode()
MODELS = json.dumps({"object": "list", "data": [{"id": MODEL, "object": "model"}]}).encode()


def _stream_body() -> bytes:
    def chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> str:
        payload = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return "data: " + json.dumps(payload) + "\n\n"

    first = chunk({"role": "assistant", "content": "ok"})
    return (first + chunk({}, "stop", usage=USAGE) + "data: [DONE]\n\n").encode()


STREAM = _stream_body()


class Upstream:
    """The request handler and the step counter's state."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.counts: Counter[str] = Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                method, path, headers = _parse_head(head)
                length = int(headers.get("content-length", "0"))
                raw = await reader.readexactly(length) if length else b""
                status, ctype, payload = await self._answer(method, path, headers, raw)
                writer.write(
                    b"HTTP/1.1 " + status + b"\r\ncontent-type: " + ctype
                    + b"\r\ncontent-length: " + str(len(payload)).encode()
                    + b"\r\nconnection: keep-alive\r\n\r\n" + payload
                )  # fmt: skip
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[bytes, bytes, bytes]:
        if method == "POST" and path.endswith("/chat/completions"):
            body = json.loads(raw) if raw else {}
            await asyncio.sleep(self.delay_s)
            if body.get("stream"):
                return b"200 OK", b"text/event-stream", STREAM
            return b"200 OK", b"application/json", COMPLETION
        if method == "GET" and path.endswith("/models"):
            return b"200 OK", b"application/json", MODELS
        if method == "POST" and path.startswith("/count/"):
            key = headers.get("idempotency-key", "")
            self.counts[key] += 1
            return b"200 OK", b"application/json", b'{"ok": true}'
        if method == "GET" and path == "/counts":
            return b"200 OK", b"application/json", json.dumps(self.counts).encode()
        return b"404 Not Found", b"application/json", b'{"error": "not found"}'


def _parse_head(head: bytes) -> tuple[str, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, path, headers


async def serve(port: int, delay_s: float) -> None:
    upstream = Upstream(delay_s)
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", port, backlog=4096)
    print(f"READY {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=200.0)
    args = parser.parse_args()
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvicorn[standard] installs uvloop
        runner = asyncio.run
    runner(serve(args.port, args.delay_ms / 1000))
    sys.exit(0)


if __name__ == "__main__":
    main()
