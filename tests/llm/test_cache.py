"""Response caches: the in-memory TTL cache, and memory in front of a shared cache."""

from __future__ import annotations

from agentdeck.llm.cache import InMemoryTTLCache, TieredCache


class SharedCache:
    """A shared cache (the database's or Redis's role) that records how it is used."""

    def __init__(self, *, batches: bool) -> None:
        self.values: dict[str, str] = {}
        self.gets: list[str] = []
        self.writes: list[list[str]] = []
        if batches:
            self.set_many = self._set_many

    async def get(self, key: str) -> str | None:
        self.gets.append(key)
        return self.values.get(key)

    async def set(self, key: str, value: str, ttl: int) -> None:
        self.writes.append([key])
        self.values[key] = value

    async def _set_many(self, entries: list[tuple[str, str, int]]) -> None:
        self.writes.append([key for key, _, _ in entries])
        self.values.update({key: value for key, value, _ in entries})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_in_memory_entries_expire_and_the_oldest_is_evicted() -> None:
    clock = Clock()
    cache = InMemoryTTLCache(max_entries=2, clock=clock)
    await cache.set("a", "1", ttl=10)
    await cache.set("b", "2", ttl=10)
    assert await cache.get("a") == "1"  # a is now the most recently used
    await cache.set("c", "3", ttl=10)
    assert (await cache.get("b"), await cache.get("a"), await cache.get("c")) == (None, "1", "3")
    clock.now += 10
    assert await cache.get("a") is None


async def test_tiered_writes_behind_in_one_batch_and_answers_from_memory() -> None:
    shared = SharedCache(batches=True)
    cache = TieredCache(shared, write_after_s=3600)
    await cache.set("org:1", "one", 60)
    await cache.set("org:2", "two", 60)
    assert shared.writes == [], "the caller never waits for the shared cache"
    assert await cache.get("org:1") == "one" and shared.gets == []
    await cache.aclose()
    assert shared.writes == [["org:1", "org:2"]]
    assert shared.values == {"org:1": "one", "org:2": "two"}


async def test_tiered_asks_the_shared_cache_on_a_miss_and_keeps_what_it_found() -> None:
    shared = SharedCache(batches=False)
    shared.values["org:k"] = "from another process"
    cache = TieredCache(shared, write_after_s=0)
    assert await cache.get("org:k") == "from another process"
    assert await cache.get("org:k") == "from another process"
    assert await cache.get("org:none") is None
    assert shared.gets == ["org:k", "org:none"]
    await cache.set("org:a", "A", 60)
    await cache.set("org:b", "B", 60)
    await cache.aclose()
    assert shared.writes == [["org:a"], ["org:b"]], "one write per entry without set_many"
