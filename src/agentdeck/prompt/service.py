"""Prompt rules: viewers read a space's prompts, editors add versions and move labels.

Versions never change once made. Moving a label (`production` -> version 3) is audited
with where it pointed before. The engine resolves `{ref, label | version}` through
:func:`resolve` (see `resolver.py`), inside the run's space only.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.errors import Conflict, NotFound
from agentdeck.kit.authz import require_space_role
from agentdeck.kit.db import utcnow
from agentdeck.kit.ids import parse_uuid
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import SpaceRole, TenantScope
from agentdeck.models import Prompt, PromptVersion
from agentdeck.prompt.repository import PromptRepository, PromptVersionRepository
from agentdeck.prompt.schemas import PromptCreate, VersionIn


def _require(principal: Principal, space_id: uuid.UUID, minimum: SpaceRole) -> None:
    denied = f"this needs the {minimum.value} role in the prompt's space"
    require_space_role(principal.scope, space_id, minimum, denied)


def _version(prompt: Prompt, number: int, body: VersionIn, user: uuid.UUID) -> PromptVersion:
    return PromptVersion(
        org_id=prompt.org_id,
        space_id=prompt.space_id,
        prompt_id=prompt.id,
        version=number,
        template=body.template,
        system=body.system,
        variables=body.variables,
        created_by=user,
    )


async def create(session: AsyncSession, principal: Principal, body: PromptCreate) -> Prompt:
    """A prompt with version 1 (and the given labels on it). Raises NotFound (space),
    Forbidden (below editor), Conflict (the name exists in the space)."""
    _require(principal, body.space_id, SpaceRole.EDITOR)
    repo = PromptRepository(session, principal.scope)
    if await repo.named(body.space_id, body.name) is not None:
        raise Conflict("a prompt with this name exists in the space", field="name")
    prompt = Prompt(
        org_id=principal.org_id,
        space_id=body.space_id,
        name=body.name,
        description=body.description,
        latest_version=1,
        labels=dict.fromkeys(body.labels, 1),
        created_by=principal.user_id,
    )
    repo.add(prompt)
    await session.flush()
    session.add(_version(prompt, 1, body, principal.user_id))
    audit.record(
        session, org_id=principal.org_id, actor=principal.actor, action="prompt.created",
        target_type="prompt", target_id=prompt.id,
        changes={"name": prompt.name, "space_id": prompt.space_id, "labels": prompt.labels},
    )  # fmt: skip
    return prompt


async def get(session: AsyncSession, principal: Principal, prompt_id: uuid.UUID) -> Prompt:
    """A visible prompt. Raises NotFound."""
    prompt = await PromptRepository(session, principal.scope).get(prompt_id)
    if prompt is None:
        raise NotFound("prompt not found")
    return prompt


async def list_prompts(
    session: AsyncSession,
    principal: Principal,
    *,
    space_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Prompt]:
    """Prompts of the visible spaces (of one, when given: an invisible one is 404)."""
    if space_id is not None:
        _require(principal, space_id, SpaceRole.VIEWER)
    return await PromptRepository(session, principal.scope).list(
        space_id, limit=limit, cursor=cursor
    )


async def add_version(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID, body: VersionIn
) -> PromptVersion:
    """The next version (labels stay where they are)."""
    repo = PromptRepository(session, principal.scope)
    prompt = await repo.locked(prompt_id)
    if prompt is None:
        raise NotFound("prompt not found")
    _require(principal, prompt.space_id, SpaceRole.EDITOR)
    prompt.latest_version += 1
    prompt.updated_at = utcnow()
    version = _version(prompt, prompt.latest_version, body, principal.user_id)
    session.add(version)
    await session.flush()
    return version


async def get_version(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID, number: int
) -> PromptVersion:
    prompt = await get(session, principal, prompt_id)
    found = await PromptVersionRepository(session, principal.scope).one(prompt.id, number)
    if found is None:
        raise NotFound(f"version {number} not found", field="version")
    return found


async def list_versions(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID
) -> list[PromptVersion]:
    prompt = await get(session, principal, prompt_id)
    return list(await PromptVersionRepository(session, principal.scope).of(prompt.id))


async def set_label(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID, label: str, number: int
) -> Prompt:
    """Point ``label`` at version ``number`` (audited: from, to). Raises NotFound for the
    prompt or the version, Forbidden below editor."""
    prompt = await PromptRepository(session, principal.scope).locked(prompt_id)
    if prompt is None:
        raise NotFound("prompt not found")
    _require(principal, prompt.space_id, SpaceRole.EDITOR)
    if await PromptVersionRepository(session, principal.scope).one(prompt.id, number) is None:
        raise NotFound(f"version {number} not found", field="version")
    before = (prompt.labels or {}).get(label)
    prompt.labels = {**(prompt.labels or {}), label: number}
    prompt.updated_at = utcnow()
    audit.record(
        session, org_id=principal.org_id, actor=principal.actor, action="prompt.label_moved",
        target_type="prompt", target_id=prompt.id,
        changes={"label": label, "from": before, "to": number},
    )  # fmt: skip
    return prompt


async def delete(session: AsyncSession, principal: Principal, prompt_id: uuid.UUID) -> None:
    prompt = await get(session, principal, prompt_id)
    _require(principal, prompt.space_id, SpaceRole.EDITOR)
    await PromptRepository(session, principal.scope).delete(prompt)
    audit.record(
        session, org_id=principal.org_id, actor=principal.actor, action="prompt.deleted",
        target_type="prompt", target_id=prompt.id, changes={"name": prompt.name},
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Resolved:
    name: str
    version: int
    label: str | None
    template: str
    system: str | None
    variables: dict[str, Any] | None


class PromptNotFound(LookupError):
    """The reference does not name a prompt, label or version of the space."""


async def resolve(
    session: AsyncSession,
    scope: TenantScope,
    space_id: uuid.UUID,
    ref: str,
    *,
    label: str | None,
    version: int | None,
) -> Resolved:
    """The version a run uses: by number, by label, or the latest. ``ref`` is a name (or
    id) in ``space_id``. Raises PromptNotFound."""
    repo = PromptRepository(session, scope)
    prompt_id = parse_uuid(ref)
    prompt = await repo.get(prompt_id) if prompt_id is not None else None
    if prompt is None:
        prompt = await repo.named(space_id, ref)
    if prompt is None or prompt.space_id != space_id:
        raise PromptNotFound(f"no prompt {ref!r} in this space")
    number = version
    if number is None and label is not None:
        number = (prompt.labels or {}).get(label)
        if number is None:
            raise PromptNotFound(f"prompt {ref!r} has no label {label!r}")
    number = number or prompt.latest_version
    row = await PromptVersionRepository(session, scope).one(prompt.id, number)
    if row is None:
        raise PromptNotFound(f"prompt {ref!r} has no version {number}")
    return Resolved(prompt.name, row.version, label, row.template, row.system, row.variables)
