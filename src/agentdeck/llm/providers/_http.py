"""Plain HTTP calls the SDK models don't cover: model listing and OpenAI-format embeddings.

Errors carry a ``reason`` (``blocked``: the network policy refuses the host, ``unreachable``,
``http_status``, ``invalid_response``) so that a caller can report what happened without
repeating the answer's body.
"""

from __future__ import annotations

from typing import Any

import httpx2

from agentdeck.kit import netguard
from agentdeck.llm.errors import ProviderRequestError, ProviderUnavailableError, redact
from agentdeck.llm.providers._build import base_url_of
from agentdeck.llm.types import ProviderConfig

_LIST_TIMEOUT_S = 10.0


def _raise_for(provider: ProviderConfig, response: httpx2.Response) -> None:
    if response.status_code < 400:
        return
    detail = redact(response.text[:300], [provider.api_key])
    if response.status_code == 429 or response.status_code >= 500:
        raise ProviderUnavailableError(
            "Provider " + provider.name + " answered " + str(response.status_code) + ": " + detail,
            provider=provider.name,
            http_status=response.status_code,
            reason="http_status",
        )
    raise ProviderRequestError(
        "Provider " + provider.name + " answered " + str(response.status_code) + ": " + detail,
        http_status=response.status_code,
        provider=provider.name,
        reason="http_status",
    )


def _transport_error(provider: ProviderConfig, exc: httpx2.HTTPError) -> Exception:
    """The gateway error for a request that got no answer."""
    if isinstance(exc, netguard.BlockedAddress):
        return ProviderRequestError(
            "Provider " + provider.name + " is not reachable: its host is not allowed by the "
            "network policy (" + netguard.SETTING + ")",
            provider=provider.name,
            reason="blocked",
        )
    return ProviderUnavailableError(
        "Provider " + provider.name + " is unreachable: " + type(exc).__name__,
        provider=provider.name,
        reason="unreachable",
        error_class=type(exc).__name__,
    )


def _invalid(provider: ProviderConfig) -> ProviderUnavailableError:
    return ProviderUnavailableError(
        "Provider " + provider.name + " answered with something other than a model list",
        provider=provider.name,
        reason="invalid_response",
    )


def _auth_headers(provider: ProviderConfig) -> dict[str, str]:
    if not provider.api_key:
        return {}
    if provider.kind == "anthropic":
        return {"x-api-key": provider.api_key, "anthropic-version": "2023-06-01"}
    if provider.kind == "google":
        return {"x-goog-api-key": provider.api_key}
    return {"Authorization": "Bearer " + provider.api_key}


async def _get_json(
    provider: ProviderConfig, client: httpx2.AsyncClient, url: str
) -> dict[str, Any]:
    try:
        response = await client.get(url, headers=_auth_headers(provider), timeout=_LIST_TIMEOUT_S)
    except httpx2.HTTPError as exc:
        raise _transport_error(provider, exc) from None
    _raise_for(provider, response)
    try:
        body = response.json()
    except ValueError:
        raise _invalid(provider) from None
    if not isinstance(body, dict):
        raise _invalid(provider)
    return body


def _ids(provider: ProviderConfig, body: dict[str, Any], items: str, key: str) -> list[str]:
    """``body[items][*][key]`` as strings; `_invalid` when the answer has another shape."""
    rows = body.get(items, [])
    if not isinstance(rows, list) or not all(
        isinstance(row, dict) and isinstance(row.get(key), str) for row in rows
    ):
        raise _invalid(provider)
    return [str(row[key]) for row in rows]


async def list_models(provider: ProviderConfig, client: httpx2.AsyncClient) -> list[str]:
    """Model ids the provider offers; doubles as a connectivity and credential test.

    Raises `ProviderRequestError` (bad key, 4xx, a host the network policy refuses) or
    `ProviderUnavailableError` (down, 5xx, not a model list).
    """
    if provider.kind == "local":
        from agentdeck.llm.local import LOCAL_MODEL_NAME

        return [LOCAL_MODEL_NAME]
    base = base_url_of(provider)
    if provider.kind == "anthropic":
        body = await _get_json(provider, client, base + "/v1/models?limit=1000")
        return _ids(provider, body, "data", "id")
    if provider.kind == "google":
        body = await _get_json(provider, client, base + "/v1beta/models?pageSize=1000")
        return [name.removeprefix("models/") for name in _ids(provider, body, "models", "name")]
    if provider.kind == "ollama":
        root = base.removesuffix("/v1")
        body = await _get_json(provider, client, root + "/api/tags")
        return _ids(provider, body, "models", "name")
    body = await _get_json(provider, client, base + "/models")
    return _ids(provider, body, "data", "id")


async def openai_embeddings(
    provider: ProviderConfig,
    model: str,
    texts: list[str],
    client: httpx2.AsyncClient,
    timeout_s: float,
) -> tuple[list[list[float]], int]:
    """Embeddings and prompt-token count from an OpenAI-format `/embeddings` endpoint."""
    try:
        response = await client.post(
            base_url_of(provider) + "/embeddings",
            json={"model": model, "input": texts},
            headers=_auth_headers(provider),
            timeout=timeout_s,
        )
    except httpx2.HTTPError as exc:
        raise _transport_error(provider, exc) from None
    _raise_for(provider, response)
    body = response.json()
    rows = sorted(body.get("data", []), key=lambda row: int(row.get("index", 0)))
    vectors = [[float(x) for x in row["embedding"]] for row in rows]
    tokens = int((body.get("usage") or {}).get("prompt_tokens", 0))
    return vectors, tokens
