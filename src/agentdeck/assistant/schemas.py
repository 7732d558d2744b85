"""LangGraph-shaped assistant bodies and resources.

Request bodies accept and ignore fields they do not know: the official `langgraph-sdk`
sends fields (`if_exists`, `select`, ...) from newer or older server versions.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_ASSISTANT_EXAMPLE: dict[str, Any] = {
    "assistant_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e41",
    "graph_id": "support-triage",
    "config": {},
    "context": {},
    "metadata": {"team": "support"},
    "version": 1,
    "name": "support-triage (eu)",
    "description": None,
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:00Z",
}


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AssistantCreate(_Lenient):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "graph_id": "support-triage",
                "name": "support-triage (eu)",
                "metadata": {"team": "support"},
            }
        },
    )

    graph_id: str = Field(min_length=1, max_length=200, description="An agent name or id.")
    assistant_id: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    if_exists: Literal["raise", "do_nothing"] | None = None
    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class AssistantUpdate(_Lenient):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"example": {"metadata": {"team": "support"}, "name": "triage v2"}},
    )

    graph_id: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)


class AssistantSearch(_Lenient):
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"example": {"graph_id": "support-triage", "limit": 10, "offset": 0}},
    )

    metadata: dict[str, Any] | None = None
    graph_id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: Literal["assistant_id", "graph_id", "name", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None


class AssistantVersionsSearch(_Lenient):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"example": {"limit": 10, "offset": 0}}
    )

    metadata: dict[str, Any] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class AssistantOut(BaseModel):
    """LangGraph's `Assistant` (also used for its versions)."""

    model_config = ConfigDict(json_schema_extra={"example": _ASSISTANT_EXAMPLE})

    assistant_id: str
    graph_id: str
    config: dict[str, Any]
    context: dict[str, Any]
    metadata: dict[str, Any]
    version: int
    name: str
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


class AssistantSchemas(BaseModel):
    """LangGraph's `GraphSchema`: the agent's input schema; the rest is not modelled."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "graph_id": "support-triage",
                "input_schema": {"type": "object"},
                "output_schema": None,
                "state_schema": None,
                "config_schema": None,
                "context_schema": None,
            }
        }
    )

    graph_id: str
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None = None
    state_schema: dict[str, Any] | None = None
    config_schema: dict[str, Any] | None = None
    context_schema: dict[str, Any] | None = None
