"""OrgCache: per-org values with a TTL, dropped when a session changes the org's rows."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from agentdeck.kit.org_cache import OrgCache
from agentdeck.models import ModelAlias
from tests.factories import create_tenant


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _value(value: str) -> Any:
    async def load() -> str:
        return value

    return load


async def test_a_value_lives_for_its_ttl() -> None:
    clock = Clock()
    cache: OrgCache[str] = OrgCache(ModelAlias, ttl_s=5, clock=clock)
    org = uuid.uuid4()
    assert await cache.get(org, _value("a")) == "a"
    clock.now = 4.9
    assert await cache.get(org, _value("b")) == "a"
    clock.now = 5.0
    assert await cache.get(org, _value("b")) == "b"
    cache.drop(org)
    assert await cache.get(org, _value("c")) == "c"


async def test_a_load_that_overlaps_a_drop_is_not_kept() -> None:
    cache: OrgCache[str] = OrgCache(ModelAlias, ttl_s=60)
    org = uuid.uuid4()

    async def changed_meanwhile() -> str:
        cache.drop(org)  # a change was committed while this value was read
        return "read before the change"

    assert await cache.get(org, changed_meanwhile) == "read before the change"
    assert await cache.get(org, _value("fresh")) == "fresh"
    assert await cache.get(org, _value("later")) == "fresh"


async def test_a_flushed_change_drops_the_org_then_its_commit_drops_it_again(
    app: Any, client: httpx.AsyncClient
) -> None:
    cache: OrgCache[str] = OrgCache(ModelAlias, ttl_s=60)
    tenant, other = await create_tenant(client), await create_tenant(client)
    org, other_org = uuid.UUID(tenant.org_id), uuid.UUID(other.org_id)
    assert await cache.get(org, _value("before")) == "before"
    assert await cache.get(other_org, _value("theirs")) == "theirs"

    async with app.state.runtime.sessionmaker() as session:
        session.add(ModelAlias(org_id=org, name="fast", models=["local/x"], strategy="ordered"))
        await session.flush()
        assert await cache.get(org, _value("between flush and commit")) == (
            "between flush and commit"
        )
        await session.commit()
    assert await cache.get(org, _value("after")) == "after"
    assert await cache.get(other_org, _value("x")) == "theirs", "another org is kept"

    async with app.state.runtime.sessionmaker() as session:
        session.add(ModelAlias(org_id=org, name="slow", models=["local/x"], strategy="ordered"))
        await session.flush()
        await session.rollback()
    assert await cache.get(org, _value("rolled back")) == "rolled back"
    assert await cache.get(org, _value("y")) == "rolled back"
