"""Provider rules: org admins manage providers; credentials are sealed with AES-256-GCM.

A provider's base URL is an outbound destination like any other: it must reach a public
address or a host on the operator's allow-list (`kit.netguard`). It is checked when stored
(422 on ``base_url``) and again at every connection, by the guarded HTTP client.
"""

from __future__ import annotations

import time
import uuid
from urllib.parse import urlsplit

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.errors import Conflict, InvalidInput, NotFound
from agentdeck.kit import netguard
from agentdeck.kit.authz import require_org_role
from agentdeck.kit.crypto import Cipher
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import OrgRole, TenantScope
from agentdeck.llm.errors import LLMError
from agentdeck.llm.providers import list_models
from agentdeck.llm.types import ProviderConfig
from agentdeck.models import Provider
from agentdeck.provider.repository import ProviderRepository, all_with_credentials
from agentdeck.provider.schemas import ProviderCreate, ProviderTestResult, ProviderUpdate


def _context(provider_id: uuid.UUID) -> str:
    # The row id is bound as associated data: a ciphertext copied to another row won't open.
    return f"provider:{provider_id}"


def _hint(api_key: str) -> str:
    return f"{api_key[:3]}…{api_key[-4:]}" if len(api_key) >= 12 else "…"


_ADMINS_ONLY = "only organisation owners and admins manage providers"


def _set_key(provider: Provider, cipher: Cipher, api_key: str | None) -> None:
    if api_key:
        provider.api_key_enc = cipher.encrypt(api_key, context=_context(provider.id))
        provider.api_key_hint = _hint(api_key)
    else:
        provider.api_key_enc = None
        provider.api_key_hint = None


async def check_base_url(url: str | None) -> None:
    """Refuse a base URL whose host resolves to an address the network policy does not
    allow (loopback, private, link-local, metadata...). A name that does not resolve (yet)
    is accepted: every call checks it again. Raises :class:`InvalidInput` on ``base_url``.
    """
    if not url:
        return
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        raise InvalidInput(f"base_url is not a valid URL: {exc}", field="base_url") from exc
    if not parts.hostname:
        raise InvalidInput("base_url has no host", field="base_url")
    try:
        await netguard.public_address(url)
    except netguard.Unresolvable:
        return
    except netguard.PrivateAddress as exc:
        raise InvalidInput(f"base_url: {exc}", field="base_url") from exc


def to_config(provider: Provider, cipher: Cipher) -> ProviderConfig:
    """The gateway's view of a provider, with the key decrypted (never log it)."""
    key = (
        cipher.decrypt(provider.api_key_enc, context=_context(provider.id))
        if provider.api_key_enc
        else None
    )
    return ProviderConfig(
        id=str(provider.id),
        name=provider.name,
        kind=provider.kind,
        api_key=key,
        base_url=provider.base_url,
        models=list(provider.models),
    )


async def create(
    session: AsyncSession, principal: Principal, cipher: Cipher, body: ProviderCreate
) -> Provider:
    """Add a provider. Raises :class:`Conflict` when the name is taken in the org."""
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    repo = ProviderRepository(session, principal.scope)
    if await repo.by_name(body.name) is not None:
        raise Conflict(f"a provider named '{body.name}' already exists", field="name")
    await check_base_url(body.base_url)
    provider = Provider(
        id=uuid.uuid4(),
        org_id=principal.org_id,
        name=body.name,
        kind=body.kind,
        base_url=body.base_url,
        models=body.models,
        enabled=body.enabled,
    )
    _set_key(provider, cipher, body.api_key)
    repo.add(provider)
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="provider.created",
        target_type="provider",
        target_id=provider.id,
        changes={
            "name": body.name,
            "kind": body.kind,
            "base_url": body.base_url,
            "models": body.models,
            "api_key_set": body.api_key is not None,
        },
    )
    return provider


async def get(session: AsyncSession, principal: Principal, provider_id: uuid.UUID) -> Provider:
    """One provider of the caller's org. Raises :class:`NotFound`."""
    provider = await ProviderRepository(session, principal.scope).get(provider_id)
    if provider is None:
        raise NotFound("provider not found")
    return provider


async def list_providers(
    session: AsyncSession, principal: Principal, *, limit: int, cursor: str | None
) -> Page[Provider]:
    return await ProviderRepository(session, principal.scope).list(limit=limit, cursor=cursor)


async def update(
    session: AsyncSession,
    principal: Principal,
    cipher: Cipher,
    provider_id: uuid.UUID,
    body: ProviderUpdate,
) -> Provider:
    """Change a provider; ``api_key: ""`` removes the stored key."""
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    provider = await get(session, principal, provider_id)
    fields = body.model_dump(exclude_unset=True)
    changes: dict[str, object] = {}
    new_name = fields.get("name")
    if (
        new_name
        and new_name != provider.name
        and await ProviderRepository(session, principal.scope).by_name(new_name)
    ):
        raise Conflict(f"a provider named '{fields['name']}' already exists", field="name")
    await check_base_url(fields.get("base_url"))
    for name in ("name", "base_url", "models", "enabled"):
        if name in fields and fields[name] is not None and getattr(provider, name) != fields[name]:
            changes[name] = {"from": getattr(provider, name), "to": fields[name]}
            setattr(provider, name, fields[name])
    if body.base_url == "":
        provider.base_url = None
    if "api_key" in fields:
        _set_key(provider, cipher, body.api_key or None)
        changes["api_key_changed"] = True
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="provider.updated",
        target_type="provider",
        target_id=provider.id,
        changes=changes,
    )
    return provider


async def delete(session: AsyncSession, principal: Principal, provider_id: uuid.UUID) -> None:
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    provider = await get(session, principal, provider_id)
    await ProviderRepository(session, principal.scope).delete(provider)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="provider.deleted",
        target_type="provider",
        target_id=provider_id,
        changes={"name": provider.name},
    )


async def check_connection(
    session: AsyncSession,
    principal: Principal,
    cipher: Cipher,
    provider_id: uuid.UUID,
    http_client: httpx2.AsyncClient,
) -> ProviderTestResult:
    """Ask the provider for its models: proves the URL and the key work. Never raises for
    a provider failure; the result says what went wrong in our words: reachability, the
    status code, an error class. Never the provider's answer text (nor the key)."""
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    config = to_config(await get(session, principal, provider_id), cipher)
    started = time.perf_counter()
    try:
        models = await list_models(config, http_client)
    except LLMError as exc:
        return _failed(exc, round((time.perf_counter() - started) * 1000, 1))
    return ProviderTestResult(
        ok=True, models=sorted(models), latency_ms=round((time.perf_counter() - started) * 1000, 1)
    )


_FAILURES = {
    "blocked": f"the base_url host is not allowed by the network policy ({netguard.SETTING})",
    "unreachable": "the provider could not be reached",
    "invalid_response": "the provider did not answer with a model list",
    "config": "the provider needs a base_url",
}


def _failed(exc: LLMError, latency_ms: float) -> ProviderTestResult:
    status = exc.extra.get("http_status")
    reason = exc.extra.get("reason")
    if isinstance(status, int):
        return ProviderTestResult(
            ok=False, models=[], latency_ms=latency_ms, status_code=status,
            error_type="http_status", error=f"the provider answered HTTP {status}",
        )  # fmt: skip
    if reason not in ("blocked", "unreachable", "invalid_response", "config"):
        reason = "unreachable"
    error = _FAILURES[reason]
    if reason == "unreachable" and isinstance(exc.extra.get("error_class"), str):
        error += f" ({exc.extra['error_class']})"
    return ProviderTestResult(
        ok=False, models=[], latency_ms=latency_ms, error_type=reason, error=error
    )


async def rotate_master_key(session: AsyncSession, cipher: Cipher) -> int:
    """Re-encrypt every stored credential under the cipher's primary key; returns how many
    changed. Ciphertexts under older keys must still open (pass them as ``older``)."""
    changed = 0
    for provider in await all_with_credentials(session):
        assert provider.api_key_enc is not None
        if Cipher.key_id_of(provider.api_key_enc) == cipher.primary_key_id:
            continue
        plain = cipher.decrypt(provider.api_key_enc, context=_context(provider.id))
        provider.api_key_enc = cipher.encrypt(plain, context=_context(provider.id))
        changed += 1
    return changed


async def enabled_providers(session: AsyncSession, scope: TenantScope) -> list[Provider]:
    """The org's enabled providers (rows; decrypt with :func:`to_config`)."""
    return list(await ProviderRepository(session, scope).enabled())
