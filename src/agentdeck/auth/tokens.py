"""Access tokens (JWT) and opaque refresh / invitation / API-key secrets."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

import jwt

from agentdeck.kit.crypto import random_token, sha256_hex
from agentdeck.kit.db import utcnow

API_KEY_PREFIX = "ad_"
_ISSUER = "agentdeck"


class InvalidToken(Exception):
    """The token is malformed, expired or not signed by us."""


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    org_id: uuid.UUID
    expires_at: dt.datetime
    # The login session (refresh-token family) the token belongs to; ``None`` for a token
    # issued before tokens named it.
    session_id: uuid.UUID | None = None


def issue_access_token(
    secret: str,
    algorithm: str,
    user_id: uuid.UUID,
    org_id: uuid.UUID,
    ttl_s: int,
    *,
    session_id: uuid.UUID,
) -> str:
    """A signed access token for ``user_id`` in ``org_id``, naming its login session
    (``sid``: the refresh-token family id) so that revoking the session ends it."""
    now = utcnow()
    payload = {
        "iss": _ISSUER,
        "sub": str(user_id),
        "org": str(org_id),
        "sid": str(session_id),
        "typ": "access",
        "iat": int(now.timestamp()),
        "exp": int((now + dt.timedelta(seconds=ttl_s)).timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, secret, algorithm=algorithm)


def decode_access_token(secret: str, algorithm: str, token: str) -> AccessClaims:
    """Verify signature, expiry, issuer and type. Raises :class:`InvalidToken`.

    Whether the token's session is still live is the caller's check (``session_id``).
    """
    try:
        payload = jwt.decode(
            token, secret, algorithms=[algorithm], issuer=_ISSUER, options={"require": ["exp"]}
        )
        if payload.get("typ") != "access":
            raise InvalidToken("not an access token")
        sid = payload.get("sid")
        return AccessClaims(
            user_id=uuid.UUID(payload["sub"]),
            org_id=uuid.UUID(payload["org"]),
            expires_at=dt.datetime.fromtimestamp(payload["exp"], dt.UTC),
            session_id=uuid.UUID(sid) if sid is not None else None,
        )
    except (jwt.PyJWTError, KeyError, ValueError) as exc:
        raise InvalidToken("invalid access token") from exc


def new_refresh_token() -> tuple[str, str]:
    """A new refresh token and its hash (only the hash is stored)."""
    token = "rt_" + random_token(32)
    return token, sha256_hex(token)


def new_invite_token() -> tuple[str, str]:
    token = "inv_" + random_token(24)
    return token, sha256_hex(token)


def new_api_key() -> tuple[str, str, str]:
    """A new API key, its display prefix and its hash (only prefix and hash are stored)."""
    key = API_KEY_PREFIX + random_token(32)
    return key, key[:10], sha256_hex(key)


def looks_like_api_key(value: str) -> bool:
    return value.startswith(API_KEY_PREFIX)
