"""`ResponseCache` implementations: in-memory TTL (one process) and Redis (shared)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol, cast


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
