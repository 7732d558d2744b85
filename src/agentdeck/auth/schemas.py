"""Request and response shapes of the auth endpoints."""

from __future__ import annotations

import datetime as dt
import uuid

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from agentdeck.kit.tenancy import KeyScope, OrgRole

_FORBID = ConfigDict(extra="forbid")


class SignupRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "email": "ada@example.org",
                "password": "correct horse battery staple",
                "name": "Ada Lovelace",
                "org_name": "Analytical Engines",
            }
        },
    )

    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    name: str = Field(min_length=1, max_length=200)
    org_name: str | None = Field(default=None, min_length=1, max_length=200)
    invite_token: str | None = Field(default=None, max_length=200)


class LoginRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"email": "ada@example.org", "password": "correct horse battery staple"}
        },
    )

    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    invite_token: str | None = Field(default=None, max_length=200)


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"refresh_token": "rt_..."}}
    )

    refresh_token: str = Field(min_length=1, max_length=200)


class SwitchOrgRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"org_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11"}},
    )

    org_id: uuid.UUID


class AcceptInvitationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"token": "inv_..."}})

    token: str = Field(min_length=1, max_length=200)


class UserOut(BaseModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11",
                "email": "ada@example.org",
                "name": "Ada Lovelace",
                "created_at": "2026-11-21T10:00:00Z",
            }
        },
    )

    id: uuid.UUID
    email: str
    name: str
    created_at: dt.datetime


class OrgRef(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e12",
                "name": "Analytical Engines",
                "role": "owner",
            }
        }
    )

    id: uuid.UUID
    name: str
    role: OrgRole


class TokenResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "access_token": "eyJ...",
                "refresh_token": "rt_...",
                "token_type": "bearer",
                "expires_in": 900,
                "user": UserOut.model_config["json_schema_extra"]["example"],  # type: ignore[index]
                "org": OrgRef.model_config["json_schema_extra"]["example"],  # type: ignore[index]
            }
        }
    )

    access_token: str
    refresh_token: str
    token_type: str = "bearer"
    expires_in: int
    user: UserOut
    org: OrgRef


class MeResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "user": UserOut.model_config["json_schema_extra"]["example"],  # type: ignore[index]
                "orgs": [OrgRef.model_config["json_schema_extra"]["example"]],  # type: ignore[index]
                "current_org": OrgRef.model_config["json_schema_extra"]["example"],  # type: ignore[index]
                "auth": "user",
                "scopes": None,
            }
        }
    )

    user: UserOut
    orgs: list[OrgRef]
    current_org: OrgRef
    auth: str
    scopes: list[KeyScope] | None = None
