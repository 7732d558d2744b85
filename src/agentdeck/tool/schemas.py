"""Toolset shapes: a slug name, a kind, its config (never a secret) and a credential id."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ToolsetKind = Literal["builtin", "openapi", "mcp"]
Slug = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")
]
_CONFIG_DOC = (
    "Kind-specific settings, no secrets. builtin: `integration` (http, webhook, slack, "
    "github, jira, gmail), `base_url`, `url` (webhook), `headers`; openapi: `document` (the "
    "OpenAPI 3 document, JSON or YAML) or `document_url` (fetched through the network "
    "policy), `base_url`; mcp: `url` (streamable HTTP), `transport`. Every kind: `timeout` "
    "(seconds) and `max_result_bytes`."
)

_EXAMPLE: dict[str, Any] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e12",
    "space_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e00",
    "name": "github",
    "kind": "builtin",
    "description": "Our GitHub",
    "config": {"integration": "github", "base_url": "https://api.github.com"},
    "credential_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11",
    "tool_count": 4,
    "tools_hash": "9f2c…",
    "refreshed_at": "2026-11-21T10:00:00Z",
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:00Z",
}


class ToolsetCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "space_id": _EXAMPLE["space_id"],
                "name": "github",
                "kind": "builtin",
                "config": {"integration": "github"},
            }
        },
    )

    space_id: uuid.UUID
    name: Slug
    kind: ToolsetKind
    description: Annotated[str, Field(max_length=2000)] | None = None
    config: dict[str, Any] = Field(default_factory=dict, description=_CONFIG_DOC)
    credential_id: uuid.UUID | None = Field(
        default=None, description="A credential usable in the space (org-wide or its own)."
    )


class ToolsetUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"config": {"integration": "github", "timeout": 10}}},
    )

    name: Slug | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    config: dict[str, Any] | None = Field(
        default=None, description="Replaces the whole config. " + _CONFIG_DOC
    )
    credential_id: uuid.UUID | None = Field(
        default=None, description="Another credential; null removes it."
    )


class ToolsetOut(BaseModel):
    """A toolset; its config without an uploaded OpenAPI document (see `/tools`)."""

    model_config = ConfigDict(json_schema_extra={"example": _EXAMPLE})

    id: uuid.UUID
    space_id: uuid.UUID
    name: str
    kind: ToolsetKind
    description: str | None
    config: dict[str, Any]
    credential_id: uuid.UUID | None
    tool_count: int
    tools_hash: str
    refreshed_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime


class ToolsetPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_EXAMPLE], "next_cursor": None}}
    )

    items: list[ToolsetOut]
    next_cursor: str | None


class ToolOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "name": "create_issue",
                "description": "Create an issue in a GitHub repository.",
                "input_schema": {"type": "object", "properties": {"title": {"type": "string"}}},
            }
        }
    )

    name: str
    description: str
    input_schema: dict[str, Any]


class ToolList(BaseModel):
    """The toolset's tools (for mcp: the snapshot of the last refresh)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "items": [{"name": "create_issue", "description": "…", "input_schema": {}}],
                "tools_hash": "9f2c…",
            }
        }
    )

    items: list[ToolOut]
    tools_hash: str


class ToolCallIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"arguments": {"owner": "acme", "repo": "app", "title": "Bug"}}
        },
    )

    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolCallError(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"kind": "http_4xx", "message": "the server answered 404"}}
    )

    kind: str
    message: str


class ToolCallOut(BaseModel):
    """What the tool answered, or why it failed (what a model would be told)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "tool": "github.create_issue",
                "ok": True,
                "result": {"number": 1},
                "error": None,
            }
        }
    )

    tool: str
    ok: bool
    result: Any = None
    error: ToolCallError | None = None
