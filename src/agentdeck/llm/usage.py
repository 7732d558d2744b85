"""Writing one usage record per gateway call, successful, failed or served from cache."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Literal, Protocol, runtime_checkable

import structlog

from agentdeck.llm.errors import LLMError
from agentdeck.llm.ports import UsageRecord, UsageSink
from agentdeck.llm.routing import Candidate
from agentdeck.llm.types import Attempt, CallContext, ChatResult

log = structlog.get_logger("agentdeck.llm")
_STDLIB_LOG = logging.getLogger("agentdeck.llm")


def _logs_info() -> bool:
    """Whether an ``llm.call`` line would be written. Configured (`agentdeck.logging`),
    structlog runs its processors before stdlib logging's level check: a line below the
    level costs as much as a written one, so it is not made at all."""
    return not structlog.is_configured() or _STDLIB_LOG.isEnabledFor(logging.INFO)


CallKind = Literal["chat", "stream", "embed"]


@runtime_checkable
class BufferedUsageSink(Protocol):
    """A sink that writes after the call (e.g. in batches): it can be flushed and closed."""

    async def record(self, record: UsageRecord) -> None: ...

    async def flush(self) -> None:
        """Store every record received so far."""
        ...

    async def aclose(self) -> None:
        """Store what is left and stop."""
        ...


class UsageRecorder:
    """Turns call outcomes into `UsageRecord`s for the sink and one `llm.call` log line."""

    def __init__(self, sink: UsageSink, clock: Callable[[], float]) -> None:
        self._sink = sink
        self._clock = clock

    async def flush(self) -> None:
        """Store what a buffering sink still holds (nothing to do for other sinks)."""
        if isinstance(self._sink, BufferedUsageSink):
            await self._sink.flush()

    async def aclose(self) -> None:
        """Flush and stop a buffering sink."""
        if isinstance(self._sink, BufferedUsageSink):
            await self._sink.aclose()

    async def success(
        self, ctx: CallContext, kind: CallKind, result: ChatResult, started: float
    ) -> None:
        """Record a call that produced `result`."""
        latency_ms = (self._clock() - started) * 1000
        ttft = next((a.ttft_ms for a in reversed(result.attempts) if a.ttft_ms is not None), None)
        await self._sink.record(
            UsageRecord.for_context(
                ctx,
                kind=kind,
                provider=result.provider,
                model=result.model,
                input_tokens=result.usage.input_tokens,
                output_tokens=result.usage.output_tokens,
                cached_tokens=result.usage.cached_tokens,
                cost_usd=result.cost_usd,
                latency_ms=latency_ms,
                ttft_ms=ttft,
                attempts=result.attempts,
            )
        )
        if not _logs_info():
            return
        log.info(
            "llm.call",
            kind=kind,
            provider=result.provider,
            model=result.model,
            status="ok",
            latency_ms=round(latency_ms, 2),
            attempts=len(result.attempts),
            cost_usd=result.cost_usd,
        )

    async def cache_hit(self, ctx: CallContext, result: ChatResult, started: float) -> None:
        """Record a call answered from the cache: no tokens spent, cost zero."""
        latency_ms = (self._clock() - started) * 1000
        await self._sink.record(
            UsageRecord.for_context(
                ctx,
                provider=result.provider,
                model=result.model,
                latency_ms=latency_ms,
                cache_hit=True,
            )
        )
        if _logs_info():
            log.info("llm.call", kind="chat", provider=result.provider, model=result.model,
                     status="ok", cache_hit=True, latency_ms=round(latency_ms, 2))  # fmt: skip

    async def failure(
        self,
        ctx: CallContext,
        kind: CallKind,
        candidates: list[Candidate],
        attempts: list[Attempt],
        exc: LLMError,
        started: float,
    ) -> None:
        """Record a call that ended in `exc` (its detail is already free of credentials)."""
        last = attempts[-1] if attempts else None
        provider = last.provider if last else candidates[0].provider.name
        model = last.model if last else candidates[0].model
        latency_ms = (self._clock() - started) * 1000
        await self._sink.record(
            UsageRecord.for_context(
                ctx,
                kind=kind,
                provider=provider,
                model=model,
                latency_ms=latency_ms,
                status="error",
                error=exc.type + ": " + exc.detail,
                attempts=list(attempts),
            )
        )
        log.info(
            "llm.call",
            kind=kind,
            provider=provider,
            model=model,
            status="error",
            error_type=exc.type,
            latency_ms=round(latency_ms, 2),
            attempts=len(attempts),
        )
