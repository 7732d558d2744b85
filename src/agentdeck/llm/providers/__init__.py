"""Provider adapters: a `ProviderConfig` and a model name become a pydantic-ai `Model`.

The SDK modules (openai, anthropic, google-genai) are imported only when a model of that kind is
built, so importing the gateway stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from agentdeck.llm.providers._build import DEFAULT_BASE_URLS, base_url_of, build_model
from agentdeck.llm.providers._http import list_models, openai_embeddings
from agentdeck.llm.types import ProviderConfig, ProviderKind

if TYPE_CHECKING:
    from pydantic_ai.models import Model

StructuredMode = Literal["native", "tool", "prompted"]
ModelFactory = Callable[[ProviderConfig, str], "Model"]
"""Builds the pydantic-ai model for `(provider, model_name)`; tests inject fakes here."""

_STRUCTURED_MODES: dict[ProviderKind, StructuredMode] = {
    "openai": "native",
    "anthropic": "tool",
    "google": "tool",
    "ollama": "prompted",
    "openai_compatible": "prompted",
    "local": "prompted",
}


def structured_mode(kind: ProviderKind) -> StructuredMode:
    """How structured output is requested from a provider of `kind`."""
    return _STRUCTURED_MODES[kind]


__all__ = [
    "DEFAULT_BASE_URLS",
    "ModelFactory",
    "StructuredMode",
    "base_url_of",
    "build_model",
    "list_models",
    "openai_embeddings",
    "structured_mode",
]
