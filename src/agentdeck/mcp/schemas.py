"""HTTP shapes of the MCP server: RFC 9728 protected-resource metadata, and tool results."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_METADATA_EXAMPLE: dict[str, Any] = {
    "resource": "https://agentdeck.example.org/mcp",
    "resource_name": "agentdeck",
    "bearer_methods_supported": ["header"],
    "scopes_supported": ["read", "run"],
    "resource_documentation": "https://agentdeck.example.org/docs",
}


class ProtectedResourceMetadata(BaseModel):
    """OAuth 2.0 Protected Resource Metadata (RFC 9728) of /mcp.

    agentdeck is no OAuth authorization server: clients send an API key (`ad_...`) or an
    access token from `/api/v1/auth/token` as `Authorization: Bearer ...`.
    """

    model_config = ConfigDict(json_schema_extra={"example": _METADATA_EXAMPLE})

    resource: str
    resource_name: str = "agentdeck"
    bearer_methods_supported: list[str] = Field(default_factory=lambda: ["header"])
    scopes_supported: list[str] = Field(default_factory=lambda: ["read", "run"])
    resource_documentation: str | None = None


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """One tool as `tools/list` shows it."""

    name: str
    description: str
    input_schema: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a `tools/call` answers: text for the model, the same facts as structured data."""

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False
    meta: dict[str, Any] = field(default_factory=dict)
