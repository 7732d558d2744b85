"""What each kind of credential stores, where, and which headers it makes.

A credential is split in two: the secret payload (one JSON object, sealed as a whole) and
the non-secret config (plain JSON). This module is the one table of which field goes where.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

SECRET_FIELDS: dict[str, tuple[str, ...]] = {
    "api_key": ("value",),
    "bearer": ("token",),
    "basic": ("password",),
    "headers": ("headers",),
    "oauth2": ("client_secret", "access_token", "refresh_token"),
}
CONFIG_FIELDS: dict[str, tuple[str, ...]] = {
    "api_key": ("header_name",),
    "bearer": (),
    "basic": ("username",),
    "headers": (),
    "oauth2": ("client_id", "token_url", "scopes"),
}
# Kept in a column of their own (the refresh reads it without decrypting).
COLUMN_FIELDS: dict[str, tuple[str, ...]] = {"oauth2": ("expires_at",)}
REQUIRED: dict[str, tuple[str, ...]] = {
    "api_key": ("value",),
    "bearer": ("token",),
    "basic": ("username", "password"),
    "headers": ("headers",),
    "oauth2": ("client_id", "token_url"),
}
DEFAULT_API_KEY_HEADER = "X-Api-Key"
# Which secret the masked hint shows the end of.
_HINTED = {
    "api_key": ("value",),
    "bearer": ("token",),
    "basic": ("password",),
    "oauth2": ("client_secret", "refresh_token", "access_token"),
}


def fields_of(kind: str) -> frozenset[str]:
    """Every body field the kind uses."""
    return frozenset(SECRET_FIELDS[kind] + CONFIG_FIELDS[kind] + COLUMN_FIELDS.get(kind, ()))


def all_kind_fields() -> frozenset[str]:
    """Every kind-specific body field, of any kind."""
    return frozenset().union(*(fields_of(k) for k in SECRET_FIELDS))


def config_of(kind: str, fields: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, Any]:
    """The new non-secret config: ``config`` with the kind's fields of ``fields`` applied."""
    out = dict(config)
    for name in CONFIG_FIELDS[kind]:
        if name in fields:
            out[name] = fields[name]
    if kind == "api_key" and not out.get("header_name"):
        out["header_name"] = DEFAULT_API_KEY_HEADER
    return out


def header_names(kind: str, secret: Mapping[str, Any]) -> list[str] | None:
    """The names of a `headers` credential's headers (shown; their values are not)."""
    return sorted(secret.get("headers") or {}) if kind == "headers" else None


def hint(kind: str, secret: Mapping[str, Any]) -> str:
    """A masked hint: the last 4 characters of the kind's main secret, when it is long
    enough (12 or more) that they give nothing away."""
    candidates: list[Any]
    if kind == "headers":
        headers = secret.get("headers") or {}
        candidates = [headers[n] for n in sorted(headers)]
    else:
        candidates = [secret.get(n) for n in _HINTED[kind]]
    value = next((v for v in candidates if isinstance(v, str) and v), "")
    return f"…{value[-4:]}" if len(value) >= 12 else "…"


def headers_for(kind: str, config: Mapping[str, Any], secret: Mapping[str, Any]) -> dict[str, str]:
    """The headers a request authenticated by this credential carries. For `oauth2`, the
    stored access token (the service refreshes it first when it is about to expire)."""
    if kind == "api_key":
        return {str(config.get("header_name") or DEFAULT_API_KEY_HEADER): str(secret["value"])}
    if kind == "bearer":
        return {"Authorization": f"Bearer {secret['token']}"}
    if kind == "basic":
        pair = f"{config.get('username', '')}:{secret['password']}".encode()
        return {"Authorization": f"Basic {base64.b64encode(pair).decode()}"}
    if kind == "headers":
        return {str(k): str(v) for k, v in (secret.get("headers") or {}).items()}
    return {"Authorization": f"Bearer {secret['access_token']}"}
