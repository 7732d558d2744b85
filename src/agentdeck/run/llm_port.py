"""The engine's `LLMPort` on the LLM gateway, for one run of one organisation.

Swap point: `load_llm_port` builds the port from the org's providers and aliases read from
the database and calls `agentdeck.llm.Gateway` directly. When the org-aware gateway service
lands, only this function changes. Tests inject a port through `RunServices.llm_factory`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.auth.principal import scope_for_background_work
from agentdeck.catalog.service import org_models
from agentdeck.engine.errors import NodeError
from agentdeck.engine.ports import ChatRequest, ChatResult, DeltaCallback, ToolCall, Usage
from agentdeck.llm import (
    AliasConfig,
    BudgetExceeded,
    CallContext,
    Gateway,
    LLMError,
    NullUsageSink,
    ProviderConfig,
    ProviderUnavailableError,
    UnknownModelError,
)
from agentdeck.llm import ChatMessage as GwMessage
from agentdeck.llm import ChatRequest as GwRequest
from agentdeck.llm import ChatResult as GwResult
from agentdeck.llm import ToolCall as GwToolCall
from agentdeck.llm import ToolSpec as GwToolSpec
from agentdeck.llm.types import ModelOverride
from agentdeck.run.services import LLMContext, RunServices

_GATEWAY: Gateway | None = None


def _gateway() -> Gateway:
    global _GATEWAY  # noqa: PLW0603 - one gateway (and HTTP pool) per process
    if _GATEWAY is None:
        _GATEWAY = Gateway(usage_sink=NullUsageSink())
    return _GATEWAY


def to_gateway(request: ChatRequest) -> GwRequest:
    """The engine's request in the gateway's shape."""
    messages = [
        GwMessage(
            role=m.role,
            content=m.content,
            tool_calls=[
                GwToolCall(id=c.id, name=c.name, arguments=c.arguments) for c in m.tool_calls
            ],
            tool_call_id=m.tool_call_id,
        )
        for m in request.messages
    ]
    tools = [
        GwToolSpec(name=t.name, description=t.description, parameters_json_schema=t.parameters)
        for t in request.tools
    ]
    return GwRequest(
        model=request.model,
        messages=messages,
        tools=tools,
        response_format=request.output_schema,
        temperature=request.temperature,
        max_tokens=request.max_tokens,
    )


def from_gateway(result: GwResult) -> ChatResult:
    return ChatResult(
        text=result.message,
        parsed=result.parsed,
        tool_calls=tuple(ToolCall(c.id, c.name, dict(c.arguments)) for c in result.tool_calls),
        usage=Usage(result.usage.input_tokens, result.usage.output_tokens, result.cost_usd),
    )


def _node_error(exc: LLMError) -> NodeError:
    if isinstance(exc, ProviderUnavailableError):
        return NodeError("llm", str(exc))
    if isinstance(exc, UnknownModelError | BudgetExceeded):
        return NodeError("invalid_input", str(exc), detail={"type": exc.type})
    return NodeError("llm", str(exc), detail={"type": exc.type})


class GatewayLLM:
    """An LLMPort bound to one org's providers and aliases and one call context."""

    def __init__(
        self,
        gateway: Gateway,
        ctx: CallContext,
        providers: Sequence[ProviderConfig],
        aliases: Sequence[AliasConfig],
        overrides: Mapping[str, ModelOverride] | None = None,
    ) -> None:
        self.gateway, self.ctx, self.providers, self.aliases = gateway, ctx, providers, aliases
        self.overrides = dict(overrides or {})

    async def chat(self, request: ChatRequest) -> ChatResult:
        ctx = self.ctx.model_copy(update={"step_id": request.idempotency_key})
        try:
            result = await self.gateway.chat(
                ctx, to_gateway(request), self.providers, self.aliases, overrides=self.overrides
            )
        except LLMError as exc:
            raise _node_error(exc) from exc
        return from_gateway(result)

    async def stream(self, request: ChatRequest, on_delta: DeltaCallback) -> ChatResult:
        ctx = self.ctx.model_copy(update={"step_id": request.idempotency_key})
        final: GwResult | None = None
        try:
            events = self.gateway.stream(
                ctx, to_gateway(request), self.providers, self.aliases, overrides=self.overrides
            )
            async for event in events:
                if event.type == "delta":
                    await on_delta(event.text)
                elif event.type == "final":
                    final = event.result
        except LLMError as exc:
            raise _node_error(exc) from exc
        if final is None:
            raise NodeError("llm", "the model stream ended without a result")
        return from_gateway(final)


async def load_llm_port(session: AsyncSession, services: RunServices, ctx: LLMContext) -> object:
    """The run's LLMPort: the injected factory's, else the org's models on the gateway.

    The org's providers, aliases and overrides come from the catalog service (its
    per-process cache, dropped when they change), read with a scope auth makes for this
    run's space; calls write usage rows and check budgets when the app attached its
    gateway (``app.build_worker``).
    """
    if services.llm_factory is not None:
        return services.llm_factory(ctx)
    if services.cipher is None or ctx.user_id is None:
        raise NodeError("llm", "this worker has no model configuration attached")
    scope = scope_for_background_work(
        org_id=ctx.org_id, space_id=ctx.space_id, user_id=ctx.user_id, api_key_id=ctx.api_key_id
    )
    models = await org_models(session, scope, services.cipher)
    call = CallContext(
        org_id=str(ctx.org_id), space_id=str(ctx.space_id), run_id=str(ctx.run_id),
        agent_id=str(ctx.agent_id), user_id=str(ctx.user_id),
        api_key_id=str(ctx.api_key_id) if ctx.api_key_id else None,
    )  # fmt: skip
    gateway = services.gateway or _gateway()
    return GatewayLLM(gateway, call, models.providers, models.aliases, models.overrides)
