"""Resolution of a model name to a fallback chain, and cost-aware ordering of that chain."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from agentdeck.llm.catalog import Catalog
from agentdeck.llm.errors import UnknownModelError
from agentdeck.llm.types import AliasConfig, ChatRequest, ModelInfo, ProviderConfig

DEFAULT_ALIAS = "default"
DEFAULT_MAX_TOKENS_ESTIMATE = 1024
BUILTIN_LOCAL = ProviderConfig(id="builtin-local", name="local", kind="local")


@dataclass(frozen=True, slots=True)
class Candidate:
    """One `provider/model` of a chain with its catalog entry."""

    provider: ProviderConfig
    model: str
    info: ModelInfo

    @property
    def label(self) -> str:
        """`provider_name/model`."""
        return self.provider.name + "/" + self.model


@dataclass(frozen=True, slots=True)
class Needs:
    """What a call requires from a model."""

    tools: bool = False
    json_schema: bool = False
    input_tokens: int = 0
    max_tokens: int = DEFAULT_MAX_TOKENS_ESTIMATE

    @classmethod
    def of(cls, request: ChatRequest) -> Needs:
        """The needs of `request`, with a rough (4 chars per token) input size estimate."""
        return cls(
            tools=bool(request.tools),
            json_schema=request.response_format is not None,
            input_tokens=estimate_tokens(request),
            max_tokens=request.max_tokens or DEFAULT_MAX_TOKENS_ESTIMATE,
        )


def estimate_tokens(request: ChatRequest) -> int:
    """A cheap upper-leaning estimate of the prompt size in tokens."""
    size = sum(len(m.content or "") + 16 for m in request.messages)
    size += sum(
        len(json.dumps(t.parameters_json_schema)) + len(t.description) for t in request.tools
    )
    if request.response_format is not None:
        size += len(json.dumps(request.response_format))
    return size // 4 + 4 * len(request.messages)


def estimated_cost(info: ModelInfo, needs: Needs) -> float | None:
    """Worst-case USD cost of a call (full `max_tokens` output), None when prices are unknown."""
    if info.input_price is None or info.output_price is None:
        return None
    return (needs.input_tokens * info.input_price + needs.max_tokens * info.output_price) / 1e6


def _provider_named(name: str, providers: Sequence[ProviderConfig]) -> ProviderConfig:
    for provider in providers:
        if provider.name == name:
            return provider
    if name == BUILTIN_LOCAL.name:
        return BUILTIN_LOCAL
    raise UnknownModelError("No provider named " + name + " is configured", model=name)


def _candidate(ref: str, providers: Sequence[ProviderConfig], catalog: Catalog) -> Candidate:
    provider_name, sep, model = ref.partition("/")
    if not sep or not model:
        raise UnknownModelError(
            "Model " + ref + " is neither an alias nor provider_name/model", model=ref
        )
    provider = _provider_named(provider_name, providers)
    if provider.kind == "local" and not model:
        model = _local_model_name()
    if provider.models and model not in provider.models:
        raise UnknownModelError(
            "Provider " + provider.name + " does not offer model " + model, model=ref
        )
    return Candidate(provider=provider, model=model, info=catalog.info(provider, model))


def _local_model_name() -> str:
    from agentdeck.llm.local import LOCAL_MODEL_NAME

    return LOCAL_MODEL_NAME


def _default_chain(providers: Sequence[ProviderConfig]) -> list[str]:
    for provider in providers:
        if provider.kind == "local":
            model = provider.models[0] if provider.models else _local_model_name()
            return [provider.name + "/" + model]
    if providers:
        raise UnknownModelError(
            "No 'default' alias is configured; name a model or define the alias",
            model=DEFAULT_ALIAS,
        )
    return [BUILTIN_LOCAL.name + "/" + _local_model_name()]


def resolve(
    name: str,
    providers: Sequence[ProviderConfig],
    aliases: Sequence[AliasConfig],
    catalog: Catalog,
    needs: Needs,
) -> list[Candidate]:
    """The ordered fallback chain for `name` (alias or `provider/model`).

    Raises `UnknownModelError` when nothing matches, or when `cheapest` finds no model with the
    capabilities the call needs.
    """
    alias = next((a for a in aliases if a.name == name), None)
    if alias is not None:
        chain = [_candidate(ref, providers, catalog) for ref in alias.models]
        if not chain:
            raise UnknownModelError("Alias " + name + " lists no models", model=name)
        return cheapest_first(chain, needs, name) if alias.strategy == "cheapest" else chain
    if name == DEFAULT_ALIAS:
        return [_candidate(ref, providers, catalog) for ref in _default_chain(providers)]
    return [_candidate(name, providers, catalog)]


def _fits(candidate: Candidate, needs: Needs) -> bool:
    caps = candidate.info.capabilities
    window = candidate.info.context_window
    return (
        (caps.tools or not needs.tools)
        and (caps.json_schema or not needs.json_schema)
        and (window is None or window >= needs.input_tokens + needs.max_tokens)
    )


def cheapest_first(chain: list[Candidate], needs: Needs, alias: str) -> list[Candidate]:
    """Capable candidates ordered by estimated cost (unknown prices last, ties keep order)."""
    capable = [c for c in chain if _fits(c, needs)]
    if not capable:
        raise UnknownModelError(
            "No model of alias " + alias + " has the capabilities this call needs", model=alias
        )

    def sort_key(item: tuple[int, Candidate]) -> tuple[bool, float, int]:
        cost = estimated_cost(item[1].info, needs)
        return (cost is None, cost or 0.0, item[0])

    return [c for _, c in sorted(enumerate(capable), key=sort_key)]
