"""Agent shapes: a definition goes in as JSON (`definition`) or YAML (`source`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_SPACE_EXAMPLE = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e10"
EXAMPLE_DEFINITION: dict[str, Any] = {
    "name": "support-triage",
    "description": "Classify a ticket and draft a reply.",
    "inputs": {"type": "object", "properties": {"ticket": {"type": "string"}}},
    "nodes": [
        {"id": "normalise", "type": "transform", "value": {"text": "{{ inputs.ticket }}"}},
        {
            "id": "review",
            "type": "human",
            "needs": ["normalise"],
            "message": "Approve the ticket text?",
        },
        {
            "id": "answer",
            "type": "transform",
            "needs": ["review"],
            "value": {"ticket": "{{ steps.normalise.output.text }}"},
        },
    ],
}
_AGENT_EXAMPLE: dict[str, Any] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e21",
    "space_id": _SPACE_EXAMPLE,
    "name": "support-triage",
    "description": "Classify a ticket and draft a reply.",
    "current_version": 1,
    "created_by": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e01",
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:00Z",
}
_VERSION_EXAMPLE: dict[str, Any] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e31",
    "agent_id": _AGENT_EXAMPLE["id"],
    "version": 1,
    "definition": EXAMPLE_DEFINITION,
    "source": None,
    "created_by": _AGENT_EXAMPLE["created_by"],
    "created_at": "2026-11-21T10:00:00Z",
}


class _DefinitionInput(BaseModel):
    """Exactly one of ``definition`` (the spec as JSON) or ``source`` (YAML text)."""

    definition: dict[str, Any] | None = Field(
        default=None, description="The agent definition as JSON (see GET /agents/schema)."
    )
    source: str | None = Field(
        default=None, max_length=1_000_000, description="The agent definition as YAML text."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> _DefinitionInput:
        if (self.definition is None) == (self.source is None):
            raise ValueError("give exactly one of `definition` or `source`")
        return self


class AgentCreate(_DefinitionInput):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"space_id": _SPACE_EXAMPLE, "definition": EXAMPLE_DEFINITION}
        },
    )

    space_id: uuid.UUID = Field(description="The space the agent belongs to.")


class AgentVersionCreate(_DefinitionInput):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"definition": EXAMPLE_DEFINITION, "base_version": 1}},
    )

    base_version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The version this definition was edited from: when another version was "
        "saved since, the save is refused with 409 (omit it to save unconditionally).",
    )


class AgentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"description": "Triage tickets for the support team."}},
    )

    description: str | None = Field(default=None, max_length=2000)


class AgentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _AGENT_EXAMPLE})

    id: uuid.UUID
    space_id: uuid.UUID
    name: str
    description: str | None
    current_version: int
    created_by: uuid.UUID | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AgentPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_AGENT_EXAMPLE], "next_cursor": None}}
    )

    items: list[AgentOut]
    next_cursor: str | None


class AgentVersionOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": _VERSION_EXAMPLE})

    id: uuid.UUID
    agent_id: uuid.UUID
    version: int
    definition: dict[str, Any]
    source: str | None
    created_by: uuid.UUID | None
    created_at: dt.datetime


class AgentVersionPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_VERSION_EXAMPLE], "next_cursor": None}}
    )

    items: list[AgentVersionOut]
    next_cursor: str | None


class AgentImported(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"id": _AGENT_EXAMPLE["id"], "name": "support-triage", "current_version": 1}
        }
    )

    id: uuid.UUID
    name: str
    current_version: int
