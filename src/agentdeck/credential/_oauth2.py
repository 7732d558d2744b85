"""OAuth2 token refresh: the token request, and the one lock per credential of the process.

The token request is form-encoded (``grant_type=refresh_token``, client id and secret in
the body, RFC 6749 §6) and goes through the caller's guarded HTTP client, so the network
policy (`kit.netguard`) judges the token URL at every call. Nothing of the answer's body
is kept but the tokens and, for an error, the RFC's error code.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
import weakref
from dataclasses import dataclass
from typing import Literal

import httpx2

from agentdeck.kit import netguard
from agentdeck.kit.headers import value_problem

TOKEN_TIMEOUT_S = 15.0
_ERROR_CODE = re.compile(r"[a-z_]{1,40}")
_MAX_ANSWER = 64 * 1024

# One lock per credential id, for the whole process: concurrent runs that need the same
# refresh wait for the first one and then read its tokens. Weak values: a lock lives only
# while someone holds or waits for it.
_refresh_locks: weakref.WeakValueDictionary[uuid.UUID, asyncio.Lock] = weakref.WeakValueDictionary()


def refresh_lock(credential_id: uuid.UUID) -> asyncio.Lock:
    """The process's lock for refreshing this credential's tokens."""
    lock = _refresh_locks.get(credential_id)
    if lock is None:
        lock = asyncio.Lock()
        _refresh_locks[credential_id] = lock
    return lock


FailureReason = Literal[
    "invalid_grant", "http_status", "unreachable", "blocked", "invalid_response"
]


class TokenRequestFailed(Exception):
    """The token endpoint did not give new tokens. ``reason`` says why in our words;
    ``error_code`` is the RFC 6749 error code the server sent, if any."""

    def __init__(
        self,
        reason: FailureReason,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason: FailureReason = reason
        self.status_code = status_code
        self.error_code = error_code


@dataclass(frozen=True, slots=True)
class Tokens:
    access_token: str
    refresh_token: str | None
    expires_at: dt.datetime | None


async def refresh_tokens(
    http: httpx2.AsyncClient,
    *,
    token_url: str,
    client_id: str,
    client_secret: str | None,
    refresh_token: str,
    scopes: list[str] | None,
    now: dt.datetime,
) -> Tokens:
    """Exchange ``refresh_token`` for new tokens. Raises :class:`TokenRequestFailed`
    (``invalid_grant`` when the server says the grant is no longer valid)."""
    form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    if client_secret:
        form["client_secret"] = client_secret
    if scopes:
        form["scope"] = " ".join(scopes)
    try:
        response = await http.post(
            token_url,
            data=form,
            headers={"Accept": "application/json"},
            timeout=TOKEN_TIMEOUT_S,
        )
    except netguard.BlockedAddress as exc:
        raise TokenRequestFailed(
            "blocked", f"the token URL's host is not allowed by the network policy "
            f"({netguard.SETTING})",
        ) from exc  # fmt: skip
    except httpx2.HTTPError as exc:
        raise TokenRequestFailed(
            "unreachable", f"the token URL could not be reached ({type(exc).__name__})"
        ) from exc
    return _tokens_of(response, now)


def _json_object(response: httpx2.Response) -> dict[str, object] | None:
    if len(response.content) > _MAX_ANSWER:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _tokens_of(response: httpx2.Response, now: dt.datetime) -> Tokens:
    body = _json_object(response)
    if response.status_code >= 400:
        code = body.get("error") if body else None
        code = code if isinstance(code, str) and _ERROR_CODE.fullmatch(code) else None
        if code == "invalid_grant":
            raise TokenRequestFailed(
                "invalid_grant",
                "the authorisation server refused the refresh token (invalid_grant): "
                "the credential must be authorised again",
                status_code=response.status_code,
                error_code=code,
            )
        suffix = f" ({code})" if code else ""
        raise TokenRequestFailed(
            "http_status",
            f"the token URL answered HTTP {response.status_code}{suffix}",
            status_code=response.status_code,
            error_code=code,
        )
    access = body.get("access_token") if body else None
    if not isinstance(access, str) or not access or value_problem(access) is not None:
        raise TokenRequestFailed(
            "invalid_response", "the token URL did not answer with a usable access token",
            status_code=response.status_code,
        )  # fmt: skip
    assert body is not None
    refresh = body.get("refresh_token")
    expires_in = body.get("expires_in")
    expires_at = None
    if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
        expires_at = now + dt.timedelta(seconds=max(0.0, min(float(expires_in), 10 * 365 * 86400)))
    return Tokens(
        access_token=access,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=expires_at,
    )
