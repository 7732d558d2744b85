"""Model catalog: capabilities, context windows and prices per million tokens.

Prices and context windows come from the bundled `genai-prices` snapshot (no network: we never
call its updater). Capabilities are inferred from the provider kind and model name, which is
coarse; an org corrects it with overrides keyed by `provider_name/model`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from agentdeck.llm.types import Capabilities, ModelInfo, ModelOverride, ProviderConfig, ProviderKind

_GENAI_PROVIDER_IDS: dict[ProviderKind, str | None] = {
    "openai": "openai",
    "anthropic": "anthropic",
    "google": "google",
    "openai_compatible": None,
}
LOCAL_CONTEXT_WINDOW = 8192


def _price(value: object) -> float | None:
    if isinstance(value, Decimal | int | float):
        return float(value)
    base = getattr(value, "base", None)  # tiered prices: the first tier is the honest estimate
    return float(base) if isinstance(base, Decimal | int | float) else None


@lru_cache(maxsize=1024)
def _genai_lookup(
    model: str, provider_id: str | None
) -> tuple[int | None, float | None, float | None, float | None]:
    from genai_prices import data_snapshot

    try:
        _, info = data_snapshot.get_snapshot().find_provider_model(model, None, provider_id, None)
    except LookupError:
        return (None, None, None, None)
    prices = info.get_prices(datetime.now(UTC))
    return (
        info.context_window,
        _price(getattr(prices, "input_mtok", None)),
        _price(getattr(prices, "output_mtok", None)),
        _price(getattr(prices, "cache_read_mtok", None)),
    )


def _capabilities(kind: ProviderKind, model: str) -> Capabilities:
    name = model.lower()
    embeddings = "embed" in name
    if kind == "local":
        return Capabilities(tools=False, vision=False, json_schema=False, embeddings=False)
    if embeddings:
        return Capabilities(tools=False, vision=False, json_schema=False, embeddings=True)
    if kind in ("openai", "anthropic", "google"):
        vision = kind != "openai" or any(p in name for p in ("4o", "4.1", "gpt-5", "o3", "o4"))
        return Capabilities(tools=True, vision=vision, json_schema=True)
    # Ollama / OpenAI-compatible servers: tool support varies, schemas are prompted.
    return Capabilities(tools=True, vision=False, json_schema=False)


class Catalog:
    """Looks up `ModelInfo` for a provider model, applying per-org overrides."""

    def __init__(self, overrides: Mapping[str, ModelOverride] | None = None) -> None:
        self._overrides = dict(overrides or {})

    def info(self, provider: ProviderConfig, model: str) -> ModelInfo:
        """Capabilities, context window and prices of `model` at `provider` (prices may be None)."""
        if provider.kind in ("local", "ollama"):
            ctx_window: int | None = LOCAL_CONTEXT_WINDOW if provider.kind == "local" else None
            in_p: float | None = 0.0
            out_p: float | None = 0.0
            cached_p: float | None = 0.0
        else:
            ctx_window, in_p, out_p, cached_p = _genai_lookup(
                model, _GENAI_PROVIDER_IDS.get(provider.kind)
            )
        info = ModelInfo(
            provider=provider.name,
            model=model,
            context_window=ctx_window,
            capabilities=_capabilities(provider.kind, model),
            input_price=in_p,
            output_price=out_p,
            cached_input_price=cached_p,
        )
        override = self._overrides.get(f"{provider.name}/{model}")
        if override is None:
            return info
        changes = override.model_dump(exclude_none=True)
        if override.capabilities is not None:
            changes["capabilities"] = override.capabilities
        return info.model_copy(update=changes)

    @staticmethod
    def cost(
        info: ModelInfo, input_tokens: int, output_tokens: int, cached_tokens: int = 0
    ) -> float:
        """USD cost of a call; unknown prices count as zero."""
        in_price = info.input_price or 0.0
        cached_price = info.cached_input_price if info.cached_input_price is not None else in_price
        uncached = max(input_tokens - cached_tokens, 0)
        total = (
            uncached * in_price
            + cached_tokens * cached_price
            + output_tokens * (info.output_price or 0.0)
        )
        return round(total / 1_000_000, 10)
