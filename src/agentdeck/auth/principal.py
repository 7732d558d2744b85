"""Turning a request into a :class:`Principal` with its :class:`TenantScope`.

This module holds the one key that mints scopes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import structlog
from fastapi import Depends
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from agentdeck.api import RuntimeDep, SessionDep
from agentdeck.audit.service import Actor
from agentdeck.auth.principal_cache import principal_cache
from agentdeck.auth.repository import AuthRepository
from agentdeck.auth.revocations import session_revocations
from agentdeck.auth.tokens import InvalidToken, decode_access_token, looks_like_api_key
from agentdeck.errors import Forbidden, Unauthorized
from agentdeck.kit.authz import require_space_role
from agentdeck.kit.crypto import sha256_hex
from agentdeck.kit.db import utcnow
from agentdeck.kit.tenancy import (
    KeyScope,
    OrgRole,
    SpaceRole,
    TenantScope,
    claim_mint_key,
    key_scopes_grant,
)

_MINT_KEY = claim_mint_key()
_TOUCH_EVERY = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller: a user session or an API key, inside one organisation.

    ``space_limited`` is true for an API key limited to some spaces: it acts only inside
    them, holds the org role ``member`` whatever its creator's role, and is refused by the
    org-level routes (see :data:`OrgReader` and :data:`OrgAdmin`).
    """

    kind: Literal["user", "api_key"]
    user_id: uuid.UUID
    scope: TenantScope
    space_limited: bool = False
    expires_at: dt.datetime | None = None
    """When the API key expires (None: never, or a user)."""

    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= utcnow()

    @property
    def org_id(self) -> uuid.UUID:
        return self.scope.org_id

    @property
    def api_key_id(self) -> uuid.UUID | None:
        return self.scope.api_key_id

    @property
    def actor(self) -> Actor:
        if self.kind == "api_key":
            return Actor(type="api_key", id=self.scope.api_key_id, user_id=self.user_id)
        return Actor(type="user", id=self.user_id, user_id=self.user_id)


def mint_scope(
    *,
    org_id: uuid.UUID,
    org_role: OrgRole,
    space_roles: dict[uuid.UUID, SpaceRole],
    user_id: uuid.UUID,
    api_key_id: uuid.UUID | None = None,
    key_scopes: frozenset[KeyScope] | None = None,
) -> TenantScope:
    """Create a scope. Only auth calls this, after it has verified the caller."""
    return TenantScope(
        org_id=org_id,
        org_role=org_role,
        space_roles=space_roles,
        user_id=user_id,
        api_key_id=api_key_id,
        key_scopes=key_scopes,
        _mint=_MINT_KEY,
    )


async def scope_for_user(
    repo: AuthRepository, org_id: uuid.UUID, user_id: uuid.UUID
) -> TenantScope:
    """The scope of a user in an org. Raises :class:`Unauthorized` when not a member."""
    membership = await repo.membership(org_id, user_id)
    if membership is None:
        raise Unauthorized("not a member of this organisation")
    role = OrgRole(membership.role)
    return mint_scope(
        org_id=org_id,
        org_role=role,
        space_roles=await repo.space_roles(org_id, user_id, role),
        user_id=user_id,
    )


def scope_for_background_work(
    *,
    org_id: uuid.UUID,
    space_id: uuid.UUID,
    user_id: uuid.UUID,
    api_key_id: uuid.UUID | None = None,
) -> TenantScope:
    """The scope of work a worker does for a run: its org, and only the run's space.

    Tasks carry ids, not scopes; the worker asks auth for this narrow scope when it needs to
    read tenant-owned rows through other features' services (e.g. the org's models).
    """
    return mint_scope(
        org_id=org_id,
        org_role=OrgRole.MEMBER,
        space_roles={space_id: SpaceRole.EDITOR},
        user_id=user_id,
        api_key_id=api_key_id,
    )


def require_runner(principal: Principal, space_id: uuid.UUID, what: str) -> None:
    """Editors, or API keys with the `run` scope, run agents and use threads in a space.

    Raises :class:`NotFound` (naming ``what``) when the space is invisible to the caller and
    :class:`Forbidden` when the role or the key scope is too low.
    """
    denied = f"this needs the editor role in the {what}'s space"
    require_space_role(
        principal.scope, space_id, SpaceRole.EDITOR, denied,
        missing=f"{what} not found", field=None, key_scope=KeyScope.RUN,
    )  # fmt: skip


_bearer = HTTPBearer(auto_error=False, description="JWT access token or an `ad_` API key")
_api_key_header = APIKeyHeader(name="X-Api-Key", auto_error=False)


async def _from_api_key(repo: AuthRepository, key: str) -> Principal:
    api_key = await repo.api_key_by_hash(sha256_hex(key))
    now = utcnow()
    if api_key is None or api_key.revoked_at is not None:
        raise Unauthorized("invalid API key")
    if api_key.expires_at is not None and api_key.expires_at <= now:
        raise Unauthorized("API key has expired")
    membership = await repo.membership(api_key.org_id, api_key.created_by)
    if membership is None:
        raise Unauthorized("the API key's creator is no longer a member of the organisation")
    role = OrgRole(membership.role)
    # The space roles come from the creator's real org role (an org admin's key limited to
    # a space owns it); only then does a limited key drop to ``member`` for the org.
    roles = await repo.space_roles(api_key.org_id, api_key.created_by, role)
    space_limited = api_key.space_ids is not None
    if api_key.space_ids is not None:
        allowed = {uuid.UUID(s) for s in api_key.space_ids}
        roles = {sid: r for sid, r in roles.items() if sid in allowed}
        role = OrgRole.MEMBER
    if api_key.last_used_at is None or now - api_key.last_used_at > _TOUCH_EVERY:
        await repo.touch_api_key(api_key.id, now)
    scope = mint_scope(
        org_id=api_key.org_id,
        org_role=role,
        space_roles=roles,
        user_id=api_key.created_by,
        api_key_id=api_key.id,
        key_scopes=frozenset(KeyScope(s) for s in api_key.scopes),
    )
    return Principal(
        kind="api_key", user_id=api_key.created_by, scope=scope, space_limited=space_limited,
        expires_at=api_key.expires_at,
    )  # fmt: skip


async def _session_ended(repo: AuthRepository, session_id: uuid.UUID | None) -> bool:
    """True when the access token's login session was revoked (logout, refresh reuse).

    A token without a session (issued before tokens named theirs) is refused too: it
    could not be revoked, and its client gets a new one by refreshing.
    """
    if session_id is None:
        return True
    revoked = session_revocations.cached(session_id)
    if revoked is None:
        revoked = await repo.refresh_family_revoked(session_id)
        session_revocations.remember(session_id, revoked)
    return revoked


async def get_principal(
    connection: HTTPConnection,
    runtime: RuntimeDep,
    session: SessionDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> Principal:
    """Authenticate the request (or WebSocket) by API key (``X-Api-Key`` or Bearer
    ``ad_...``) or JWT."""
    repo = AuthRepository(session)
    token = api_key or (bearer.credentials if bearer else None)
    if not token:
        raise Unauthorized("missing credentials: send a Bearer token or an X-Api-Key header")
    generation = principal_cache.generation
    principal: Principal | None
    if looks_like_api_key(token):
        key = "key:" + sha256_hex(token)
        principal = principal_cache.get(key)
        if principal is None or principal.expired():
            principal = await _from_api_key(repo, token)
            principal_cache.put(key, principal, generation)
    else:
        auth = runtime.settings.auth
        try:
            claims = decode_access_token(runtime.jwt_secret, auth.jwt_algorithm, token)
        except InvalidToken as exc:
            raise Unauthorized("invalid or expired access token") from exc
        if await _session_ended(repo, claims.session_id):
            raise Unauthorized("this sign-in has ended (signed out or revoked); sign in again")
        key = f"user:{claims.org_id}:{claims.user_id}"
        principal = principal_cache.get(key)
        if principal is None:
            user = await repo.user_by_id(claims.user_id)
            if user is None or not user.is_active:
                raise Unauthorized("invalid or expired access token")
            scope = await scope_for_user(repo, claims.org_id, claims.user_id)
            principal = Principal(kind="user", user_id=claims.user_id, scope=scope)
            principal_cache.put(key, principal, generation)
    structlog.contextvars.bind_contextvars(
        org_id=str(principal.org_id), user_id=str(principal.user_id)
    )
    connection.state.principal = principal
    return principal


def require(needed: KeyScope, *, org_wide: bool = False) -> Any:
    """A dependency: the caller, who must hold ``needed`` if they use an API key.

    With ``org_wide``, an API key limited to some spaces is refused too (403): the route
    acts on, or lists, the organisation beyond any one space.
    """

    async def _check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        scopes = principal.scope.key_scopes
        if scopes is not None and not key_scopes_grant(scopes, needed):
            raise Forbidden(f"this API key lacks the '{needed.value}' scope")
        if org_wide and principal.space_limited:
            raise Forbidden(
                "this API key is limited to some spaces; this needs a key for the whole "
                "organisation"
            )
        return principal

    return Depends(_check)


Reader = Annotated[Principal, require(KeyScope.READ)]
Runner = Annotated[Principal, require(KeyScope.RUN)]
Writer = Annotated[Principal, require(KeyScope.WRITE)]
Admin = Annotated[Principal, require(KeyScope.ADMIN)]
# Org-level routes (members, invitations, API keys, audit log, providers, aliases): a
# space-limited key is refused, whatever its scopes.
OrgReader = Annotated[Principal, require(KeyScope.READ, org_wide=True)]
OrgAdmin = Annotated[Principal, require(KeyScope.ADMIN, org_wide=True)]
