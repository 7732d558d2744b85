"""Construction of pydantic-ai models over the vendor SDKs, with SDK retries switched off."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx2

from agentdeck.llm.errors import ProviderRequestError
from agentdeck.llm.types import ProviderConfig, ProviderKind

if TYPE_CHECKING:
    from pydantic_ai.models import Model

DEFAULT_BASE_URLS: dict[ProviderKind, str] = {
    "openai": "https://api.openai.com/v1",
    "anthropic": "https://api.anthropic.com",
    "google": "https://generativelanguage.googleapis.com",
    "ollama": "http://localhost:11434/v1",
}
_NO_KEY = "api-key-not-set"  # the OpenAI SDK insists on a non-empty key, local servers don't


def base_url_of(provider: ProviderConfig) -> str:
    """The base URL of `provider` (or its kind's default); raises when a compatible one has none."""
    url = provider.base_url or DEFAULT_BASE_URLS.get(provider.kind)
    if not url:
        raise ProviderRequestError(
            "Provider " + provider.name + " needs a base_url",
            provider=provider.name,
            reason="config",
        )
    return url.rstrip("/")


def build_model(provider: ProviderConfig, model: str, http_client: httpx2.AsyncClient) -> Model:
    """The pydantic-ai model for `model` at `provider`, sending through `http_client`.

    SDK-level retries are disabled: the gateway owns retries and fallback.
    """
    if provider.kind in ("openai", "ollama", "openai_compatible"):
        return _openai_chat(provider, model, http_client)
    if provider.kind == "anthropic":
        return _anthropic(provider, model, http_client)
    if provider.kind == "google":
        return _google(provider, model, http_client)
    from agentdeck.llm.local import LocalModel

    return LocalModel(model)


def _openai_chat(provider: ProviderConfig, model: str, http_client: httpx2.AsyncClient) -> Model:
    from openai import AsyncOpenAI
    from pydantic_ai.models.openai import OpenAIChatModel
    from pydantic_ai.providers.ollama import OllamaProvider
    from pydantic_ai.providers.openai import OpenAIProvider
    from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider

    client = AsyncOpenAI(
        api_key=provider.api_key or _NO_KEY,
        base_url=base_url_of(provider),
        http_client=http_client,
        max_retries=0,
    )
    if provider.kind == "ollama":
        return OpenAIChatModel(model, provider=OllamaProvider(openai_client=client))
    if provider.kind == "openai_compatible":
        compat = OpenAICompatibleProvider(provider.name, openai_client=client)
        return OpenAIChatModel(model, provider=compat)
    return OpenAIChatModel(model, provider=OpenAIProvider(openai_client=client))


def _anthropic(provider: ProviderConfig, model: str, http_client: httpx2.AsyncClient) -> Model:
    from anthropic import AsyncAnthropic
    from pydantic_ai.models.anthropic import AnthropicModel
    from pydantic_ai.providers.anthropic import AnthropicProvider

    client = AsyncAnthropic(
        api_key=provider.api_key or _NO_KEY,
        base_url=base_url_of(provider),
        http_client=http_client,
        max_retries=0,
    )
    return AnthropicModel(model, provider=AnthropicProvider(anthropic_client=client))


def _google(provider: ProviderConfig, model: str, http_client: httpx2.AsyncClient) -> Model:
    from google.genai.types import HttpRetryOptions
    from pydantic_ai.models.google import GoogleModel
    from pydantic_ai.providers.google import GoogleProvider

    google = GoogleProvider(
        api_key=provider.api_key or _NO_KEY,
        http_client=http_client,
        base_url=provider.base_url,
        retry_options=HttpRetryOptions(attempts=1),
    )
    return GoogleModel(model, provider=google)
