"""Provider shapes. Credentials go in; only a masked hint ever comes out."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agentdeck.kit.headers import HEADER_SAFE
from agentdeck.llm.types import ProviderKind

_NAME = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# Sent as a header (Authorization, x-api-key): printable ASCII, checked when stored.
_ApiKey = Annotated[str, Field(min_length=1, max_length=4000), HEADER_SAFE]
_NewApiKey = Annotated[str, Field(max_length=4000), HEADER_SAFE]
_EXAMPLE: dict[str, Any] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11",
    "name": "openai",
    "kind": "openai",
    "base_url": None,
    "models": ["gpt-4o-mini"],
    "enabled": True,
    "has_api_key": True,
    "api_key_hint": "sk-…abcd",
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:00Z",
}


class ProviderCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "openai",
                "kind": "openai",
                "api_key": "sk-...",
                "models": ["gpt-4o-mini"],
            }
        },
    )

    name: str = Field(pattern=_NAME, description="Used in model references: `<name>/<model>`.")
    kind: ProviderKind
    api_key: _ApiKey | None = Field(default=None, description="Printable ASCII only.")
    base_url: str | None = Field(
        default=None,
        max_length=2000,
        pattern=r"^https?://",
        description="Must reach a public address, or a host the operator allows "
        "(AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS).",
    )
    models: list[str] = Field(default_factory=list, max_length=500)
    enabled: bool = True


class ProviderUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"api_key": "sk-new...", "enabled": True}}
    )

    name: str | None = Field(default=None, pattern=_NAME)
    api_key: _NewApiKey | None = Field(
        default=None, description="A new key (printable ASCII); an empty string removes it."
    )
    base_url: str | None = Field(default=None, max_length=2000, pattern=r"^(https?://.*)?$")
    models: list[str] | None = Field(default=None, max_length=500)
    enabled: bool | None = None


class ProviderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _EXAMPLE})

    id: uuid.UUID
    name: str
    kind: ProviderKind
    base_url: str | None
    models: list[str]
    enabled: bool
    has_api_key: bool
    api_key_hint: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ProviderPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_EXAMPLE], "next_cursor": None}}
    )

    items: list[ProviderOut]
    next_cursor: str | None


TestErrorType = Literal["unreachable", "blocked", "http_status", "invalid_response", "config"]


class ProviderTestResult(BaseModel):
    """Reachability and the model list. Never the provider's own answer text: a base URL
    must not turn the test into a way to read another service's responses."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "ok": False,
                "models": [],
                "latency_ms": 212.5,
                "status_code": 401,
                "error_type": "http_status",
                "error": "the provider answered HTTP 401",
            }
        }
    )

    ok: bool
    models: list[str]
    latency_ms: float
    status_code: int | None = Field(
        default=None, description="The HTTP status of the provider's answer, if one came."
    )
    error_type: TestErrorType | None = Field(
        default=None,
        description="unreachable (no connection), blocked (the network policy refuses the "
        "host), http_status (an error status), invalid_response (not a model list), config.",
    )
    error: str | None = Field(default=None, description="What went wrong, in our words.")
