"""Fakes at the port seam and a real local HTTP server that counts calls."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from agentdeck.engine import AgentSpec, Engine, MemoryJournal, NodeError, Ports, parse_spec
from agentdeck.engine.ports import ChatRequest, ChatResult, ToolSpec, Usage

Reply = Callable[[ChatRequest], ChatResult | Awaitable[ChatResult]]


class FakeLLM:
    """An LLMPort answering from a function; records requests."""

    def __init__(self, reply: Reply | None = None, deltas: Sequence[str] = ()) -> None:
        self.reply = reply or (lambda req: ChatResult(text="ok", usage=Usage(3, 1, 0.001)))
        self.deltas = list(deltas)
        self.requests: list[ChatRequest] = []

    async def chat(self, request: ChatRequest) -> ChatResult:
        self.requests.append(request)
        result = self.reply(request)
        if isinstance(result, ChatResult):
            return result
        return await result

    async def stream(
        self, request: ChatRequest, on_delta: Callable[[str], Awaitable[None]]
    ) -> ChatResult:
        for delta in self.deltas:
            await on_delta(delta)
        return await self.chat(request)


@dataclass
class FakeTools:
    """A ToolPort over plain functions; records (name, args, idempotency_key)."""

    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any], str]] = field(default_factory=list)

    async def list_tools(self, names: Sequence[str]) -> list[ToolSpec]:
        missing = [n for n in names if n not in self.functions]
        if missing:
            raise NodeError("tool", f"unknown tools {missing}")
        return [ToolSpec(name=n, description=f"tool {n}") for n in names]

    async def call(self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str) -> Any:
        self.calls.append((name, dict(arguments), idempotency_key))
        if name not in self.functions:
            raise NodeError("tool", f"unknown tool {name!r}")
        return self.functions[name](**arguments)


@dataclass
class RecordingSink:
    durable: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    ephemeral: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, run_id: str, seq: int, type: str, data: dict[str, Any]) -> None:
        self.durable.append((seq, type, data))

    async def publish_ephemeral(self, run_id: str, type: str, data: dict[str, Any]) -> None:
        self.ephemeral.append((type, data))

    def types(self) -> list[str]:
        return [t for _, t, _ in self.durable]


class NoSleep:
    """Injectable sleep that records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


def spec_from(text: str, **known: Any) -> AgentSpec:
    return parse_spec(text, "application/yaml", **known)


@pytest.fixture
def journal() -> MemoryJournal:
    return MemoryJournal()


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
def no_sleep() -> NoSleep:
    return NoSleep()


@pytest.fixture
def make_engine(
    journal: MemoryJournal, sink: RecordingSink, no_sleep: NoSleep
) -> Callable[..., Engine]:
    def make(**ports: Any) -> Engine:
        return Engine(journal, ports=Ports(**ports), events=sink, sleep=no_sleep, rand=lambda: 0.5)

    return make


# ---- a real HTTP server on 127.0.0.1 -----------------------------------------------------


@dataclass
class ServerLog:
    calls: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    fail_first: int = 0  # answer 503 to this many calls first
    delay_first: dict[str, float] = field(default_factory=dict)  # path -> seconds, once

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for _, p, _, _ in self.calls if p == path)

    def keys(self, path: str) -> list[str]:
        with self.lock:
            return [h.get("Idempotency-Key", "") for _, p, h, _ in self.calls if p == path]


class LocalServer:
    def __init__(self, log: ServerLog, port: int) -> None:
        self.log = log
        self.url = f"http://127.0.0.1:{port}"


def _handler(log: ServerLog) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with log.lock:
                log.calls.append((self.command, self.path, dict(self.headers), body))
                n = len(log.calls)
                failing = log.fail_first > 0
                if failing:
                    log.fail_first -= 1
                delay = log.delay_first.pop(self.path, 0.0)
            if delay:
                time.sleep(delay)
            status = 503 if failing else 200
            payload = json.dumps({"n": n, "path": self.path}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    log = ServerLog()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(log))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LocalServer(log, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
