"""Space and space-member shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, JsonValue, StringConstraints

from agentdeck.kit.tenancy import SpaceRole

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]

_SPACE_EXAMPLE: dict[str, JsonValue] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e14",
    "name": "Research",
    "description": "Agents and knowledge of the research team",
    "is_personal": False,
    "role": "owner",
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:00Z",
}
_MEMBER_EXAMPLE: dict[str, JsonValue] = {
    "user_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e13",
    "email": "ada@example.org",
    "name": "Ada Lovelace",
    "role": "editor",
    "joined_at": "2026-11-21T10:00:00Z",
}


class SpaceCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"name": "Research", "description": "The research team"}},
    )

    name: Name
    description: Description | None = None


class SpaceUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"name": "Research & Development"}}
    )

    name: Name | None = None
    description: Description | None = None


class SpaceOut(BaseModel):
    """A space with the caller's role in it."""

    model_config = ConfigDict(json_schema_extra={"example": _SPACE_EXAMPLE})

    id: uuid.UUID
    name: str
    description: str | None
    is_personal: bool
    role: SpaceRole
    created_at: dt.datetime
    updated_at: dt.datetime


class SpacePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_SPACE_EXAMPLE], "next_cursor": None}}
    )

    items: list[SpaceOut]
    next_cursor: str | None


class SpaceMemberOut(BaseModel):
    """A member of a space."""

    model_config = ConfigDict(json_schema_extra={"example": _MEMBER_EXAMPLE})

    user_id: uuid.UUID
    email: str
    name: str
    role: SpaceRole
    joined_at: dt.datetime


class SpaceMemberPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_MEMBER_EXAMPLE], "next_cursor": None}}
    )

    items: list[SpaceMemberOut]
    next_cursor: str | None


class SpaceMemberAdd(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"user_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e13", "role": "editor"}
        },
    )

    user_id: uuid.UUID
    role: SpaceRole = SpaceRole.VIEWER


class SpaceMemberRoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"role": "owner"}})

    role: SpaceRole
