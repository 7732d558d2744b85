"""Prompt shapes: POST/GET /prompts, versions, and labels."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from jsonschema import Draft202012Validator, SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator

PromptName = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,99}$")
LabelName = r"^[a-z0-9][a-z0-9_.-]{0,49}$"


def _json_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    return value


class VersionIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "template": "Answer {{ customer }} politely: {{ question }}",
                "system": "You are a support agent.",
                "variables": {
                    "type": "object",
                    "properties": {"customer": {"type": "string"}, "question": {"type": "string"}},
                    "required": ["question"],
                },
            }
        },
    )

    template: str = Field(min_length=1, max_length=200_000)
    system: str | None = Field(default=None, max_length=200_000)
    variables: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the variables the template reads."
    )

    _check_variables = field_validator("variables")(_json_schema)


class PromptCreate(VersionIn):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "space_id": "01a23b3d-879e-724a-803c-33e64411ae30",
                "name": "support-reply",
                "template": "Answer politely: {{ question }}",
                "variables": {"type": "object", "properties": {"question": {"type": "string"}}},
                "labels": ["production"],
            }
        },
    )

    space_id: uuid.UUID
    name: str = PromptName
    description: str | None = Field(default=None, max_length=2000)
    labels: list[str] = Field(
        default_factory=list, max_length=20, description="Labels pointing at version 1."
    )

    @field_validator("labels")
    @classmethod
    def _label_names(cls, value: list[str]) -> list[str]:
        import re

        for label in value:
            if not re.match(LabelName, label):
                raise ValueError(f"not a label name: {label!r}")
        return value


class LabelSet(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"version": 2}})

    version: int = Field(ge=1)


class VersionOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "version": 1,
                "template": "Answer politely: {{ question }}",
                "system": None,
                "variables": None,
                "created_at": "2026-12-03T10:00:00Z",
            }
        },
    )

    version: int
    template: str
    system: str | None
    variables: dict[str, Any] | None
    created_at: dt.datetime


class PromptOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "01a23b3d-879e-724a-803c-33e64411ae30",
                "space_id": "01a23b3d-879e-724a-803c-33e64411ae31",
                "name": "support-reply",
                "description": None,
                "latest_version": 2,
                "labels": {"production": 1},
                "created_at": "2026-12-03T10:00:00Z",
                "updated_at": "2026-12-03T10:00:00Z",
            }
        },
    )

    id: uuid.UUID
    space_id: uuid.UUID
    name: str
    description: str | None
    latest_version: int
    labels: dict[str, int]
    created_at: dt.datetime
    updated_at: dt.datetime


class PromptPage(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": [], "next_cursor": None}})

    items: list[PromptOut]
    next_cursor: str | None = None


class VersionList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": []}})

    items: list[VersionOut]
