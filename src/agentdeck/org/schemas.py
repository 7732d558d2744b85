"""Organisation, membership and invitation shapes. A token appears only on creation."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field, JsonValue, StringConstraints

from agentdeck.kit.tenancy import OrgRole

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(max_length=2000)]

_ORG_EXAMPLE: dict[str, JsonValue] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e12",
    "name": "Analytical Engines",
    "description": "Research and engineering",
    "role": "owner",
    "created_at": "2026-11-21T10:00:00Z",
}
_MEMBER_EXAMPLE: dict[str, JsonValue] = {
    "user_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e13",
    "email": "ada@example.org",
    "name": "Ada Lovelace",
    "role": "admin",
    "joined_at": "2026-11-21T10:00:00Z",
}
_INVITATION_EXAMPLE: dict[str, JsonValue] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e14",
    "email": "grace@example.org",
    "role": "member",
    "expires_at": "2026-11-28T10:00:00Z",
    "created_at": "2026-11-21T10:00:00Z",
    "invited_by": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e13",
}


class OrgOut(BaseModel):
    """An organisation with the caller's role in it."""

    model_config = ConfigDict(json_schema_extra={"example": _ORG_EXAMPLE})

    id: uuid.UUID
    name: str
    description: str | None
    role: OrgRole
    created_at: dt.datetime
    max_runs_in_flight: int | None = Field(
        None, description="Most runs pending or running at once (null: no org limit)."
    )
    max_runs_per_minute: int | None = Field(
        None, description="Most runs created per minute (null: no org limit)."
    )


class OrgSummary(BaseModel):
    """One of the caller's organisations."""

    model_config = ConfigDict(
        json_schema_extra={"example": {k: _ORG_EXAMPLE[k] for k in ("id", "name", "role")}}
    )

    id: uuid.UUID
    name: str
    role: OrgRole


class OrgList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "items": [OrgSummary.model_config["json_schema_extra"]["example"]],  # type: ignore[index]
                "next_cursor": None,
            }
        }
    )

    items: list[OrgSummary]
    next_cursor: str | None = None


class OrgUpdate(BaseModel):
    """Fields to change; omitted fields stay as they are."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"name": "Analytical Engines Ltd", "description": None}},
    )

    name: Name | None = None
    description: Description | None = None
    max_runs_in_flight: int | None = Field(
        None, ge=1, le=1_000_000, description="Run quota: runs in flight (null: none)."
    )
    max_runs_per_minute: int | None = Field(
        None, ge=1, le=1_000_000, description="Run quota: runs created per minute (null: none)."
    )


class MemberOut(BaseModel):
    """A member of the organisation."""

    model_config = ConfigDict(json_schema_extra={"example": _MEMBER_EXAMPLE})

    user_id: uuid.UUID
    email: str
    name: str
    role: OrgRole
    joined_at: dt.datetime


class MemberPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_MEMBER_EXAMPLE], "next_cursor": None}}
    )

    items: list[MemberOut]
    next_cursor: str | None


class MemberRoleUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"role": "admin"}})

    role: OrgRole


class InvitationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"email": "grace@example.org", "role": "member"}},
    )

    email: EmailStr = Field(max_length=320)
    role: OrgRole = OrgRole.MEMBER


class InvitationOut(BaseModel):
    """A pending invitation (its token is never shown again)."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_extra={"example": _INVITATION_EXAMPLE}
    )

    id: uuid.UUID
    email: str
    role: OrgRole
    expires_at: dt.datetime
    created_at: dt.datetime
    invited_by: uuid.UUID | None


class InvitationCreated(InvitationOut):
    model_config = ConfigDict(
        json_schema_extra={"example": {**_INVITATION_EXAMPLE, "token": "inv_9xQ2..."}}
    )

    token: str = Field(
        description="Give this to the invitee (sign up or log in with `invite_token`). "
        "It is shown only this once."
    )


class InvitationPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_INVITATION_EXAMPLE], "next_cursor": None}}
    )

    items: list[InvitationOut]
    next_cursor: str | None
