"""Model catalog, aliases and per-org overrides."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

_ALIAS = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
_REF = r"^[a-z0-9][a-z0-9_.-]{0,63}/.+$"


class CapabilitiesOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {"tools": True, "vision": False, "json_schema": True, "embeddings": False}
        }
    )

    tools: bool
    vision: bool
    json_schema: bool
    embeddings: bool = False


class ModelOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "openai/gpt-4o-mini",
                "provider": "openai",
                "model": "gpt-4o-mini",
                "kind": "openai",
                "context_window": 128000,
                "capabilities": {"tools": True, "vision": True, "json_schema": True},
                "input_price_per_mtok": 0.15,
                "output_price_per_mtok": 0.6,
                "available": True,
                "overridden": False,
            }
        }
    )

    id: str
    provider: str
    model: str
    kind: str
    context_window: int | None
    capabilities: CapabilitiesOut
    input_price_per_mtok: float | None
    output_price_per_mtok: float | None
    available: bool = True
    overridden: bool = False


class ModelList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": []}})

    items: list[ModelOut]


class AliasPut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"models": ["local/smollm2-135m-instruct"], "strategy": "ordered"}
        },
    )

    models: list[str] = Field(min_length=1, max_length=20)
    strategy: Literal["ordered", "cheapest"] = "ordered"


class AliasOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "name": "fast",
                "models": ["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku-latest"],
                "strategy": "ordered",
                "updated_at": "2026-11-21T10:00:00Z",
            }
        },
    )

    name: str
    models: list[str]
    strategy: Literal["ordered", "cheapest"]
    updated_at: dt.datetime


class AliasList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": []}})

    items: list[AliasOut]


class OverridePut(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "model": "local/smollm2-135m-instruct",
                "context_window": 8192,
                "input_price_per_mtok": 0.0,
                "output_price_per_mtok": 0.0,
            }
        },
    )

    model: str = Field(pattern=_REF, max_length=300)
    context_window: int | None = Field(default=None, ge=1, le=100_000_000)
    input_price_per_mtok: float | None = Field(default=None, ge=0)
    output_price_per_mtok: float | None = Field(default=None, ge=0)
    capabilities: CapabilitiesOut | None = None


class OverrideOut(OverridePut):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11",
                "model": "ollama/llama3.1",
                "context_window": 8192,
                "input_price_per_mtok": 0.0,
                "output_price_per_mtok": 0.0,
                "capabilities": None,
            }
        },
    )

    id: uuid.UUID


class OverrideList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": []}})

    items: list[OverrideOut]


ALIAS_PATTERN = _ALIAS
