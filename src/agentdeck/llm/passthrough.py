"""OpenAI-format chat completions passed through to providers that speak that format.

A client that already speaks OpenAI's chat completions (the /v1 surface) needs no
translation when the chain's providers speak it too (openai, openai_compatible, ollama's
/v1): the request JSON goes upstream with only the provider's model put in (and, when
streaming, ``stream_options.include_usage`` forced on, so the tokens are known) on pooled
connections (`llm._wire`: the gateway's own sockets, or its httpx2 client when that is a
test's); the answer comes back as it was sent, with the alias the client asked for as its
``model``. What the gateway promises stays: fallback along the
chain (before the first byte of an answer), retries with backoff, the budget check before
anything is sent, the response cache (not streamed answers), one usage row per call with
the upstream's token counts, and the gateway's errors.

Nothing is validated here beyond what routing, budgets and usage need: the upstream judges
the rest (``tools``, ``tool_choice``, ``response_format``, ``max_tokens``...), as it would
for the client itself. Structured output is not re-asked.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic_ai.models import check_allow_model_requests

from agentdeck.kit import netguard
from agentdeck.llm._calls import Caller, RetriesExhausted, unavailable
from agentdeck.llm._retry import Failure, parse_retry_after
from agentdeck.llm._wire import Wire, WireError, WireResponse
from agentdeck.llm.catalog import Catalog
from agentdeck.llm.errors import (
    LLMError,
    ProviderUnavailableError,
    StreamCancelled,
    redact,
)
from agentdeck.llm.openai_stream import DONE, ChunkRewriter, error_frame, usage_of
from agentdeck.llm.ports import ResponseCache
from agentdeck.llm.providers import base_url_of
from agentdeck.llm.routing import DEFAULT_MAX_TOKENS_ESTIMATE, Candidate, Needs
from agentdeck.llm.types import Attempt, CallContext, ChatResult, ProviderKind, Usage
from agentdeck.llm.usage import UsageRecorder

OPENAI_WIRE: frozenset[ProviderKind] = frozenset({"openai", "openai_compatible", "ollama"})
_MAX_RETRIES = 2  # as ChatRequest.max_retries
_ERROR_TEXT = 300
_DRAIN_READS = 4  # reads after [DONE] before the connection is given up
_DRAIN_S = 1.0


def speaks_openai(candidates: Sequence[Candidate]) -> bool:
    """Every provider of the chain takes OpenAI's chat completions as they are."""
    return all(c.provider.kind in OPENAI_WIRE for c in candidates)


def _text_size(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
    return 0


def needs_of(body: dict[str, Any]) -> Needs:
    """What the request needs from a model, with the gateway's rough size estimate (about
    4 characters a token, as :func:`agentdeck.llm.routing.estimate_tokens`)."""
    messages = body.get("messages") or []
    size = sum(_text_size(m.get("content")) + 16 for m in messages if isinstance(m, dict))
    tools = body.get("tools")
    if tools:
        size += len(orjson.dumps(tools))
    response_format = body.get("response_format")
    json_schema = isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    )
    if json_schema:
        size += len(orjson.dumps(response_format))
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    return Needs(
        tools=bool(tools),
        json_schema=json_schema,
        input_tokens=size // 4 + 4 * len(messages),
        max_tokens=max_tokens if isinstance(max_tokens, int) else DEFAULT_MAX_TOKENS_ESTIMATE,
    )


def cache_key(ctx: CallContext, candidates: Sequence[Candidate], body: dict[str, Any]) -> str:
    """``<org>:<sha256>`` of the chain and everything the upstream is asked but the model
    name: entries never cross organisations, nor mix with the translated calls' entries."""
    asked = {k: v for k, v in body.items() if k not in ("model", "stream", "stream_options")}
    payload = {"wire": "openai", "models": [c.label for c in candidates], "body": asked}
    digest = hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return f"{ctx.org_id or '-'}:{digest}"


def upstream_body(body: dict[str, Any], cand: Candidate, *, stream: bool) -> bytes:
    """The request as ``cand``'s provider gets it: its model, usage asked for when
    streaming, and ``developer`` messages as ``system`` for servers other than OpenAI's."""
    out = {**body, "model": cand.model}
    if stream:
        options = body.get("stream_options")
        out["stream_options"] = {
            **(options if isinstance(options, dict) else {}),
            "include_usage": True,
        }
    if cand.provider.kind != "openai":
        messages = body.get("messages")
        if isinstance(messages, list) and any(
            isinstance(m, dict) and m.get("role") == "developer" for m in messages
        ):
            out["messages"] = [
                {**m, "role": "system"} if m.get("role") == "developer" else m for m in messages
            ]
    return orjson.dumps(out)


def _url(cand: Candidate) -> str:
    return base_url_of(cand.provider) + "/chat/completions"


def _headers(cand: Candidate) -> list[tuple[str, str]]:
    headers = [("Content-Type", "application/json"), ("Accept", "application/json")]
    if cand.provider.api_key:
        headers.append(("Authorization", "Bearer " + cand.provider.api_key))
    return headers


def _status_failure(cand: Candidate, response: WireResponse, text: bytes) -> Failure:
    status = response.status
    detail = redact(text[:_ERROR_TEXT].decode("utf-8", "replace"), [cand.provider.api_key])
    kind = "rate_limit" if status == 429 else "timeout" if status in (408, 504) else None
    if kind is None:
        kind = "server" if status >= 500 else "bad_request"
    message = "Provider " + cand.provider.name + " answered " + str(status) + ": " + detail
    return Failure(kind, status, parse_retry_after(response.header("retry-after")), message)


def _wire_failure(cand: Candidate, exc: WireError) -> Failure:
    if exc.kind == "blocked":
        message = (
            "Provider " + cand.provider.name + " is not reachable: its host is not allowed "
            "by the network policy (" + netguard.SETTING + ")"
        )
        return Failure("blocked", None, None, message)
    return Failure(exc.kind, None, None, redact(exc.message, [cand.provider.api_key]))


def _invalid(cand: Candidate) -> Failure:
    message = "Provider " + cand.provider.name + " answered something other than a completion"
    return Failure("server", None, None, message)


@dataclass(frozen=True, slots=True)
class Opened:
    """A stream whose first bytes arrived: where it came from and how to read on."""

    cand: Candidate
    response: WireResponse
    chunks: AsyncIterator[bytes]
    first: bytes
    t0: float
    ttft_ms: float


class PassThrough:
    """Sends OpenAI-format bodies along a chain (see the module); built by the gateway,
    which resolves the chain and checks the budget first."""

    def __init__(
        self,
        *,
        wire: Wire,
        caller: Caller,
        usage: UsageRecorder,
        cache: ResponseCache | None,
        cache_ttl_s: int,
        clock: Callable[[], float],
    ) -> None:
        self._wire = wire
        self._caller = caller
        self._usage = usage
        self._cache = cache
        self._cache_ttl_s = cache_ttl_s
        self._clock = clock

    async def _attempt(self, cand: Candidate, payload: bytes) -> WireResponse | Failure:
        """One request: the upstream's answer (status < 400), or why there is none."""
        try:
            response = await self._wire.post(_url(cand), _headers(cand), payload)
        except WireError as exc:
            return _wire_failure(cand, exc)
        if response.status < 400:
            return response
        try:
            text = await response.read()
        except WireError:
            text = b""
        await response.aclose()
        return _status_failure(cand, response, text)

    async def _complete(
        self, cand: Candidate, payload: bytes, attempts: list[Attempt]
    ) -> tuple[dict[str, Any], float]:
        """``cand``'s answer, retrying transient failures; raises as
        :meth:`Caller.after_failure` does."""
        retry = 0
        while True:
            t0 = self._clock()
            outcome = await self._attempt(cand, payload)
            if not isinstance(outcome, Failure):
                try:
                    content = await outcome.read()
                    answer = orjson.loads(content)
                except WireError as exc:
                    failure = _wire_failure(cand, exc)
                except orjson.JSONDecodeError:
                    failure = _invalid(cand)
                else:
                    if isinstance(answer, dict) and isinstance(answer.get("choices"), list):
                        return answer, t0
                    failure = _invalid(cand)
                finally:
                    await outcome.aclose()
                outcome = failure
            retry = await self._caller.after_failure(
                cand, outcome, t0, retry, _MAX_RETRIES, attempts
            )

    async def _along_chain(
        self, body: dict[str, Any], candidates: list[Candidate], attempts: list[Attempt]
    ) -> tuple[Candidate, dict[str, Any]]:
        last: Failure | None = None
        for cand in candidates:
            try:
                answer, t0 = await self._complete(
                    cand, upstream_body(body, cand, stream=False), attempts
                )
            except RetriesExhausted as exc:
                last = exc.failure
                continue
            attempts.append(self._caller.attempt(cand, t0))
            return cand, answer
        raise unavailable(last, attempts)

    async def chat(
        self,
        ctx: CallContext,
        body: dict[str, Any],
        candidates: list[Candidate],
        started: float,
    ) -> bytes:
        """The upstream's `chat.completion` (JSON bytes) for ``body``, from the cache when
        an identical call was answered before. Raises ``ProviderRequestError`` (rejected,
        no fallback) or ``ProviderUnavailableError`` (every candidate failed); writes one
        usage record either way."""
        check_allow_model_requests()
        key = cache_key(ctx, candidates, body) if self._cache is not None else None
        if key is not None and self._cache is not None:
            cached = await self._cache.get(key)
            if cached is not None:
                await self._cache_hit(ctx, candidates[0], started)
                return cached.encode()
        attempts: list[Attempt] = []
        try:
            cand, answer = await self._along_chain(body, candidates, attempts)
        except LLMError as exc:
            await self._usage.failure(ctx, "chat", candidates, attempts, exc, started)
            raise
        usage = usage_of(answer.get("usage"))
        await self._usage.success(ctx, "chat", self._result(cand, usage, attempts), started)
        answer["model"] = body["model"]
        out = orjson.dumps(answer)
        if key is not None and self._cache is not None:
            await self._cache.set(key, out.decode(), self._cache_ttl_s)
        return out

    def _result(self, cand: Candidate, usage: Usage, attempts: list[Attempt]) -> ChatResult:
        cost = Catalog.cost(cand.info, usage.input_tokens, usage.output_tokens, usage.cached_tokens)
        return ChatResult(
            model=cand.model,
            provider=cand.provider.name,
            usage=usage,
            cost_usd=cost,
            attempts=list(attempts),
        )

    async def _cache_hit(self, ctx: CallContext, first: Candidate, started: float) -> None:
        # The record names the chain's first model, as the translated calls' cache hits
        # name the model that answered first (the answer itself names the alias).
        result = ChatResult(model=first.model, provider=first.provider.name, cache_hit=True)
        await self._usage.cache_hit(ctx, result, started)

    async def open_stream(
        self, ctx: CallContext, body: dict[str, Any], candidates: list[Candidate], started: float
    ) -> tuple[Opened, list[Attempt]]:
        """The first candidate whose stream began (its first bytes read). Raises as
        :meth:`chat` does, writing the failure's usage record."""
        check_allow_model_requests()
        attempts: list[Attempt] = []
        last: Failure | None = None
        try:
            for cand in candidates:
                payload = upstream_body(body, cand, stream=True)
                try:
                    opened = await self._first_bytes(cand, payload, attempts)
                except RetriesExhausted as exc:
                    last = exc.failure
                    continue
                return opened, attempts
            raise unavailable(last, attempts)
        except LLMError as exc:
            await self._usage.failure(ctx, "stream", candidates, attempts, exc, started)
            raise

    async def _first_bytes(
        self, cand: Candidate, payload: bytes, attempts: list[Attempt]
    ) -> Opened:
        retry = 0
        while True:
            t0 = self._clock()
            outcome = await self._attempt(cand, payload)
            if not isinstance(outcome, Failure):
                chunks = aiter(outcome.chunks())
                try:
                    first = await anext(chunks, b"")
                except WireError as exc:
                    await outcome.aclose()
                    outcome = _wire_failure(cand, exc)
                else:
                    ttft_ms = (self._clock() - t0) * 1000
                    return Opened(cand, outcome, chunks, first, t0, ttft_ms)
            retry = await self._caller.after_failure(
                cand, outcome, t0, retry, _MAX_RETRIES, attempts
            )

    async def stream(
        self,
        ctx: CallContext,
        body: dict[str, Any],
        candidates: list[Candidate],
        opened: Opened,
        attempts: list[Attempt],
        started: float,
        *,
        include_usage: bool,
    ) -> AsyncIterator[bytes]:
        """The SSE frames of an opened stream, as the client asked for them (see
        :class:`ChunkRewriter`), ending with ``data: [DONE]``. A failure mid-stream ends it
        with an error document; the usage record is written when the stream ends, however
        it ends (a stream its client left is recorded as ``llm.cancelled``)."""
        cand = opened.cand
        rewriter = ChunkRewriter(body["model"], include_usage=include_usage)
        recorded = False
        out = b""
        try:
            data = opened.first
            while data:
                out = rewriter.feed(data)
                if rewriter.done:  # its frames go with the trailer, in one write
                    break
                if out:
                    yield out
                    out = b""
                data = await anext(opened.chunks, b"")
            attempts.append(self._caller.attempt(cand, opened.t0, ttft_ms=opened.ttft_ms))
            result = self._result(cand, rewriter.usage, attempts)
            recorded = True
            await self._usage.success(ctx, "stream", result, started)
            yield out + rewriter.trailer()
            if rewriter.done:  # the client has it all: now let the connection be pooled
                await _drain(opened.chunks)
        except WireError as exc:
            if recorded:  # only the drain after [DONE] failed
                return
            failure = _wire_failure(cand, exc)
            attempts.append(self._caller.attempt(cand, opened.t0, failure.kind))
            error = ProviderUnavailableError(
                "The stream broke off: " + failure.message, model=cand.label
            )
            recorded = True
            await self._usage.failure(ctx, "stream", candidates, attempts, error, started)
            yield error_frame(error) + DONE
        finally:
            await opened.response.aclose()
            if not recorded:
                gone = StreamCancelled("The stream was left before its end")
                attempts.append(self._caller.attempt(cand, opened.t0, "cancelled"))
                await self._usage.failure(ctx, "stream", candidates, attempts, gone, started)


async def _drain(chunks: AsyncIterator[bytes]) -> None:
    """Read what follows [DONE] (normally nothing but the body's end), so that the
    connection goes back to the pool; an upstream that sends more, or keeps the stream
    open, loses its connection instead (`aclose`)."""
    try:
        async with asyncio.timeout(_DRAIN_S):
            for _ in range(_DRAIN_READS):
                if not await anext(chunks, b""):
                    return
    except TimeoutError:
        return
