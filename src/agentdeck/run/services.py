"""Process-wide run services (broker, settings, HTTP client, LLM port factory) per database.

Job handlers get only a sessionmaker, so the services are found by the database engine they
serve. `attach()` (called by `app.build_worker` and the API's lifespan) registers the
runtime's cipher, the worker's wake-up and the relay to other processes; anything not attached
gets defaults on first use.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import httpx
from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentdeck.engine.ports import LLMPort
from agentdeck.kit.crypto import Cipher
from agentdeck.kit.db import sync_engine_of
from agentdeck.llm import Gateway
from agentdeck.run.events.bus import Broker, EagerWorker
from agentdeck.run.events.relay import Relay
from agentdeck.run.settings import RunSettings


@dataclass(frozen=True, slots=True)
class LLMContext:
    """Who a run's model calls are for (usage attribution, budgets)."""

    org_id: uuid.UUID
    space_id: uuid.UUID
    run_id: uuid.UUID
    agent_id: uuid.UUID
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None


LLMFactory = Callable[[LLMContext], LLMPort]


class RunExecutor(Protocol):
    """Another engine executing runs instead of the `run.execute` job (Temporal)."""

    def start_after_commit(self, session: AsyncSession, run_id: uuid.UUID) -> None: ...

    def cancel_after_commit(self, session: AsyncSession, run_id: uuid.UUID) -> None: ...


@dataclass
class RunServices:
    broker: Broker = field(default_factory=Broker)
    settings: RunSettings = field(default_factory=RunSettings)
    cipher: Cipher | None = None
    llm_factory: LLMFactory | None = None
    """Overrides how a run's LLMPort is built (tests, the CLI); default: the org's gateway."""
    gateway: Gateway | None = None
    """The process's LLM gateway (usage rows, budgets, cache); attached by the app."""
    executor: RunExecutor | None = None
    """Set when another engine executes runs (`agentdeck.temporal.worker.attach`)."""
    _http: httpx.AsyncClient | None = None

    def http(self) -> httpx.AsyncClient:
        """The shared client of `http` nodes (no redirects; the node sets timeouts)."""
        if self._http is None or self._http.is_closed:
            self._http = httpx.AsyncClient(follow_redirects=False)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


_REGISTRY: weakref.WeakKeyDictionary[Engine, RunServices] = weakref.WeakKeyDictionary()


def services_for(
    source: async_sessionmaker[AsyncSession] | AsyncSession | AsyncEngine | Engine,
) -> RunServices:
    """The run services of the database behind ``source`` (created on first use)."""
    engine = sync_engine_of(source)
    services = _REGISTRY.get(engine)
    if services is None:
        services = _REGISTRY[engine] = RunServices()
    return services


def attach(
    engine: AsyncEngine,
    *,
    cipher: Cipher | None = None,
    wake: Callable[[], None] | None = None,
    eager: EagerWorker | None = None,
    settings: RunSettings | None = None,
    llm_factory: LLMFactory | None = None,
    gateway: Gateway | None = None,
    relay: Relay | None = None,
) -> RunServices:
    """Wire a process's runtime into the run services of its database.

    A ``relay`` replaces the broker's previous one; the caller runs it (`Relay.run`).
    """
    services = services_for(engine)
    if cipher is not None:
        services.cipher = cipher
    if wake is not None:
        services.broker.add_waker(wake)
    if eager is not None:
        services.broker.add_eager_worker(eager)
    if settings is not None:
        services.settings = settings
        services.broker.watch_s = settings.watch_s
    if llm_factory is not None:
        services.llm_factory = llm_factory
    if gateway is not None:
        services.gateway = gateway
    if relay is not None:
        services.broker.use_relay(relay)
    return services
