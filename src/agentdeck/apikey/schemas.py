"""API key shapes. The full key appears only in the creation response."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentdeck.kit.tenancy import KeyScope

_KEY_EXAMPLE: dict[str, Any] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11",
    "name": "ci pipeline",
    "prefix": "ad_3kPz9qW",
    "scopes": ["read", "run"],
    "space_ids": None,
    "expires_at": None,
    "created_at": "2026-11-21T10:00:00Z",
    "last_used_at": None,
    "revoked_at": None,
    "created_by": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e13",
}


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"name": "ci pipeline", "scopes": ["read", "run"], "space_ids": None}
        },
    )

    name: str = Field(min_length=1, max_length=200)
    scopes: list[KeyScope] = Field(min_length=1, max_length=4)
    space_ids: list[uuid.UUID] | None = Field(default=None, max_length=100)
    expires_at: dt.datetime | None = None


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _KEY_EXAMPLE})

    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[KeyScope]
    space_ids: list[uuid.UUID] | None
    expires_at: dt.datetime | None
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_by: uuid.UUID


class ApiKeyCreated(ApiKeyOut):
    model_config = ConfigDict(
        json_schema_extra={"example": {**_KEY_EXAMPLE, "key": "ad_3kPz9qW..."}}
    )

    key: str = Field(description="The full key. It is shown only this once.")


class ApiKeyPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_KEY_EXAMPLE], "next_cursor": None}}
    )

    items: list[ApiKeyOut]
    next_cursor: str | None
