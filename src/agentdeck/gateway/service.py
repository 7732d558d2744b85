"""The org-aware LLM gateway: the platform's one way to call a model.

It joins the gateway core (`agentdeck.llm`) with the org's providers, aliases and catalog
overrides, and with the platform's ports: usage rows, budgets and the response cache.

A call through it does no database work in the steady state: the org's models come from
the catalog's per-process cache, budgets are checked against the usage ledger's counters,
usage rows are written in batches after the call, and the response cache answers from
memory first and is written behind.
"""

from __future__ import annotations

import datetime as dt
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.budget.service import DbBudgetGuard
from agentdeck.catalog.service import OrgModels, org_models
from agentdeck.gateway import repository
from agentdeck.kit import netguard
from agentdeck.kit.db import transaction, utcnow
from agentdeck.kit.tenancy import TenantScope
from agentdeck.llm import (
    CallContext,
    ChatRequest,
    ChatResult,
    Gateway,
    RedisResponseCache,
    ResponseCache,
)
from agentdeck.llm.cache import TieredCache
from agentdeck.llm.types import StreamEvent
from agentdeck.runtime import Runtime
from agentdeck.usage.service import UsageLedger

log = structlog.get_logger(__name__)
# Index reads overlap by this much: for writes committed a while after their id was made,
# and for clocks of other processes a little behind.
_INDEX_OVERLAP = dt.timedelta(seconds=10)
# Other processes find a new entry only at their next index refresh (2 s): writing it
# within half a second changes nothing they see, and batches ten times more rows per
# transaction (about 0.8 ms each on SQLite) than the 50 ms default.
_CACHE_WRITE_AFTER_S = 0.5


class DbResponseCache:
    """A :class:`~agentdeck.llm.ResponseCache` in the database; keys are ``<org>:<sha256>``.

    A miss costs no query: the cache keeps the keys of the table's live entries in memory
    and reads a value only for a key it knows. Every ``index_refresh_s`` it adds the keys
    written since, by any process (a range of the entries' time-ordered ids), and every
    ``index_reload_s`` it reads the whole index again (dropping what expired), so an entry
    another process wrote is found within ``index_refresh_s``. Beyond ``max_keys`` live
    keys the index is given up and every lookup reads the table.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        index_refresh_s: float = 2.0,
        index_reload_s: float = 60.0,
        max_keys: int = 50_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._refresh_s = index_refresh_s
        self._reload_s = index_reload_s
        self._max_keys = max_keys
        self._monotonic = monotonic
        self._keys: dict[str, dt.datetime] | None = {}  # None: given up
        self._read_at: dt.datetime | None = None  # when the index was last read
        self._refreshed = self._reloaded = -math.inf

    @staticmethod
    def _split(key: str) -> tuple[uuid.UUID, str] | None:
        org, _, digest = key.partition(":")
        try:
            return uuid.UUID(org), digest
        except ValueError:
            return None  # no org: never cached

    async def get(self, key: str) -> str | None:
        parts = self._split(key)
        if parts is None:
            return None
        now = utcnow()
        if not await self._may_hold(key, now):
            return None
        async with self._sessionmaker() as session:
            return await repository.get_value(session, parts[0], parts[1], now)

    async def _may_hold(self, key: str, now: dt.datetime) -> bool:
        tick = self._monotonic()
        if self._keys is not None and tick - self._refreshed >= self._refresh_s:
            self._refreshed = tick  # before the query: concurrent lookups use the old index
            whole = tick - self._reloaded >= self._reload_s
            if whole:
                self._reloaded = tick
            await self._read_index(now, whole=whole)
        if self._keys is None:
            return True
        expires = self._keys.get(key)
        return expires is not None and expires > now

    async def _read_index(self, now: dt.datetime, *, whole: bool) -> None:
        since = None
        if not whole and self._read_at is not None:
            since = repository.written_since(self._read_at - _INDEX_OVERLAP)
        try:
            async with self._sessionmaker() as session:
                rows = await repository.live_keys(
                    session, now, since=since, limit=self._max_keys + 1
                )
        except Exception:
            log.exception("llm.cache_index_failed")  # the old index stays; retried later
            return
        keys = {} if since is None or self._keys is None else self._keys
        keys.update({f"{org_id}:{digest}": expires for org_id, digest, expires in rows})
        if len(keys) > self._max_keys:
            log.warning("llm.cache_index_given_up", max_keys=self._max_keys)
            self._keys = None
            return
        self._keys, self._read_at = keys, now

    async def set(self, key: str, value: str, ttl: int) -> None:
        await self.set_many([(key, value, ttl)])

    async def set_many(self, entries: list[tuple[str, str, int]]) -> None:
        """Store each ``(key, value, ttl)`` in one transaction; never raises (a failed
        write is logged as ``llm.cache_write_failed``)."""
        now = utcnow()
        rows = []
        for key, value, ttl in entries:
            parts = self._split(key)
            if parts is not None:
                rows.append((parts[0], parts[1], value, now + dt.timedelta(seconds=ttl)))
        if not rows:
            return
        try:
            async with transaction(self._sessionmaker) as session:
                await repository.put_values(session, rows)
        except Exception:
            log.exception("llm.cache_write_failed", entries=len(rows))
            return
        if self._keys is not None:
            self._keys.update({f"{org}:{digest}": expires for org, digest, _, expires in rows})


def _is_guarded_default(http: httpx2.AsyncClient) -> bool:
    """Whether ``http`` is the runtime's own guarded client (not a test's MockTransport
    client, which the pass-through must then use as its upstream). Read from the client's
    transport; if httpx2 ever hides it, the pass-through keeps using the client."""
    return isinstance(getattr(http, "_transport", None), netguard.GuardedTransport)


def get_gateway(runtime: Runtime) -> Gateway:
    """The process's gateway (one HTTP pool), writing usage rows and checking budgets."""
    if runtime.gateway is None:
        settings = runtime.settings.llm
        shared: ResponseCache = (
            RedisResponseCache.from_url(settings.redis_url)
            if settings.redis_url
            else DbResponseCache(runtime.sessionmaker)
        )
        ledger = UsageLedger(runtime.sessionmaker)
        http = runtime.http()
        runtime.gateway = Gateway(
            usage_sink=ledger,
            budget=DbBudgetGuard(runtime.sessionmaker, spend=ledger),
            cache=TieredCache(shared, write_after_s=_CACHE_WRITE_AFTER_S),
            model_factory=runtime.llm_model_factory,
            http_client=http,
            cache_ttl_s=settings.cache_ttl_s,
            direct_sockets=_is_guarded_default(http),
        )
    return runtime.gateway


async def flush_usage(runtime: Runtime) -> None:
    """Write the usage rows this process's gateway still holds, so a read sees them."""
    if runtime.gateway is not None:
        await runtime.gateway.flush()


async def close_gateway(runtime: Runtime) -> None:
    """At shutdown: write what the gateway still holds (usage rows, cache entries)."""
    if runtime.gateway is not None:
        await runtime.gateway.aclose()


def call_context(
    scope: TenantScope,
    *,
    space_id: uuid.UUID | None = None,
    run_id: str | None = None,
    step_id: str | None = None,
    agent_id: str | None = None,
) -> CallContext:
    """Who a call is for, as the usage record and the budget see it."""
    return CallContext(
        org_id=str(scope.org_id),
        space_id=str(space_id) if space_id else None,
        user_id=str(scope.user_id) if scope.user_id else None,
        api_key_id=str(scope.api_key_id) if scope.api_key_id else None,
        run_id=run_id,
        step_id=step_id,
        agent_id=agent_id,
    )


class OrgLLM:
    """The gateway bound to one organisation's models."""

    def __init__(self, gateway: Gateway, models: OrgModels, ctx: CallContext) -> None:
        self.gateway = gateway
        self.models = models
        self.ctx = ctx

    async def chat(self, request: ChatRequest) -> ChatResult:
        return await self.gateway.chat(
            self.ctx,
            request,
            self.models.providers,
            self.models.aliases,
            overrides=self.models.overrides,
        )

    async def pass_through(self, body: dict[str, Any]) -> bytes | AsyncIterator[bytes] | None:
        """An OpenAI-format request passed through (see :meth:`Gateway.pass_through`);
        None when the model's chain needs the translated path (`chat`, `stream`)."""
        return await self.gateway.pass_through(
            self.ctx,
            body,
            self.models.providers,
            self.models.aliases,
            overrides=self.models.overrides,
        )

    def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        return self.gateway.stream(
            self.ctx,
            request,
            self.models.providers,
            self.models.aliases,
            overrides=self.models.overrides,
        )

    async def embed(self, model: str, texts: list[str]) -> list[list[float]]:
        return await self.gateway.embed(
            self.ctx, model, texts, self.models.providers, self.models.aliases
        )


async def org_llm(
    runtime: Runtime, session: AsyncSession, ctx: CallContext, scope: TenantScope
) -> OrgLLM:
    """The gateway for the scope's org: its providers (keys decrypted), aliases and
    overrides, from the catalog's per-process cache."""
    models = await org_models(session, scope, runtime.cipher)
    return OrgLLM(get_gateway(runtime), models, ctx)
