"""The model host's child process: runs the offline models for the server that started it.

    python -m agentdeck.modelhost.child --fd N [--warm-chat] [--max-queued 64]

It talks over the stream socket inherited as file descriptor N (`frames`), and nothing else
can reach it. With ``--warm-chat`` it starts loading the local chat model at once, before the
server has even finished its own start-up. Requests:

- ``generate`` (``chat``, ``max_new_tokens``, ``temperature``): ``delta`` frames as tokens are
  generated (``text``, ``input``, ``output`` token counts), then ``end``. One generation runs
  at a time (`LocalEngine` serialises them); the others wait their turn.
- ``embed`` (``spec``: a `LocalSpec`, ``texts``): one ``end`` frame with ``count`` and ``dim``
  whose payload is the float32 vectors, row after row. One batch per model at a time.
- ``warm``: ``end`` once the chat model is loaded. ``cancel`` (the ``id`` of a request) stops
  that request; ``exit`` ends the process.

A model's failure answers its request with an ``error`` frame (``kind``: ``user``,
``embedding``, ``unavailable``, ``busy`` or ``error``; ``message``), never a dead process. When
the server closes the socket (or dies), the process exits at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import structlog

from agentdeck.modelhost import frames

if TYPE_CHECKING:
    from agentdeck.modelhost.smollm2 import LocalEngine
    from agentdeck.rag.embeddings import Embedder, LocalSpec

log = structlog.get_logger(__name__)


class Busy(Exception):
    """Too many requests already wait for this model."""


class Models:
    """The models of this process, each loaded once, with their queues bounded."""

    def __init__(self, max_queued: int) -> None:
        self._chat: LocalEngine | None = None
        self._max_queued = max_queued
        self._in_flight: dict[object, int] = {}
        self._embedders: dict[LocalSpec, Embedder] = {}
        self._embed_locks: dict[LocalSpec, asyncio.Lock] = {}

    @property
    def chat(self) -> LocalEngine:
        """The local chat model's in-process engine (imported on first use)."""
        if self._chat is None:
            from agentdeck.modelhost.smollm2 import LocalEngine

            self._chat = LocalEngine()
        return self._chat

    def admit(self, model: object) -> None:
        """Count a request for ``model`` (one runs, ``max_queued`` wait); raises `Busy`."""
        count = self._in_flight.get(model, 0)
        if count > self._max_queued:
            raise Busy(f"{count - 1} requests already wait for this model")
        self._in_flight[model] = count + 1

    def release(self, model: object) -> None:
        self._in_flight[model] -= 1

    async def embed(self, spec: LocalSpec, texts: list[str]) -> list[list[float]]:
        """Embed with the model of ``spec`` (made on first use), one batch at a time."""
        embedder = self._embedders.get(spec)
        if embedder is None:
            embedder = self._embedders[spec] = spec.build()
        lock = self._embed_locks.setdefault(spec, asyncio.Lock())
        async with lock:
            return await embedder.embed(texts)


def _error_kind(exc: BaseException) -> str:
    from agentdeck.modelhost.smollm2 import ModelNotInstalled

    if isinstance(exc, Busy):
        return "busy"
    if isinstance(exc, ModelNotInstalled):
        return "user"
    if "agentdeck.rag.embeddings" not in sys.modules:  # not imported: not an embedding error
        return "error"
    from agentdeck.rag.embeddings import EmbedderUnavailable
    from agentdeck.rag.errors import EmbeddingError

    if isinstance(exc, EmbedderUnavailable):
        return "unavailable"
    if isinstance(exc, EmbeddingError):
        return "embedding"
    return "error"


Send = Callable[[frames.Header, bytes], Awaitable[None]]


async def _generate(models: Models, request: frames.Header, send: Send) -> None:
    models.admit("chat")
    try:
        pieces = models.chat.generate(
            request["chat"], int(request["max_new_tokens"]), request.get("temperature")
        )
        counts = (0, 0)
        async for text, input_tokens, output_tokens in pieces:
            counts = (input_tokens, output_tokens)
            delta = {"event": "delta", "text": text, "input": input_tokens}
            await send({**delta, "output": output_tokens}, b"")
        await send({"event": "end", "input": counts[0], "output": counts[1]}, b"")
    finally:
        models.release("chat")


async def _embed(models: Models, request: frames.Header, send: Send) -> None:
    import numpy as np

    from agentdeck.rag.embeddings import LocalSpec

    spec = LocalSpec(**request["spec"])
    models.admit(spec)
    try:
        vectors = np.asarray(await models.embed(spec, list(request["texts"])), dtype="<f4")
    finally:
        models.release(spec)
    count, dim = vectors.shape if vectors.size else (0, spec.dim)
    await send({"event": "end", "count": count, "dim": dim}, vectors.tobytes())


async def _warm(models: Models, request: frames.Header, send: Send) -> None:
    await models.chat.warm()
    await send({"event": "end"}, b"")


_HANDLERS = {"generate": _generate, "embed": _embed, "warm": _warm}


class Connection:
    """The socket to the server: frames out under one lock, one task per request."""

    def __init__(self, writer: asyncio.StreamWriter, models: Models) -> None:
        self._writer = writer
        self._models = models
        self._lock = asyncio.Lock()
        self.tasks: dict[int, asyncio.Task[None]] = {}

    async def send(self, request_id: int, header: frames.Header, payload: bytes) -> None:
        async with self._lock:
            self._writer.write(frames.encode({"id": request_id, **header}, payload))
            await self._writer.drain()

    def start(self, request: frames.Header) -> None:
        request_id = int(request["id"])
        handler = _HANDLERS.get(str(request.get("op")))
        task = asyncio.create_task(self._answer(request_id, handler, request))
        self.tasks[request_id] = task
        task.add_done_callback(lambda _: self.tasks.pop(request_id, None))

    async def _answer(self, request_id: int, handler: Any, request: frames.Header) -> None:
        async def send(header: frames.Header, payload: bytes) -> None:
            await self.send(request_id, header, payload)

        try:
            if handler is None:
                raise ValueError(f"unknown op {request.get('op')!r}")
            await handler(self._models, request, send)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            kind = _error_kind(exc)
            if kind == "error":
                log.exception("modelhost.request_failed", op=request.get("op"))
            message = f"{type(exc).__name__}: {exc}" if kind == "error" else str(exc)
            with contextlib.suppress(ConnectionError):  # the server is gone
                await send({"event": "error", "kind": kind, "message": message[:2000]}, b"")


async def _warm_up(models: Models) -> None:
    from agentdeck.modelhost.smollm2 import installed

    if not installed():
        log.info("modelhost.no_local_model")
        return
    try:
        await models.chat.warm()
        log.info("modelhost.chat_loaded")
    except Exception:  # not kept: the next request loads again, and says why if it fails
        log.exception("modelhost.chat_load_failed")


async def serve(sock: socket.socket, *, warm_chat: bool, max_queued: int) -> None:
    """Answer requests on ``sock`` until the server closes it or says ``exit``, then end the
    process."""
    models = Models(max_queued)
    warming = asyncio.create_task(_warm_up(models)) if warm_chat else None
    reader, writer = await asyncio.open_connection(sock=sock)
    connection = Connection(writer, models)
    while True:
        try:
            request, _ = await frames.read(reader)
        except (asyncio.IncompleteReadError, ConnectionError):
            break
        op = request.get("op")
        if op == "exit":
            break
        if op == "cancel":
            task = connection.tasks.get(int(request["id"]))
            if task is not None:
                task.cancel()
            continue
        connection.start(request)
    # Exit now: a load or a generation in flight runs in a thread that cannot be
    # interrupted, and nobody waits for its result any more (asyncio.run would wait).
    del warming
    sys.stderr.flush()
    os._exit(0)


def main(argv: list[str] | None = None) -> None:
    """The child's entry point: serves until the server goes, then exits."""
    parser = argparse.ArgumentParser(prog="agentdeck.modelhost.child")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--warm-chat", action="store_true")
    parser.add_argument("--max-queued", type=int, default=64)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--json-logs", action="store_true")
    args = parser.parse_args(argv)
    # Ctrl-C in a terminal reaches the whole process group: the server shuts down in order
    # and then closes our socket, which is what ends this process.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from agentdeck.logging import configure_logging

    configure_logging(json_logs=args.json_logs, level=args.log_level)
    sock = socket.socket(fileno=args.fd)
    code = 0
    try:
        asyncio.run(serve(sock, warm_chat=args.warm_chat, max_queued=args.max_queued))
    except BaseException:
        log.exception("modelhost.child_failed")
        code = 1
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
