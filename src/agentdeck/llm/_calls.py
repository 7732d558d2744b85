"""Sending one call along a fallback chain: retries, backoff, timeouts, structured re-asks."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from pydantic_ai.direct import model_request
from pydantic_ai.messages import ModelMessage, ModelResponse
from pydantic_ai.models import Model, ModelRequestParameters
from pydantic_ai.settings import ModelSettings

from agentdeck.llm import _structured as structured
from agentdeck.llm._messages import add_usage, text_of, to_model_messages, tool_calls_of
from agentdeck.llm._retry import Failure, backoff_delay, classify
from agentdeck.llm.catalog import Catalog
from agentdeck.llm.errors import (
    ProviderRequestError,
    ProviderUnavailableError,
    StructuredOutputError,
)
from agentdeck.llm.providers import ModelFactory, structured_mode
from agentdeck.llm.routing import Candidate
from agentdeck.llm.types import Attempt, ChatRequest, ChatResult, Usage

log = structlog.get_logger("agentdeck.llm")
_MODEL_CACHE_SIZE = 256


class RetriesExhausted(Exception):
    """A candidate failed transiently after all its retries: the chain moves to the next one."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def model_settings(request: ChatRequest) -> ModelSettings:
    """pydantic-ai settings for the request's sampling parameters."""
    settings: ModelSettings = {}
    if request.temperature is not None:
        settings["temperature"] = request.temperature
    if request.max_tokens is not None:
        settings["max_tokens"] = request.max_tokens
    if request.tool_choice is not None and request.tools:
        settings["tool_choice"] = request.tool_choice
    return settings


def unavailable(last: Failure | None, attempts: list[Attempt]) -> ProviderUnavailableError:
    """The error raised when every candidate of a chain failed."""
    return ProviderUnavailableError(
        "All models failed; last error: " + (last.message if last else "none"),
        attempts=[a.model_dump() for a in attempts],
    )


@dataclass
class Caller:
    """Holds the injectable pieces (model factory, sleep, clock, jitter) of the call loop."""

    factory: ModelFactory
    sleep: Callable[[float], Awaitable[None]]
    clock: Callable[[], float]
    rng: random.Random
    backoff_base_s: float = 0.5
    backoff_cap_s: float = 20.0
    max_retry_after_s: float = 30.0
    _models: dict[tuple[str, ...], Model] = field(default_factory=dict)

    def model_for(self, cand: Candidate) -> Model:
        """The pydantic-ai model for `cand`, built once per provider config and model."""
        p = cand.provider
        secret = hashlib.sha256((p.api_key or "").encode()).hexdigest()
        key = (p.id, p.name, p.kind, p.base_url or "", secret, cand.model)
        model = self._models.get(key)
        if model is None:
            if len(self._models) >= _MODEL_CACHE_SIZE:
                self._models.clear()
            model = self._models[key] = self.factory(p, cand.model)
        return model

    def attempt(
        self,
        cand: Candidate,
        t0: float,
        error_kind: str | None = None,
        http_status: int | None = None,
        ttft_ms: float | None = None,
    ) -> Attempt:
        """An `Attempt` of `cand` that started at `t0` and ends now."""
        return Attempt(
            provider=cand.provider.name,
            model=cand.model,
            status="error" if error_kind else "ok",
            error_kind=error_kind,
            http_status=http_status,
            latency_ms=(self.clock() - t0) * 1000,
            ttft_ms=ttft_ms,
        )

    async def run_chain(
        self, candidates: list[Candidate], request: ChatRequest, attempts: list[Attempt]
    ) -> ChatResult:
        """The first answer along the chain; raises `ProviderUnavailableError` if none came."""
        last: Failure | None = None
        for cand in candidates:
            try:
                return await self._complete(cand, request, attempts)
            except RetriesExhausted as exc:
                last = exc.failure
        raise unavailable(last, attempts)

    async def _complete(
        self, cand: Candidate, request: ChatRequest, attempts: list[Attempt]
    ) -> ChatResult:
        mode = structured_mode(cand.provider.kind)
        params = structured.request_parameters(request.tools, request.response_format, mode)
        messages = to_model_messages(request.messages)
        usage = Usage()
        errors: list[str] = []
        for _ in range(request.structured_retries + 1):
            response = await self._send(cand, messages, request, params, attempts)
            usage = add_usage(usage, response)
            parsed: Any = None
            if request.response_format is not None:
                parsed, errors = structured.extract(response, mode)
                if not errors:
                    errors = structured.validate(parsed, request.response_format)
                if errors:
                    log.info("llm.structured_reask", model=cand.label, errors=len(errors))
                    messages = [
                        *messages,
                        structured.answered_response(response),
                        structured.reask(response, mode, errors),
                    ]
                    continue
            return self.result(cand, response, usage, parsed, attempts)
        raise StructuredOutputError(
            "The model's answer did not match the schema after "
            + str(request.structured_retries)
            + " re-asks",
            errors=errors,
            model=cand.label,
        )

    def result(
        self,
        cand: Candidate,
        response: ModelResponse,
        usage: Usage,
        parsed: Any,
        attempts: list[Attempt],
    ) -> ChatResult:
        """The `ChatResult` for the final response of `cand`."""
        return ChatResult(
            message=text_of(response),
            tool_calls=tool_calls_of(response),
            parsed=parsed,
            usage=usage,
            model=cand.model,
            provider=cand.provider.name,
            cost_usd=Catalog.cost(
                cand.info, usage.input_tokens, usage.output_tokens, usage.cached_tokens
            ),
            attempts=list(attempts),
        )

    async def _send(
        self,
        cand: Candidate,
        messages: list[ModelMessage],
        request: ChatRequest,
        params: ModelRequestParameters,
        attempts: list[Attempt],
    ) -> ModelResponse:
        model = self.model_for(cand)
        settings = model_settings(request)
        retry = 0
        while True:
            t0 = self.clock()
            try:
                async with asyncio.timeout(request.timeout_s):
                    response = await model_request(
                        model,
                        messages,
                        model_settings=settings,
                        model_request_parameters=params,
                        instrument=False,
                    )
            except Exception as exc:
                failure = classify(exc, [cand.provider.api_key])
                retry = await self.after_failure(
                    cand, failure, t0, retry, request.max_retries, attempts
                )
                continue
            attempts.append(self.attempt(cand, t0))
            return response

    async def after_failure(
        self,
        cand: Candidate,
        failure: Failure,
        t0: float,
        retry: int,
        max_retries: int,
        attempts: list[Attempt],
    ) -> int:
        """Record a failed attempt, then raise (give up on `cand`) or wait and return retry + 1.

        Raises `ProviderRequestError` for non-transient failures and `RetriesExhausted` when the
        retries are used up or the server asks us to wait longer than `max_retry_after_s`.
        """
        attempts.append(self.attempt(cand, t0, failure.kind, failure.http_status))
        log.warning(
            "llm.attempt_failed",
            provider=cand.provider.name,
            model=cand.model,
            error_kind=failure.kind,
            http_status=failure.http_status,
            retry=retry,
        )
        if not failure.retryable:
            raise ProviderRequestError(
                failure.message, http_status=failure.http_status, model=cand.label
            )
        if retry >= max_retries:
            raise RetriesExhausted(failure)
        delay = failure.retry_after
        if delay is None:
            delay = backoff_delay(retry, self.backoff_base_s, self.backoff_cap_s, self.rng)
        if delay > self.max_retry_after_s:
            raise RetriesExhausted(failure)
        await self.sleep(delay)
        return retry + 1
