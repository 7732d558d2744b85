"""LLM gateway overhead: direct `AsyncOpenAI` calls vs `Gateway.chat` / `Gateway.stream`.

Starts a fake OpenAI-compatible server on 127.0.0.1 (random port, own thread and event loop),
makes N sequential calls each way and prints p50/p99 latency and time to first token.

    .venv/bin/python benchmarks/llm_overhead.py [N]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable

import httpx2
import structlog
from openai import AsyncOpenAI

from agentdeck.llm import (
    CallContext,
    ChatMessage,
    ChatRequest,
    Gateway,
    NullUsageSink,
    ProviderConfig,
)

MODEL = "gpt-4o-mini"
COMPLETION = json.dumps(
    {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi!"},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 9, "completion_tokens": 2, "total_tokens": 11},
    }
).encode()


def _sse() -> bytes:
    def chunk(delta: dict[str, object], finish: str | None = None, **extra: object) -> str:
        payload = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return "data: " + json.dumps(payload) + "\n\n"

    body = "".join(chunk({"role": "assistant", "content": t}) for t in ["Hel", "lo", "!"])
    usage = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}
    return (body + chunk({}, "stop", usage=usage) + "data: [DONE]\n\n").encode()


STREAM = _sse()


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = json.loads(await reader.readexactly(length)) if length else {}
            payload, ctype = (STREAM, b"text/event-stream") if body.get("stream") else (
                COMPLETION, b"application/json")  # fmt: skip
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: " + ctype + b"\r\ncontent-length: "
                + str(len(payload)).encode() + b"\r\nconnection: keep-alive\r\n\r\n" + payload
            )  # fmt: skip
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()


class FakeServer:
    """The fake OpenAI server, running in a daemon thread with its own event loop."""

    def __init__(self) -> None:
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.Server | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(_handle, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        self._ready.wait(10)

    def stop(self) -> None:
        async def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            await asyncio.sleep(0.05)  # let handlers see the clients' EOF
            self._loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop)
        self._thread.join(10)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _measure(
    n: int, call: Callable[[], Awaitable[float | None]]
) -> tuple[list[float], list[float]]:
    for _ in range(max(20, n // 10)):  # warm-up: connections, imports, caches
        await call()
    latencies: list[float] = []
    ttfts: list[float] = []
    for _ in range(n):
        t0 = time.perf_counter()
        ttft = await call()
        latencies.append((time.perf_counter() - t0) * 1000)
        if ttft is not None:
            ttfts.append((ttft - t0) * 1000)
    return latencies, ttfts


async def main(n: int) -> None:
    server = FakeServer()
    server.start()
    base = "http://127.0.0.1:" + str(server.port) + "/v1"
    messages = [{"role": "user", "content": "Say hi"}]
    http = httpx2.AsyncClient()
    client = AsyncOpenAI(api_key="sk-bench", base_url=base, http_client=http, max_retries=0)
    gateway = Gateway(usage_sink=NullUsageSink())
    providers = [
        ProviderConfig(id="b", name="bench", kind="openai", api_key="sk-bench", base_url=base)
    ]
    request = ChatRequest(
        model="bench/" + MODEL, messages=[ChatMessage(role="user", content="Say hi")]
    )
    ctx = CallContext(org_id="bench")

    async def direct_chat() -> None:
        await client.chat.completions.create(model=MODEL, messages=messages)  # type: ignore[arg-type]

    async def direct_stream() -> float | None:
        first = None
        stream = await client.chat.completions.create(
            model=MODEL,
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},  # type: ignore[arg-type]
        )
        async for chunk in stream:
            if first is None and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter()
        return first

    async def gateway_chat() -> None:
        await gateway.chat(ctx, request, providers)

    async def gateway_stream() -> float | None:
        first = None
        async for event in gateway.stream(ctx, request, providers):
            if first is None and event.type == "delta":
                first = time.perf_counter()
        return first

    try:
        rows: dict[str, tuple[list[float], list[float]]] = {}
        for name, fn in [
            ("direct chat", direct_chat),
            ("gateway chat", gateway_chat),
            ("direct stream", direct_stream),
            ("gateway stream", gateway_stream),
        ]:
            rows[name] = await _measure(n, fn)  # type: ignore[arg-type]
        print(f"{n} sequential calls per row against a local fake OpenAI server (ms)")
        print(f"{'':16}{'p50':>8}{'p99':>8}{'ttft p50':>10}{'ttft p99':>10}")
        for name, (lat, ttft) in rows.items():
            t50 = f"{_pct(ttft, 0.5):10.3f}" if ttft else f"{'-':>10}"
            t99 = f"{_pct(ttft, 0.99):10.3f}" if ttft else f"{'-':>10}"
            print(f"{name:16}{_pct(lat, 0.5):8.3f}{_pct(lat, 0.99):8.3f}{t50}{t99}")
        chat_added = statistics.median(rows["gateway chat"][0]) - statistics.median(
            rows["direct chat"][0]
        )
        stream_added = statistics.median(rows["gateway stream"][0]) - statistics.median(
            rows["direct stream"][0]
        )
        ttft_added = statistics.median(rows["gateway stream"][1]) - statistics.median(
            rows["direct stream"][1]
        )
        print(f"added at p50: chat {chat_added:.3f} ms, stream {stream_added:.3f} ms, "
              f"ttft {ttft_added:.3f} ms (target <= 2 ms)")  # fmt: skip
    finally:
        await client.close()
        await gateway.aclose()
        await http.aclose()
        server.stop()


if __name__ == "__main__":
    # Keep the gateway's per-call log line (its cost is part of the overhead), but off the console.
    structlog.configure(
        processors=[
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.WriteLoggerFactory(open(os.devnull, "w")),  # noqa: SIM115
    )
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
