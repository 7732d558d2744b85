"""Named message channels on a dedicated connection that reconnects by itself.

Two transports share this shape: PostgreSQL ``LISTEN/NOTIFY`` (`postgres`) and Redis
pub/sub (`redis`). Callers only say which
channels they want and what to send; `run()` keeps the connection, re-LISTENs after a drop
(backoff 0.5 s doubling to 10 s) and closes it when cancelled. Nothing here ever raises into
a caller: while disconnected, sends are dropped and readers fall back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import structlog

log = structlog.get_logger(__name__)

OnMessage = Callable[[str, str], None]
"""Called with (channel, payload) for every message received on a wanted channel."""
OnResumed = Callable[[str], None]
"""Called with a channel that was wanted while disconnected, once it is subscribed: what was
sent on it meanwhile was missed."""

_BACKOFF_MIN_S = 0.5
_BACKOFF_MAX_S = 10.0
_OUTBOX_MAX = 10_000


class Channels:
    """The transport-independent part: wanted channels, readiness, the outbox, reconnects."""

    name = "channels"
    limit: int | None = None
    """Largest payload in bytes the transport carries (None: no practical limit)."""

    def __init__(self, on_message: OnMessage) -> None:
        self._on_message = on_message
        self.on_resumed: OnResumed | None = None
        self._resumed: set[str] = set()
        self._wanted: set[str] = set()
        self._active: set[str] = set()
        self._ready: dict[str, asyncio.Event] = {}
        self._dirty = asyncio.Event()
        self._outbox: asyncio.Queue[tuple[str, str]] = asyncio.Queue(_OUTBOX_MAX)
        self.connected = False
        self._up = asyncio.Event()

    # -- what callers use -------------------------------------------------------------------

    def listen(self, channel: str) -> None:
        """Receive ``channel`` from now on (effective once `listening` says so)."""
        self._wanted.add(channel)
        ready = self._ready.setdefault(channel, asyncio.Event())
        if channel in self._active:  # unlistened and wanted again before the reconcile ran
            ready.set()
        self._dirty.set()

    def unlisten(self, channel: str) -> None:
        self._wanted.discard(channel)
        self._ready.pop(channel, None)
        self._dirty.set()

    def is_listening(self, channel: str) -> bool:
        return self.connected and channel in self._active and channel in self._wanted

    async def listening(self, channel: str, timeout_s: float) -> bool:
        """Wait until ``channel`` is really subscribed; False at once while disconnected."""
        ready = self._ready.get(channel)
        if ready is None or not self.connected:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await ready.wait()
        return self.is_listening(channel)

    def send(self, channel: str, payload: str) -> None:
        """Queue a message; dropped while disconnected or when the outbox is full."""
        if not self.connected:
            return
        try:
            self._outbox.put_nowait((channel, payload))
        except asyncio.QueueFull:
            log.warning("pubsub.outbox_full", transport=self.name, channel=channel)

    async def run(self) -> None:
        """Stay connected until cancelled, reconnecting with backoff; close on the way out."""
        delay = _BACKOFF_MIN_S
        while True:
            try:
                await self._connect()
            except Exception as exc:
                log.warning(
                    "pubsub.connect_failed", transport=self.name, error=type(exc).__name__,
                    retry_s=delay,
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, _BACKOFF_MAX_S)
                continue
            log.info("pubsub.connected", transport=self.name, channels=len(self._wanted))
            try:
                await self._serve()
                delay = _BACKOFF_MIN_S
            except Exception as exc:
                log.warning("pubsub.connection_lost", transport=self.name, error=type(exc).__name__)
            finally:
                await self._disconnect()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _BACKOFF_MAX_S)

    # -- the loops of one connection --------------------------------------------------------

    async def wait_connected(self, timeout_s: float) -> bool:
        """Wait (at most ``timeout_s``) until the transport is connected."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._up.wait()
        return self.connected

    async def _serve(self) -> None:
        self._resumed = set(self._wanted)
        self.connected = True
        self._up.set()
        self._dirty.set()
        tasks = [
            asyncio.create_task(self._reconcile()),
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._pump()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise why the connection ended
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _reconcile(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            for channel in sorted(self._wanted - self._active):
                await self._listen(channel)
                raise_if_cancelled()
                self._active.add(channel)
                if channel in self._wanted:
                    self._ready.setdefault(channel, asyncio.Event()).set()
                if channel in self._resumed:
                    self._resumed.discard(channel)
                    if self.on_resumed is not None:
                        self.on_resumed(channel)
            for channel in sorted(self._active - self._wanted):
                await self._unlisten(channel)
                raise_if_cancelled()
                self._active.discard(channel)

    async def _send_loop(self) -> None:
        while True:
            channel, payload = await self._outbox.get()
            await self._publish(channel, payload)
            raise_if_cancelled()

    async def _disconnect(self) -> None:
        self.connected = False
        self._up.clear()
        self._active.clear()
        for ready in self._ready.values():
            ready.clear()
        while not self._outbox.empty():  # stale by the time we are back
            self._outbox.get_nowait()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2):
                await self._close()

    def _deliver(self, channel: str, payload: str) -> None:
        if channel not in self._wanted:
            return
        try:
            self._on_message(channel, payload)
        except Exception:
            log.exception("pubsub.handler_failed", transport=self.name, channel=channel)

    # -- what a transport implements --------------------------------------------------------

    async def _connect(self) -> None:
        raise NotImplementedError

    async def _listen(self, channel: str) -> None:
        raise NotImplementedError

    async def _unlisten(self, channel: str) -> None:
        raise NotImplementedError

    async def _publish(self, channel: str, payload: str) -> None:
        raise NotImplementedError

    async def _pump(self) -> None:
        """Return or raise when the connection is gone."""
        raise NotImplementedError

    async def _close(self) -> None:
        raise NotImplementedError


def raise_if_cancelled() -> None:
    """Client libraries (redis-py) sometimes swallow a cancellation; honour it anyway."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
