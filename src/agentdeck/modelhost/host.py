"""The server's handle on its model host: starts the child, restarts it, calls it.

`ModelHost` is this process's `ChatEngine` (`agentdeck.llm.local`) and `LocalEmbeddingHost`
(`agentdeck.rag.embeddings`) once `open` installs it: every `LocalModel` answer and every
local embedding then runs in the child (`agentdeck.modelhost.child`), and this process never
imports torch. The child is spawned with `subprocess` (before the server's event loop even
exists, so the model loads while the server starts) and talks over a socket pair, in frames.
This module imports nothing heavy at the top, so that spawn comes first.

Failures are bounded and said: a call waits at most ``wait_s`` for each answer frame (the
model loading, other generations ahead of it), a call in flight when the child dies fails at
once naming the exit, and the next call starts a new child. A chat failure is a pydantic-ai
model error (the gateway retries or falls back on it); an embedding failure is an
`EmbeddingError`, `EmbedderUnavailable` when it may work next time.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncGenerator, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import structlog

from agentdeck.modelhost import frames

if TYPE_CHECKING:
    from agentdeck.config import Settings
    from agentdeck.rag.embeddings import LocalSpec

log = structlog.get_logger(__name__)

_EXIT_WAIT_S = 5.0


class ModelHostError(Exception):
    """The host could not answer: ``kind`` is ``exited``, ``timeout``, ``busy``, ``closed``,
    or the kind of the model's own error in the child (``user``, ``embedding``, ...)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


_Item = tuple[frames.Header, bytes] | ModelHostError


@dataclass
class _Child:
    process: subprocess.Popen[bytes]
    sock: socket.socket
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    reading: asyncio.Task[None] | None = None
    pending: dict[int, asyncio.Queue[_Item]] = field(default_factory=dict)
    ended: bool = False
    """The socket reached its end: the child is gone (or going), the next call restarts."""


def _reap(process: subprocess.Popen[bytes], wait_s: float) -> int:
    """The child's exit code, killing it if it has not exited within ``wait_s``."""
    try:
        return process.wait(wait_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _exit_text(code: int | None) -> str:
    if code is None:
        return "closed its socket"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class ModelHost:
    """One child process running the offline models for this server process."""

    def __init__(
        self,
        *,
        wait_s: float = 300.0,
        max_queued: int = 64,
        warm_chat: bool = False,
        log_level: str = "INFO",
        json_logs: bool = False,
    ) -> None:
        self._wait_s = wait_s
        self._max_queued = max_queued
        self._warm_chat = warm_chat
        self._log = (log_level, json_logs)
        self._child: _Child | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings, *, warm_chat: bool) -> ModelHost:
        """A host tuned by ``settings.models``; ``warm_chat`` loads the chat model at once."""
        return cls(
            wait_s=settings.models.wait_s,
            max_queued=settings.models.max_queued,
            warm_chat=warm_chat,
            log_level=settings.log_level,
            json_logs=settings.is_production,
        )

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before the first start)."""
        return self._child.process.pid if self._child else None

    def start(self) -> None:
        """Start the child now when it has a model to preload (blocking for the few
        milliseconds of a spawn; call it before the server starts); else the first call
        starts it."""
        if self._warm_chat and self._child is None:
            self._spawn()

    def _spawn(self) -> _Child:
        ours, theirs = socket.socketpair()
        argv = [sys.executable, "-m", "agentdeck.modelhost.child", "--fd", str(theirs.fileno())]
        argv += ["--max-queued", str(self._max_queued), "--log-level", self._log[0]]
        argv += ["--warm-chat"] * self._warm_chat + ["--json-logs"] * self._log[1]
        try:
            # Our own interpreter and module, with arguments of our own making.
            process = subprocess.Popen(  # noqa: S603
                argv, pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        log.info("modelhost.started", pid=process.pid, warm_chat=self._warm_chat)
        self._child = _Child(process, ours)
        return self._child

    async def open(self) -> None:
        """Install the host as this process's chat engine and local embedding host (from
        now on `LocalModel` and the local embedders run in the child)."""
        from agentdeck.llm import local
        from agentdeck.rag import embeddings

        self._closed = False
        local.use_engine(self)
        embeddings.use_host(self)

    async def close(self) -> None:
        """Stop the child (asked to exit, killed after a few seconds) and uninstall."""
        from agentdeck.llm import local
        from agentdeck.rag import embeddings

        self._closed = True
        if local.engine() is self:
            local.use_engine(None)
        if (previous := embeddings.use_host(None)) is not self:
            embeddings.use_host(previous)
        child, self._child = self._child, None
        if child is None:
            return
        if child.writer is None:
            child.sock.close()
        else:
            if not child.ended:
                child.writer.write(frames.encode({"id": 0, "op": "exit"}))
            child.writer.close()
        code = await asyncio.to_thread(_reap, child.process, _EXIT_WAIT_S)
        if child.reading is not None:
            await asyncio.gather(child.reading, return_exceptions=True)
        log.info("modelhost.stopped", pid=child.process.pid, code=code)

    async def _connected(self) -> _Child:
        """The running child, connected; a new one if it is gone."""
        if self._closed:
            raise ModelHostError("closed", "The model host is stopped")
        child = self._child
        if child is not None and child.reader is not None and not child.ended:
            return child
        async with self._lock:
            child = self._child
            if child is None or child.ended:
                if child is not None:
                    log.warning("modelhost.restarting", previous_pid=child.process.pid)
                child = self._spawn()
            if child.reader is None:
                child.reader, child.writer = await asyncio.open_connection(sock=child.sock)
                child.reading = asyncio.create_task(self._read(child))
            return child

    async def _read(self, child: _Child) -> None:
        """Route the child's frames to their requests until the socket ends, then fail every
        request still waiting with the reason."""
        assert child.reader is not None
        try:
            while True:
                header, payload = await frames.read(child.reader)
                queue = child.pending.get(header.get("id", -1))
                if queue is not None:
                    queue.put_nowait((header, payload))
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        child.ended = True
        code = await asyncio.to_thread(_reap, child.process, 1.0)
        pid = child.process.pid
        if not self._closed:
            log.error("modelhost.exited", pid=pid, code=code)
        lost = ModelHostError(
            "exited",
            f"The model host process (pid {pid}) {_exit_text(code)} during the call; "
            "the next call starts a new one",
        )
        for queue in list(child.pending.values()):
            queue.put_nowait(lost)

    async def _call(
        self, op: str, fields: frames.Header
    ) -> AsyncGenerator[tuple[frames.Header, bytes]]:
        """Send one request; yield its answer frames up to ``end``. Raises `ModelHostError`."""
        child = await self._connected()
        request_id = next(self._ids)
        queue: asyncio.Queue[_Item] = asyncio.Queue()
        child.pending[request_id] = queue
        finished = False
        try:
            assert child.writer is not None
            child.writer.write(frames.encode({"id": request_id, "op": op, **fields}))
            with contextlib.suppress(ConnectionError):  # then the reader reports the exit
                await child.writer.drain()
            while not finished:
                try:
                    async with asyncio.timeout(self._wait_s):
                        item = await queue.get()
                except TimeoutError:
                    detail = f"The model host did not answer within {self._wait_s:g} s"
                    raise ModelHostError("timeout", detail) from None
                if isinstance(item, ModelHostError):
                    finished = True
                    raise item
                header = item[0]
                finished = header.get("event") in ("end", "error")
                if header.get("event") == "error":
                    kind, message = str(header.get("kind")), str(header.get("message"))
                    raise ModelHostError(kind, message)
                yield item
        finally:
            child.pending.pop(request_id, None)
            if not finished and not child.ended and child.writer is not None:
                # Closed early or cancelled: the child stops the work (no drain: we may be
                # cancelled ourselves; the frame is a few bytes).
                child.writer.write(frames.encode({"id": request_id, "op": "cancel"}))

    # --- the chat engine (agentdeck.llm.local.ChatEngine) ------------------------------------

    async def warm(self) -> None:
        """Load the chat model in the child (returns when it is loaded)."""
        try:
            async for _ in self._call("warm", {}):
                pass
        except ModelHostError as exc:
            raise _chat_error(exc) from exc

    async def generate(
        self, chat: list[dict[str, str]], max_new_tokens: int, temperature: float | None
    ) -> AsyncGenerator[tuple[str, int, int]]:
        """See `agentdeck.llm.local.ChatEngine.generate`; runs in the child."""
        request = {"chat": chat, "max_new_tokens": max_new_tokens, "temperature": temperature}
        frames_of = self._call("generate", request)
        try:
            async for header, _ in frames_of:
                if header.get("event") == "delta":
                    yield str(header["text"]), int(header["input"]), int(header["output"])
        except ModelHostError as exc:
            raise _chat_error(exc) from exc
        finally:
            await frames_of.aclose()

    # --- the local embedding host (agentdeck.rag.embeddings.LocalEmbeddingHost) --------------

    async def embed(self, spec: LocalSpec, texts: Sequence[str]) -> list[list[float]]:
        """See `agentdeck.rag.embeddings.LocalEmbeddingHost.embed`; runs in the child."""
        import numpy as np

        from agentdeck.rag.embeddings import EmbedderUnavailable
        from agentdeck.rag.errors import EmbeddingError

        request = {"spec": asdict(spec), "texts": list(texts)}
        try:
            async with contextlib.aclosing(self._call("embed", request)) as answer:
                async for header, payload in answer:
                    count, dim = int(header["count"]), int(header["dim"])
                    vectors = np.frombuffer(payload, dtype="<f4").reshape(count, dim)
                    result: list[list[float]] = vectors.tolist()
                    return result
        except ModelHostError as exc:
            if exc.kind == "embedding":
                raise EmbeddingError(exc.message) from exc
            raise EmbedderUnavailable(exc.message) from exc
        raise EmbedderUnavailable("The model host ended the call without vectors")


def _chat_error(exc: ModelHostError) -> Exception:
    """The pydantic-ai error the gateway understands for a failed host call."""
    from pydantic_ai.exceptions import (
        ModelRateLimitError,
        ModelServerError,
        ModelTimeoutError,
        ModelUnavailableError,
        UserError,
    )

    from agentdeck.llm.local import LOCAL_MODEL_NAME as name

    if exc.kind == "user":
        return UserError(exc.message)
    if exc.kind == "timeout":
        return ModelTimeoutError(name, exc.message)
    if exc.kind == "busy":
        return ModelRateLimitError(name, exc.message)
    if exc.kind in ("exited", "closed"):
        return ModelUnavailableError(name, exc.message)
    return ModelServerError(name, exc.message)
