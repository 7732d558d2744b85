"""`ResponseCache` implementations: in-memory TTL (one process), Redis (shared), and the two
in tiers (this process's memory in front of a shared store)."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, cast, runtime_checkable

from agentdeck.llm.ports import ResponseCache


class _RedisLike(Protocol):
    async def get(self, name: str) -> Any: ...

    async def set(self, name: str, value: str, ex: int | None = None) -> Any: ...


class InMemoryTTLCache:
    """A bounded LRU with per-entry expiry. Not shared between processes."""

    def __init__(
        self, max_entries: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._entries: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._max_entries = max_entries
        self._clock = clock

    async def get(self, key: str) -> str | None:
        """The live value for `key`, or None."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires_at, value = entry
        if expires_at <= self._clock():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: str, ttl: int) -> None:
        """Store `value` for `ttl` seconds, evicting the least recently used entry when full."""
        self._entries[key] = (self._clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)


class RedisResponseCache:
    """A cache in Redis (`redis.asyncio`), shared by every API and worker process."""

    def __init__(self, client: _RedisLike, prefix: str = "agentdeck:llm:") -> None:
        self._client = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, prefix: str = "agentdeck:llm:") -> RedisResponseCache:
        """Connect lazily to `url`; needs the optional `redis` package."""
        try:
            import redis.asyncio as redis_asyncio  # type: ignore[import-not-found, unused-ignore]
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise RuntimeError("RedisResponseCache needs the 'redis' package") from exc
        client = cast(_RedisLike, redis_asyncio.Redis.from_url(url))
        return cls(client, prefix)

    async def get(self, key: str) -> str | None:
        """The value for `key`, or None."""
        raw = await self._client.get(self._prefix + key)
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def set(self, key: str, value: str, ttl: int) -> None:
        """Store `value` for `ttl` seconds."""
        await self._client.set(self._prefix + key, value, ex=ttl)


@runtime_checkable
class BatchWritable(Protocol):
    """A shared cache that stores several entries in one write."""

    async def set_many(self, entries: list[tuple[str, str, int]]) -> None:
        """Store each `(key, value, ttl)`."""
        ...


class TieredCache:
    """This process's memory in front of a shared cache (the database, Redis).

    A hit in memory costs no I/O; a miss asks the shared cache and keeps what it found.
    ``set`` stores in memory at once and queues the entry for the shared cache, which is
    written ``write_after_s`` later in one batch (``set_many`` when the shared cache has
    it), off the caller's path; the shared cache must log and swallow its own errors.
    :meth:`aclose` writes what is queued.
    """

    def __init__(
        self,
        shared: ResponseCache,
        front: InMemoryTTLCache | None = None,
        *,
        write_after_s: float = 0.05,
    ) -> None:
        self._shared = shared
        self._front = front or InMemoryTTLCache()
        self._write_after_s = write_after_s
        self._queued: list[tuple[str, str, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def get(self, key: str) -> str | None:
        """The value for `key` from memory, else from the shared cache, or None."""
        value = await self._front.get(key)
        if value is not None:
            return value
        value = await self._shared.get(key)
        if value is not None:
            # The shared entry's own expiry is unknown here: keep it for a short while.
            await self._front.set(key, value, _FRONT_TTL_S)
        return value

    async def set(self, key: str, value: str, ttl: int) -> None:
        """Store `value` for `ttl` seconds: in memory now, in the shared cache soon."""
        await self._front.set(key, value, ttl)
        self._queued.append((key, value, ttl))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._write_soon())

    async def _write_soon(self) -> None:
        try:
            await asyncio.sleep(self._write_after_s)
        finally:
            self._task = None
        await self._write()

    async def _write(self) -> None:
        entries, self._queued = self._queued, []
        if not entries:
            return
        if isinstance(self._shared, BatchWritable):
            await self._shared.set_many(entries)
            return
        for key, value, ttl in entries:
            await self._shared.set(key, value, ttl)

    async def aclose(self) -> None:
        """Write what is queued for the shared cache."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._write()


_FRONT_TTL_S = 60
