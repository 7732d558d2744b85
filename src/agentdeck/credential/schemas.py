"""Credential shapes. Secrets go in; only the kind, the non-secret fields and a masked hint
ever come out.

One flat body for every kind: the service says which fields a kind needs and refuses the
ones it does not use (422 naming the field). Every value that travels in an HTTP header is
checked as header-safe when it is stored (`kit.headers`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from agentdeck.kit.headers import HEADER_SAFE, header_problem

CredentialKind = Literal["api_key", "bearer", "basic", "headers", "oauth2"]
CredentialStatus = Literal["active", "needs_reauth"]


def _check_header_name(name: str) -> str:
    problem = header_problem(name, "")
    if problem is not None:
        raise ValueError(problem)
    return name


HeaderName = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_check_header_name)]
# Sent in a header (the api_key value, a bearer or access token, custom header values).
_HeaderSecret = Annotated[str, Field(min_length=1, max_length=8000), HEADER_SAFE]
_Username = Annotated[str, Field(min_length=1, max_length=500, pattern=r"^[^:]*$"), HEADER_SAFE]
_Text = Annotated[str, Field(min_length=1, max_length=8000)]
_Url = Annotated[str, Field(max_length=2000, pattern=r"^https?://")]
_Scope = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")]

_EXAMPLE: dict[str, Any] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11",
    "name": "github",
    "kind": "bearer",
    "space_id": None,
    "status": "active",
    "hint": "…abcd",
    "header_name": None,
    "username": None,
    "header_names": None,
    "client_id": None,
    "token_url": None,
    "scopes": None,
    "expires_at": None,
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:00Z",
}


class _SecretFields(BaseModel):
    """The fields of every kind (which ones a kind uses: see the service)."""

    model_config = ConfigDict(extra="forbid")

    # api_key
    header_name: HeaderName | None = Field(
        default=None, description="api_key: the header that carries the key (X-Api-Key)."
    )
    value: _HeaderSecret | None = Field(default=None, description="api_key: the key (secret).")
    # bearer
    token: _HeaderSecret | None = Field(default=None, description="bearer: the token (secret).")
    # basic
    username: _Username | None = Field(default=None, description="basic: the user name.")
    password: _Text | None = Field(default=None, description="basic: the password (secret).")
    # headers
    headers: dict[HeaderName, _HeaderSecret] | None = Field(
        default=None, max_length=50, description="headers: every header to send (secret)."
    )
    # oauth2
    client_id: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    client_secret: _Text | None = Field(default=None, description="oauth2 (secret).")
    token_url: _Url | None = Field(
        default=None,
        description="oauth2: where tokens are refreshed. Must reach a public address, or a "
        "host the operator allows (AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS).",
    )
    scopes: list[_Scope] | None = Field(default=None, max_length=100)
    access_token: _HeaderSecret | None = Field(default=None, description="oauth2 (secret).")
    refresh_token: _Text | None = Field(default=None, description="oauth2 (secret).")
    expires_at: dt.datetime | None = Field(
        default=None, description="oauth2: when the access token expires."
    )


class CredentialCreate(_SecretFields):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"name": "github", "kind": "bearer", "token": "ghp_exampletoken1234"}
        },
    )

    name: str = Field(min_length=1, max_length=100)
    kind: CredentialKind
    space_id: uuid.UUID | None = Field(
        default=None, description="Limit the credential to one space; none: the whole org."
    )


class CredentialUpdate(_SecretFields):
    """Change the name or the fields of the credential's kind. A secret sent replaces the
    stored one; new OAuth2 tokens make a credential that needed re-authorisation active."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"name": "github-bot"}})

    name: str | None = Field(default=None, min_length=1, max_length=100)


class CredentialOut(BaseModel):
    """A credential as the API shows it: never a secret, only ``hint`` (its last 4
    characters, for secrets of 12 or more)."""

    model_config = ConfigDict(json_schema_extra={"example": _EXAMPLE})

    id: uuid.UUID
    name: str
    kind: CredentialKind
    space_id: uuid.UUID | None
    status: CredentialStatus
    hint: str | None
    header_name: str | None = None
    username: str | None = None
    header_names: list[str] | None = None
    client_id: str | None = None
    token_url: str | None = None
    scopes: list[str] | None = None
    expires_at: dt.datetime | None = None
    created_at: dt.datetime
    updated_at: dt.datetime


class CredentialPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_EXAMPLE], "next_cursor": None}}
    )

    items: list[CredentialOut]
    next_cursor: str | None


class CredentialTest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"test_url": "https://api.example.com/user"}},
    )

    test_url: _Url | None = Field(
        default=None,
        description="GET this URL with the credential's headers and report the status code "
        "(never the body). Without it: OAuth2 refreshes if needed, others check the secret.",
    )


TestErrorType = Literal[
    "needs_reauth", "refresh_failed", "unreadable", "unreachable", "blocked", "http_status"
]


class CredentialTestResult(BaseModel):
    """Whether the credential works, in our words: never the secret, never a body."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "ok": False,
                "status_code": 401,
                "error_type": "http_status",
                "error": "the test URL answered HTTP 401",
            }
        }
    )

    ok: bool
    status_code: int | None = None
    error_type: TestErrorType | None = None
    error: str | None = None
