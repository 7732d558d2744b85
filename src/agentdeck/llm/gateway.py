"""The LLM gateway: resolution, budgets, cache, retries, fallback, structured output, usage.

Calls go through pydantic-ai's direct model API (`model_request` / `model_request_stream`), so
every provider, the local model and test doubles look the same here. Nothing in this package
shields a request from cancellation: cancelling the awaiting task cancels the HTTP request.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2
from pydantic_ai.models import Model

from agentdeck.kit import netguard
from agentdeck.llm._calls import Caller
from agentdeck.llm._socket_wire import SocketWire
from agentdeck.llm._streaming import stream_chat
from agentdeck.llm._wire import HttpxWire, Wire
from agentdeck.llm.cache import TieredCache
from agentdeck.llm.catalog import Catalog
from agentdeck.llm.errors import LLMError, ProviderUnavailableError, UnknownModelError
from agentdeck.llm.passthrough import PassThrough, needs_of, speaks_openai
from agentdeck.llm.ports import BudgetGuard, ResponseCache, UsageSink
from agentdeck.llm.providers import ModelFactory, build_model, list_models, openai_embeddings
from agentdeck.llm.routing import Candidate, Needs, estimated_cost, resolve
from agentdeck.llm.types import (
    AliasConfig,
    Attempt,
    CallContext,
    ChatRequest,
    ChatResult,
    ModelOverride,
    ProviderConfig,
    StreamEvent,
    Usage,
)
from agentdeck.llm.usage import UsageRecorder

_EMBED_KINDS = ("openai", "openai_compatible", "ollama")
_CHAINS_MAX = 1024


class ChainCache:
    """Resolved chains of the pass-through, kept while the org's configuration objects are
    the same ones (the platform's per-org cache hands out the same lists until something
    changes; each entry holds them, so an identity is never reused for others). Chains
    that depend on the call (``cheapest`` aliases) are resolved every time."""

    def __init__(self) -> None:
        self._chains: dict[tuple[int, int, int, str], _Chain] = {}

    def resolve(
        self,
        name: str,
        providers: Sequence[ProviderConfig],
        aliases: Sequence[AliasConfig],
        overrides: Mapping[str, ModelOverride] | None,
        needs: Needs,
    ) -> list[Candidate]:
        """As :func:`agentdeck.llm.routing.resolve`; raises as it does."""
        key = (id(providers), id(aliases), id(overrides), name)
        hit = self._chains.get(key)
        if hit is not None and hit.of(providers, aliases, overrides):
            return list(hit.candidates)
        candidates = resolve(name, providers, aliases, Catalog(overrides), needs)
        if any(a.name == name and a.strategy == "cheapest" for a in aliases):
            return candidates
        if len(self._chains) >= _CHAINS_MAX:
            self._chains.clear()
        self._chains[key] = _Chain(providers, aliases, overrides, tuple(candidates))
        return candidates


@dataclass(frozen=True, slots=True)
class _Chain:
    providers: Sequence[ProviderConfig]
    aliases: Sequence[AliasConfig]
    overrides: Mapping[str, ModelOverride] | None
    candidates: tuple[Candidate, ...]

    def of(
        self,
        providers: Sequence[ProviderConfig],
        aliases: Sequence[AliasConfig],
        overrides: Mapping[str, ModelOverride] | None,
    ) -> bool:
        return (
            self.providers is providers and self.aliases is aliases and self.overrides is overrides
        )


class Gateway:
    """Sends chat, stream and embedding calls for the platform. One instance per process.

    `http_client` (an `httpx2.AsyncClient`, the client the OpenAI and Anthropic SDKs use) is
    shared by every provider; pass one with a `MockTransport` in tests. The default one sends
    through `kit.netguard.GuardedTransport`: providers reach only what the network policy
    allows, checked at each connection. With `direct_sockets`, the OpenAI-format
    pass-through sends on its own pooled connections (`llm._socket_wire`: netguard checks
    each one too) instead of `http_client`, which costs it a tenth. `model_factory`
    replaces how models are built (tests inject pydantic-ai `FunctionModel`s). `sleep`, `clock`
    and `rng` make backoff deterministic in tests.
    """

    def __init__(
        self,
        *,
        usage_sink: UsageSink,
        cache: ResponseCache | None = None,
        budget: BudgetGuard | None = None,
        http_client: httpx2.AsyncClient | None = None,
        model_factory: ModelFactory | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.perf_counter,
        rng: random.Random | None = None,
        cache_ttl_s: int = 3600,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 20.0,
        max_retry_after_s: float = 30.0,
        direct_sockets: bool = False,
    ) -> None:
        self._cache = cache
        self._budget = budget
        self._own_client = http_client is None
        self._http = http_client or netguard.guarded_client(
            timeout=httpx2.Timeout(600, connect=5), follow_redirects=False
        )
        self._clock = clock
        self._usage = UsageRecorder(usage_sink, clock)
        self._cache_ttl_s = cache_ttl_s
        self._own_models = model_factory is None
        self._caller = Caller(
            factory=model_factory or self._default_factory,
            sleep=sleep,
            clock=clock,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not cryptography
            backoff_base_s=backoff_base_s,
            backoff_cap_s=backoff_cap_s,
            max_retry_after_s=max_retry_after_s,
        )

        self._chains = ChainCache()
        self._wire: Wire = SocketWire() if direct_sockets else HttpxWire(self._http)
        self._passthrough = PassThrough(
            wire=self._wire,
            caller=self._caller,
            usage=self._usage,
            cache=cache,
            cache_ttl_s=cache_ttl_s,
            clock=clock,
        )

    def _default_factory(self, provider: ProviderConfig, model: str) -> Model:
        return build_model(provider, model, self._http)

    async def flush(self) -> None:
        """Store the usage records a buffering sink still holds (before usage is read)."""
        await self._usage.flush()

    async def aclose(self) -> None:
        """Store what the usage sink and the cache still hold, then close the HTTP client
        if the gateway created it. Called once, at shutdown."""
        await self._usage.aclose()
        if isinstance(self._cache, TieredCache):
            await self._cache.aclose()
        await self._wire.aclose()
        if self._own_client:
            await self._http.aclose()

    async def chat(
        self,
        ctx: CallContext,
        request: ChatRequest,
        providers: Sequence[ProviderConfig],
        aliases: Sequence[AliasConfig] = (),
        *,
        overrides: Mapping[str, ModelOverride] | None = None,
    ) -> ChatResult:
        """Answer `request`, retrying and falling back along the resolved chain.

        Raises `UnknownModelError`, `BudgetExceeded` (nothing was sent), `ProviderRequestError`
        (the request itself was rejected: no fallback), `ProviderUnavailableError` (every
        candidate failed) or `StructuredOutputError` (no schema-valid answer after the re-asks).
        Every outcome but a budget refusal writes exactly one usage record.
        """
        started = self._clock()
        candidates = await self._prepare(ctx, request, providers, aliases, overrides)
        key = (
            self._cache_key(ctx, candidates, request) if self._cache and request.use_cache else None
        )
        if key is not None and (cached := await self._cached(ctx, key, started)) is not None:
            return cached
        attempts: list[Attempt] = []
        try:
            result = await self._caller.run_chain(candidates, request, attempts)
        except LLMError as exc:
            await self._usage.failure(ctx, "chat", candidates, attempts, exc, started)
            raise
        await self._usage.success(ctx, "chat", result, started)
        if key is not None and self._cache is not None:
            await self._cache.set(key, result.model_dump_json(), self._cache_ttl_s)
        return result

    async def stream(
        self,
        ctx: CallContext,
        request: ChatRequest,
        providers: Sequence[ProviderConfig],
        aliases: Sequence[AliasConfig] = (),
        *,
        overrides: Mapping[str, ModelOverride] | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Stream `request`: text deltas, complete tool calls, then one `FinalEvent`.

        Falls back only before the first event; a failure mid-stream raises
        `ProviderUnavailableError`. Structured output is validated at the end, without re-asks
        (`StructuredOutputError`). Not cached. Other errors as for `chat`.
        """
        started = self._clock()
        candidates = await self._prepare(ctx, request, providers, aliases, overrides)
        attempts: list[Attempt] = []
        final: ChatResult | None = None
        try:
            async for event in stream_chat(self._caller, candidates, request, attempts):
                if event.type == "final":
                    final = event.result
                yield event
        except LLMError as exc:
            await self._usage.failure(ctx, "stream", candidates, attempts, exc, started)
            raise
        if final is not None:
            await self._usage.success(ctx, "stream", final, started)

    async def pass_through(
        self,
        ctx: CallContext,
        body: dict[str, Any],
        providers: Sequence[ProviderConfig],
        aliases: Sequence[AliasConfig] = (),
        *,
        overrides: Mapping[str, ModelOverride] | None = None,
    ) -> bytes | AsyncIterator[bytes] | None:
        """Answer an OpenAI-format chat completion request (``body``, as the client sent
        it) by passing it through (`agentdeck.llm.passthrough`): the `chat.completion`
        JSON, or with ``stream`` the SSE frames once the upstream's stream began. None
        when the chain has a provider that needs translating (anthropic, google, local)
        or the models are not the gateway's own (a test's model factory): `chat` and
        `stream` answer those.

        Raises `UnknownModelError`, `BudgetExceeded` (nothing was sent),
        `ProviderRequestError` or `ProviderUnavailableError` before the answer begins;
        a stream that breaks off later ends with an error document. One usage record per
        call, as for `chat`.
        """
        if not self._own_models:
            return None
        started = self._clock()
        needs = needs_of(body)
        candidates = self._chains.resolve(str(body["model"]), providers, aliases, overrides, needs)
        if not speaks_openai(candidates):
            return None
        if self._budget is not None:
            await self._budget.check(ctx, estimated_cost(candidates[0].info, needs) or 0.0)
        if not body.get("stream"):
            return await self._passthrough.chat(ctx, body, candidates, started)
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        opened, attempts = await self._passthrough.open_stream(ctx, body, candidates, started)
        return self._passthrough.stream(
            ctx, body, candidates, opened, attempts, started, include_usage=include_usage
        )

    async def embed(
        self,
        ctx: CallContext,
        model: str,
        texts: list[str],
        providers: Sequence[ProviderConfig],
        aliases: Sequence[AliasConfig] = (),
        *,
        timeout_s: float = 60.0,
    ) -> list[list[float]]:
        """Embed `texts` through an OpenAI-format `/embeddings` endpoint (openai, compatible,
        ollama), falling back along an alias on outages.

        Raises `UnknownModelError` (also for local and non-OpenAI-format providers, for now),
        `ProviderRequestError` or `ProviderUnavailableError`.
        """
        started = self._clock()
        candidates = resolve(model, providers, aliases, Catalog(), Needs())
        attempts: list[Attempt] = []
        error: LLMError | None = None
        for cand in candidates:
            if cand.provider.kind not in _EMBED_KINDS:
                error = UnknownModelError(
                    "Embeddings are not supported for " + cand.provider.kind + " providers yet",
                    model=cand.label,
                )
                break
            t0 = self._clock()
            try:
                vectors, tokens = await openai_embeddings(
                    cand.provider, cand.model, texts, self._http, timeout_s
                )
            except LLMError as exc:
                retryable = isinstance(exc, ProviderUnavailableError)
                kind = "unavailable" if retryable else "bad_request"
                attempts.append(self._caller.attempt(cand, t0, kind, exc.extra.get("http_status")))
                error = exc
                if retryable:
                    continue
                break
            attempts.append(self._caller.attempt(cand, t0))
            result = ChatResult(
                model=cand.model,
                provider=cand.provider.name,
                usage=Usage(input_tokens=tokens),
                cost_usd=Catalog.cost(cand.info, tokens, 0),
                attempts=attempts,
            )
            await self._usage.success(ctx, "embed", result, started)
            return vectors
        assert error is not None
        await self._usage.failure(ctx, "embed", candidates, attempts, error, started)
        raise error

    async def list_models(self, provider: ProviderConfig) -> list[str]:
        """The provider's model ids: the connectivity test for a configured provider.

        Raises `ProviderRequestError` (bad credentials) or `ProviderUnavailableError`.
        """
        return await list_models(provider, self._http)

    async def _prepare(
        self,
        ctx: CallContext,
        request: ChatRequest,
        providers: Sequence[ProviderConfig],
        aliases: Sequence[AliasConfig],
        overrides: Mapping[str, ModelOverride] | None,
    ) -> list[Candidate]:
        needs = Needs.of(request)
        candidates = resolve(request.model, providers, aliases, Catalog(overrides), needs)
        if self._budget is not None:
            await self._budget.check(ctx, estimated_cost(candidates[0].info, needs) or 0.0)
        return candidates

    @staticmethod
    def _cache_key(ctx: CallContext, candidates: list[Candidate], request: ChatRequest) -> str:
        """``<org>:<sha256>``: entries never cross organisations."""
        payload = {
            "models": [c.label for c in candidates],
            "messages": [m.model_dump(mode="json") for m in request.messages],
            "tools": [t.model_dump(mode="json") for t in request.tools],
            "params": {"temperature": request.temperature, "max_tokens": request.max_tokens},
            "response_format": request.response_format,
        }
        if request.tool_choice is not None:  # only when set: other keys stay as they were
            payload["tool_choice"] = request.tool_choice
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return f"{ctx.org_id or '-'}:{hashlib.sha256(canonical.encode()).hexdigest()}"

    async def _cached(self, ctx: CallContext, key: str, started: float) -> ChatResult | None:
        assert self._cache is not None
        raw = await self._cache.get(key)
        if raw is None:
            return None
        result = ChatResult.model_validate_json(raw).model_copy(
            update={"cache_hit": True, "cost_usd": 0.0, "attempts": []}
        )
        await self._usage.cache_hit(ctx, result, started)
        return result
