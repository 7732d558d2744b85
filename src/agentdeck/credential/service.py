"""Credential rules: who manages and who uses a credential, sealing secrets, auth headers.

**Who.** Anyone in the organisation reads the org-wide credentials, and the ones limited
to a space they can see (a key limited to some spaces: those spaces'). Reading shows the
kind, the name, the non-secret fields and a masked hint, never a secret. *Managing*
(create, change, delete, ``/test``) needs the `write` scope of a key and: for an org-wide
credential, the org role admin or owner; for a credential limited to a space, the editor
or owner role there. ``/test`` is management because it sends the secret to a URL the
caller chooses. *Using* a credential (a toolset of a space naming it) is for that space's
editors; the tools feature checks that with :func:`usable_in_space`.

**Sealing.** All the secrets of one credential are one JSON object, sealed with the master
key (AES-256-GCM, `kit.crypto`) and bound to ``credential:{org_id}:{id}`` as associated
data: a ciphertext copied to another row does not open (:class:`CredentialUnreadable`).

**Using.** :func:`auth_headers` is what the tools feature calls before every request.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx2
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.credential import _kinds, _oauth2
from agentdeck.credential.repository import CredentialRepository, all_credentials
from agentdeck.credential.schemas import (
    CredentialCreate,
    CredentialOut,
    CredentialTest,
    CredentialTestResult,
    CredentialUpdate,
)
from agentdeck.errors import AppError, Conflict, InvalidInput, NotFound
from agentdeck.kit import authz, netguard
from agentdeck.kit.crypto import Cipher, DecryptionError
from agentdeck.kit.db import as_utc, utcnow
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import (
    OrgRole,
    SpaceRole,
    TenantScope,
)
from agentdeck.models import Credential

log = structlog.get_logger(__name__)

ACTIVE, NEEDS_REAUTH = "active", "needs_reauth"
REFRESH_MARGIN = dt.timedelta(seconds=60)
"""An OAuth2 access token that expires within this is refreshed before it is used."""
_TEST_TIMEOUT_S = 15.0


class CredentialNeedsReauth(AppError):
    """The OAuth2 credential must be authorised again (its refresh was refused, or it has
    expired without a refresh token); PATCH new tokens to make it active again."""

    status, type, title = 409, "credential-needs-reauth", "The credential must be authorised again"


class CredentialRefreshFailed(AppError):
    """The OAuth2 token URL did not give new tokens (unreachable, blocked, an error status,
    a bad answer). ``extra``: ``reason`` and ``status_code``; never the answer's body."""

    status, type, title = 502, "credential-refresh-failed", "The credential could not be refreshed"


class CredentialUnreadable(AppError):
    """The stored secret does not decrypt: it was not sealed for this credential (copied
    from another row) or under a master key this process holds. Set the secret again."""

    status, type, title = 409, "credential-unreadable", "The credential's secret cannot be read"


# --- sealing ------------------------------------------------------------------------------


def _context(org_id: uuid.UUID, credential_id: uuid.UUID) -> str:
    return f"credential:{org_id}:{credential_id}"


def _seal(cipher: Cipher, row: Credential, secret: dict[str, Any]) -> None:
    row.secret_enc = cipher.encrypt(json.dumps(secret), context=_context(row.org_id, row.id))
    row.hint = _kinds.hint(row.kind, secret)


def _open(cipher: Cipher, row: Credential) -> dict[str, Any]:
    try:
        value = json.loads(cipher.decrypt(row.secret_enc, context=_context(row.org_id, row.id)))
    except (DecryptionError, ValueError) as exc:
        log.warning("credential.unreadable", credential_id=str(row.id))
        raise CredentialUnreadable(
            f"the stored secret of credential {row.id} cannot be decrypted: it was not "
            "written for this credential or under a current master key; set it again"
        ) from exc
    if not isinstance(value, dict):
        raise CredentialUnreadable(f"the stored secret of credential {row.id} is malformed")
    return value


def to_out(row: Credential) -> CredentialOut:
    """The API's view of a credential: no secret, a masked hint."""
    config = row.config or {}
    return CredentialOut(
        id=row.id,
        name=row.name,
        kind=row.kind,
        space_id=row.space_id,
        status=row.status,
        hint=row.hint,
        header_name=config.get("header_name"),
        username=config.get("username"),
        header_names=config.get("header_names"),
        client_id=config.get("client_id"),
        token_url=config.get("token_url"),
        scopes=config.get("scopes"),
        expires_at=row.expires_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


# --- checks -------------------------------------------------------------------------------


def _require_manage(principal: Principal, space_id: uuid.UUID | None) -> None:
    """Org-wide: org admins and owners. In a space: its editors and owners (404 when the
    caller cannot see the space)."""
    scope = principal.scope
    if space_id is None:
        denied = "only organisation owners and admins manage org-wide credentials"
        authz.require_org_role(scope, OrgRole.ADMIN, denied)
        return
    denied = "you need the editor role in the credential's space to manage it"
    authz.require_space_role(scope, space_id, SpaceRole.EDITOR, denied)


def _check_kind_fields(kind: str, fields: dict[str, Any]) -> None:
    foreign = sorted(
        n
        for n in fields
        if n in _kinds.all_kind_fields()
        and n not in _kinds.fields_of(kind)
        and fields[n] is not None
    )
    if foreign:
        raise InvalidInput(f"{foreign[0]} is not a field of a {kind} credential", field=foreign[0])


def _check_complete(kind: str, config: dict[str, Any], secret: dict[str, Any]) -> None:
    for name in _kinds.REQUIRED[kind]:
        present = secret.get(name) if name in _kinds.SECRET_FIELDS[kind] else config.get(name)
        if not present:
            raise InvalidInput(f"a {kind} credential needs {name}", field=name)
    if kind == "oauth2" and not (secret.get("access_token") or secret.get("refresh_token")):
        raise InvalidInput(
            "an oauth2 credential needs an access_token or a refresh_token", field="refresh_token"
        )


async def _check_token_url(url: str | None) -> None:
    """Refuse a token URL the network policy would refuse (422 ``token_url``); a name that
    does not resolve yet is accepted, every refresh checks it again."""
    if not url:
        return
    try:
        if not urlsplit(url).hostname:
            raise InvalidInput("token_url has no host", field="token_url")
        await netguard.public_address(url)
    except netguard.Unresolvable:
        return
    except netguard.PrivateAddress as exc:
        raise InvalidInput(f"token_url: {exc}", field="token_url") from exc
    except ValueError as exc:
        raise InvalidInput(f"token_url is not a valid URL: {exc}", field="token_url") from exc


def _apply(row: Credential, secret: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """Set the kind's fields on ``row`` and ``secret`` (None removes one); the new secret."""
    kind = row.kind
    secret = dict(secret)
    for name in _kinds.SECRET_FIELDS[kind]:
        if name in fields:
            if fields[name] is None:
                secret.pop(name, None)
            else:
                secret[name] = fields[name]
    config = _kinds.config_of(kind, fields, row.config or {})
    if kind == "headers":
        config["header_names"] = _kinds.header_names(kind, secret)
    row.config = {k: v for k, v in config.items() if v is not None}
    if kind == "oauth2":
        if "expires_at" in fields or "access_token" in fields:
            expires = fields.get("expires_at")
            row.expires_at = as_utc(expires) if expires else None
        if "access_token" in fields or "refresh_token" in fields:
            row.status = ACTIVE
            row.token_version += 1
    return secret


# --- management ---------------------------------------------------------------------------


async def create(
    session: AsyncSession, principal: Principal, cipher: Cipher, body: CredentialCreate
) -> Credential:
    """Store a credential. Raises :class:`InvalidInput` naming a field the kind lacks or
    does not use, :class:`Conflict` for a name taken at the same level (org-wide, or in
    the same space), :class:`Forbidden`/:class:`NotFound` (see the module)."""
    _require_manage(principal, body.space_id)
    fields = body.model_dump(exclude_unset=True, exclude={"name", "kind", "space_id"})
    _check_kind_fields(body.kind, fields)
    await _check_token_url(body.token_url)
    repo = CredentialRepository(session, principal.scope)
    if await repo.by_name(body.name, body.space_id) is not None:
        raise Conflict(f"a credential named '{body.name}' already exists here", field="name")
    row = Credential(
        id=uuid.uuid4(),
        org_id=principal.org_id,
        space_id=body.space_id,
        name=body.name,
        kind=body.kind,
        status=ACTIVE,
        config={},
        token_version=0,
        created_by=principal.user_id,
    )
    secret = _apply(row, {}, fields)
    _check_complete(row.kind, row.config, secret)
    _seal(cipher, row, secret)
    repo.add(row)
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="credential.created",
        target_type="credential",
        target_id=row.id,
        changes={"name": row.name, "kind": row.kind, "space_id": row.space_id, **row.config},
    )
    return row


async def get(session: AsyncSession, principal: Principal, credential_id: uuid.UUID) -> Credential:
    """A credential the caller can see. Raises :class:`NotFound`."""
    row = await CredentialRepository(session, principal.scope).get(credential_id)
    if row is None:
        raise NotFound("credential not found")
    return row


async def require_manageable(
    session: AsyncSession, principal: Principal, credential_id: uuid.UUID
) -> Credential:
    """A credential the caller may manage. Raises :class:`NotFound`, :class:`Forbidden`."""
    row = await get(session, principal, credential_id)
    _require_manage(principal, row.space_id)
    return row


async def list_credentials(
    session: AsyncSession,
    principal: Principal,
    *,
    space_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Credential]:
    """The credentials the caller can see; with ``space_id``, those usable in that space
    (org-wide, or limited to it). Raises :class:`NotFound` for a space the caller cannot see."""
    if space_id is not None and not principal.scope.can_see_space(space_id):
        raise NotFound("space not found", field="space_id")
    return await CredentialRepository(session, principal.scope).list(
        space_id=space_id, limit=limit, cursor=cursor
    )


async def update(
    session: AsyncSession,
    principal: Principal,
    cipher: Cipher,
    credential_id: uuid.UUID,
    body: CredentialUpdate,
) -> Credential:
    """Change a credential's name or its kind's fields; a secret sent replaces the stored
    one. Raises as :func:`create`, and :class:`CredentialUnreadable` when the stored
    secret cannot be read and the change does not replace all of it."""
    row = await require_manageable(session, principal, credential_id)
    fields = body.model_dump(exclude_unset=True, exclude={"name"})
    _check_kind_fields(row.kind, fields)
    await _check_token_url(fields.get("token_url"))
    changes: dict[str, Any] = {}
    if body.name is not None and body.name != row.name:
        if await CredentialRepository(session, principal.scope).by_name(body.name, row.space_id):
            raise Conflict(f"a credential named '{body.name}' already exists here", field="name")
        changes["name"] = {"from": row.name, "to": body.name}
        row.name = body.name
    if fields:
        try:
            stored = _open(cipher, row)
        except CredentialUnreadable:
            stored = {}  # the change must then give every secret the kind needs
        before = dict(row.config or {})
        secret = _apply(row, stored, fields)
        try:
            _check_complete(row.kind, row.config, secret)
        except InvalidInput:
            if not stored:
                raise CredentialUnreadable(
                    "the stored secret cannot be decrypted; send all of it again"
                ) from None
            raise
        _seal(cipher, row, secret)
        changes.update(audit.changed_fields(before, row.config))
        changes["changed_fields"] = sorted(fields)
    if changes:
        row.updated_at = utcnow()
        audit.record(
            session,
            org_id=principal.org_id,
            actor=principal.actor,
            action="credential.updated",
            target_type="credential",
            target_id=row.id,
            changes=changes,
        )
    return row


async def delete(session: AsyncSession, principal: Principal, credential_id: uuid.UUID) -> None:
    """Remove a credential and its secrets."""
    row = await require_manageable(session, principal, credential_id)
    await CredentialRepository(session, principal.scope).delete(row)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="credential.deleted",
        target_type="credential",
        target_id=credential_id,
        changes={"name": row.name, "kind": row.kind},
    )


# --- use ----------------------------------------------------------------------------------


async def usable_in_space(
    session: AsyncSession, scope: TenantScope, credential_id: uuid.UUID, space_id: uuid.UUID
) -> CredentialOut:
    """The credential, when something of ``space_id`` (a toolset) may use it: it is
    org-wide or limited to that space, and ``scope`` sees it. Raises :class:`NotFound`
    (naming ``credential_id``) otherwise. Role checks on the space are the caller's."""
    row = await CredentialRepository(session, scope).get(credential_id)
    if row is None or (row.space_id is not None and row.space_id != space_id):
        raise NotFound("credential not found", field="credential_id")
    return to_out(row)


def _fresh(row: Credential, secret: dict[str, Any], now: dt.datetime) -> bool:
    if not secret.get("access_token"):
        return False
    return row.expires_at is None or row.expires_at - now > REFRESH_MARGIN


async def auth_headers(
    sessions: async_sessionmaker[AsyncSession],
    cipher: Cipher,
    scope: TenantScope,
    credential_id: uuid.UUID,
    *,
    http: httpx2.AsyncClient,
) -> dict[str, str]:
    """The headers a request authenticated by this credential must carry: api_key
    ``{header_name: value}``, bearer and oauth2 ``Authorization: Bearer ...``, basic
    ``Authorization: Basic base64(user:password)``, headers: all of them. Never log them.

    An OAuth2 access token that expires within :data:`REFRESH_MARGIN` is refreshed first,
    once for all concurrent callers: one lock per credential in the process, and the row
    locked (PostgreSQL ``FOR UPDATE``; SQLite's one writer) and checked again inside, so
    another process that refreshed meanwhile is seen and not repeated. New tokens are
    committed at once (a rotated refresh token must not be lost with a failing run).

    ``sessions`` opens this function's own short transactions: call it outside any open
    transaction (on SQLite a second writer waits for the first). ``http`` must be the
    runtime's guarded client (``Runtime.http()``), so netguard judges the token URL.

    Raises :class:`NotFound` when ``scope`` cannot see the credential (another org, or a
    space outside the scope), :class:`CredentialNeedsReauth` (the refresh was answered
    ``invalid_grant``: the credential is marked ``needs_reauth`` and audited),
    :class:`CredentialRefreshFailed`, :class:`CredentialUnreadable`.
    """
    async with sessions() as session:
        row = await CredentialRepository(session, scope).get(credential_id)
        if row is None:
            raise NotFound("credential not found", field="credential_id")
        secret = _open(cipher, row)
    if row.kind != "oauth2":
        return _kinds.headers_for(row.kind, row.config, secret)
    if row.status == NEEDS_REAUTH:
        raise CredentialNeedsReauth(_reauth_detail(row))
    if _fresh(row, secret, utcnow()):
        return _kinds.headers_for(row.kind, row.config, secret)
    async with _oauth2.refresh_lock(credential_id), sessions() as session:
        try:
            headers = await _refresh(session, cipher, scope, credential_id, http)
        except CredentialNeedsReauth:
            await session.commit()  # the status and its audit entry stay
            raise
        await session.commit()
        return headers


def _reauth_detail(row: Credential) -> str:
    return (
        f"credential '{row.name}' must be authorised again (its refresh token was refused); "
        "update it with new tokens"
    )


async def _refresh(
    session: AsyncSession,
    cipher: Cipher,
    scope: TenantScope,
    credential_id: uuid.UUID,
    http: httpx2.AsyncClient,
) -> dict[str, str]:
    row = await CredentialRepository(session, scope).for_update(credential_id)
    if row is None:
        raise NotFound("credential not found", field="credential_id")
    secret = _open(cipher, row)
    if row.status == NEEDS_REAUTH:
        raise CredentialNeedsReauth(_reauth_detail(row))
    now = utcnow()
    if _fresh(row, secret, now):  # refreshed by the one who held the lock before us
        return _kinds.headers_for(row.kind, row.config, secret)
    refresh_token = secret.get("refresh_token")
    if not refresh_token:
        _mark_needs_reauth(session, row, scope, "expired without a refresh token")
        raise CredentialNeedsReauth(
            f"credential '{row.name}' has expired and has no refresh token; update it"
        )
    try:
        tokens = await _oauth2.refresh_tokens(
            http,
            token_url=str(row.config.get("token_url")),
            client_id=str(row.config.get("client_id")),
            client_secret=secret.get("client_secret"),
            refresh_token=refresh_token,
            scopes=row.config.get("scopes"),
            now=now,
        )
    except _oauth2.TokenRequestFailed as exc:
        if exc.reason == "invalid_grant":
            _mark_needs_reauth(session, row, scope, "invalid_grant")
            raise CredentialNeedsReauth(_reauth_detail(row)) from None
        log.warning("credential.refresh_failed", credential_id=str(row.id), reason=exc.reason)
        raise CredentialRefreshFailed(
            f"credential '{row.name}': {exc}",
            extra={"reason": exc.reason, "status_code": exc.status_code},
        ) from None
    secret = {
        **secret,
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token or refresh_token,
    }
    _seal(cipher, row, secret)
    row.expires_at = tokens.expires_at
    row.token_version += 1
    log.info("credential.refreshed", credential_id=str(row.id))
    return _kinds.headers_for(row.kind, row.config, secret)


def _mark_needs_reauth(
    session: AsyncSession, row: Credential, scope: TenantScope, reason: str
) -> None:
    row.status = NEEDS_REAUTH
    log.warning("credential.needs_reauth", credential_id=str(row.id), reason=reason)
    audit.record(
        session,
        org_id=row.org_id,
        actor=audit.Actor(type="system", id=None, user_id=scope.user_id),
        action="credential.needs_reauth",
        target_type="credential",
        target_id=row.id,
        changes={"name": row.name, "reason": reason},
    )


async def check(
    sessions: async_sessionmaker[AsyncSession],
    cipher: Cipher,
    scope: TenantScope,
    credential_id: uuid.UUID,
    body: CredentialTest | None,
    *,
    http: httpx2.AsyncClient,
) -> CredentialTestResult:
    """``/test``: the secret opens and, for OAuth2, is refreshed if needed; with a
    ``test_url``, a GET with the headers reports reachability and the status code (never
    the body). Never raises for a credential that does not work: the result says why.
    Call outside any open transaction (see :func:`auth_headers`)."""
    try:
        headers = await auth_headers(sessions, cipher, scope, credential_id, http=http)
    except CredentialNeedsReauth as exc:
        return CredentialTestResult(ok=False, error_type="needs_reauth", error=exc.detail)
    except CredentialRefreshFailed as exc:
        status = exc.extra.get("status_code")
        return CredentialTestResult(
            ok=False, error_type="refresh_failed", error=exc.detail,
            status_code=status if isinstance(status, int) else None,
        )  # fmt: skip
    except CredentialUnreadable as exc:
        return CredentialTestResult(ok=False, error_type="unreadable", error=exc.detail)
    if body is None or body.test_url is None:
        return CredentialTestResult(ok=True)
    try:
        async with http.stream(
            "GET", body.test_url, headers=headers, timeout=_TEST_TIMEOUT_S
        ) as response:
            status = response.status_code
    except netguard.BlockedAddress:
        return CredentialTestResult(
            ok=False, error_type="blocked",
            error=f"the test URL's host is not allowed by the network policy ({netguard.SETTING})",
        )  # fmt: skip
    except httpx2.HTTPError as exc:
        return CredentialTestResult(
            ok=False, error_type="unreachable",
            error=f"the test URL could not be reached ({type(exc).__name__})",
        )  # fmt: skip
    if status >= 400:
        return CredentialTestResult(
            ok=False, status_code=status, error_type="http_status",
            error=f"the test URL answered HTTP {status}",
        )  # fmt: skip
    return CredentialTestResult(ok=True, status_code=status)


# --- master key -----------------------------------------------------------------------------


async def rotate_master_key(session: AsyncSession, cipher: Cipher) -> int:
    """Re-encrypt every credential's secret under the cipher's primary key; returns how
    many changed. Ciphertexts under older keys must still open (pass them as ``older``);
    one that does not open (copied from another row) is left as it is and logged."""
    changed = 0
    for row in await all_credentials(session):
        if Cipher.key_id_of(row.secret_enc) == cipher.primary_key_id:
            continue
        context = _context(row.org_id, row.id)
        try:
            plain = cipher.decrypt(row.secret_enc, context=context)
        except DecryptionError:
            log.warning("credential.rotate_skipped_unreadable", credential_id=str(row.id))
            continue
        row.secret_enc = cipher.encrypt(plain, context=context)
        changed += 1
    return changed
