"""Agent rules: viewers read, editors create and version, owners delete.

A space outside the caller's scope (another org, or a space they are not in) is 404. An
agent's definition is validated against what its org and space offer (model aliases and
`provider/model` names, agent names of the space) and stored as an immutable version;
`current_version` names the newest. Every agent has a default assistant of the same name.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import threading
import uuid
from collections.abc import Collection, Iterator
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.agent.repository import (
    AgentRepository,
    AgentVersionRepository,
    DefaultAssistantRepository,
    ModelNameRepository,
)
from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.engine import AgentSpec, SpecError, parse_spec
from agentdeck.engine.validate import MAX_NODES, parse_definition
from agentdeck.errors import Conflict, InvalidInput, NotFound
from agentdeck.kit import authz
from agentdeck.kit.db import utcnow
from agentdeck.kit.ids import parse_uuid
from agentdeck.kit.pagination import Page
from agentdeck.kit.tenancy import SpaceRole
from agentdeck.models import Agent, AgentVersion, Assistant
from agentdeck.tool import service as toolsets

_VERB = {SpaceRole.VIEWER: "read", SpaceRole.EDITOR: "change", SpaceRole.OWNER: "delete"}


def require_space_role(principal: Principal, space_id: uuid.UUID, minimum: SpaceRole) -> None:
    """404 when the caller cannot see the space, 403 when their role is below ``minimum``."""
    denied = f"you need the {minimum.value} role to {_VERB[minimum]} agents here"
    authz.require_space_role(principal.scope, space_id, minimum, denied)


def spec_error(exc: SpecError) -> InvalidInput:
    """A definition's problems as a 422 whose ``errors`` name the node and the field."""
    errors = [
        {
            "field": p.loc or "definition",
            "location": "body",
            "message": p.msg,
            "code": "invalid-definition",
            **({"node": p.node} if p.node is not None else {}),
        }
        for p in exc.problems
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    return InvalidInput(
        f"invalid agent definition: {detail}",
        field=errors[0]["field"] if errors else None,
        extra={"errors": errors},
    )


def definition_of(spec: AgentSpec) -> dict[str, Any]:
    """The JSON form we store: what the author wrote, validated and normalised."""
    return spec.model_dump(mode="json", by_alias=True, exclude_unset=True)


class _CollectorPause:
    """Python's cyclic garbage collector off while a block runs, on again after the last of
    overlapping blocks (unless it was off before the first). Validating a large definition
    allocates some 15 objects a node that live until it ends; with the collector on, they
    set off full collections, each a walk over every object of the process (hundreds of
    milliseconds in a server), for garbage that reference counting frees anyway."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks = 0
        self._enable_after = False

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        with self._lock:
            if self._blocks == 0:
                self._enable_after = gc.isenabled()
                gc.disable()
            self._blocks += 1
        try:
            yield
        finally:
            with self._lock:
                self._blocks -= 1
                if self._blocks == 0 and self._enable_after:
                    gc.enable()


_collector_paused = _CollectorPause()


def validated(
    *,
    definition: dict[str, Any] | None = None,
    source: str | None = None,
    max_nodes: int = MAX_NODES,
    known_models: Collection[str] | None = None,
    known_tools: Collection[str] | None = None,
    known_agents: Collection[str] | None = None,
) -> tuple[AgentSpec, dict[str, Any]]:
    """The validated spec of a JSON ``definition`` or a YAML ``source``, and the JSON form
    it is stored in: all the CPU work of saving a definition (the service runs it in a
    worker thread). Raises SpecError (every problem found; see `parse_definition`)."""
    known = {"known_models": known_models, "known_tools": known_tools, "known_agents": known_agents}
    with _collector_paused():
        if source is not None:
            spec = parse_spec(source, "application/yaml", max_nodes=max_nodes, **known)
        else:
            spec = parse_definition(definition, max_nodes=max_nodes, **known)
        return spec, definition_of(spec)


async def _parse(
    repo: AgentRepository,
    space_id: uuid.UUID,
    *,
    definition: dict[str, Any] | None,
    source: str | None,
    max_nodes: int,
) -> tuple[AgentSpec, dict[str, Any]]:
    """The validated spec and its stored JSON form. Raises InvalidInput (its problems)."""
    known_models = await ModelNameRepository(repo).known() | {"default"}
    known_agents = await repo.names_in_space(space_id)
    known_tools = await toolsets.known_references(repo.session, repo.scope, space_id)
    # Validation is linear but CPU-bound: a definition of thousands of nodes takes tens of
    # milliseconds, which must not stall every other request on the event loop.
    try:
        return await asyncio.to_thread(
            validated,
            definition=definition,
            source=source,
            max_nodes=max_nodes,
            known_models=known_models,
            known_tools=known_tools,
            known_agents=known_agents,
        )
    except SpecError as exc:
        raise spec_error(exc) from exc


def _add_version(
    session: AsyncSession,
    principal: Principal,
    agent: Agent,
    version: int,
    stored: dict[str, Any],
    source: str | None,
) -> AgentVersion:
    row = AgentVersion(
        org_id=agent.org_id,
        space_id=agent.space_id,
        agent_id=agent.id,
        version=version,
        spec=stored,
        source=source,
        created_by=principal.user_id,
    )
    session.add(row)
    return row


async def create(
    session: AsyncSession,
    principal: Principal,
    space_id: uuid.UUID,
    *,
    definition: dict[str, Any] | None = None,
    source: str | None = None,
    max_nodes: int = MAX_NODES,
) -> Agent:
    """Create an agent (version 1) and its default assistant in ``space_id``.

    Raises :class:`NotFound` (invisible space), :class:`Forbidden` (below editor),
    :class:`InvalidInput` (the definition's problems, more than ``max_nodes`` nodes, YAML
    expanding past its budget, values nested too deep) and :class:`Conflict` (name taken).
    """
    require_space_role(principal, space_id, SpaceRole.EDITOR)
    repo = AgentRepository(session, principal.scope)
    spec, stored = await _parse(
        repo, space_id, definition=definition, source=source, max_nodes=max_nodes
    )
    if await repo.by_name(space_id, spec.name) is not None:
        raise Conflict(f"an agent named '{spec.name}' already exists in this space", field="name")
    agent = Agent(
        org_id=principal.org_id,
        space_id=space_id,
        name=spec.name,
        description=spec.description,
        current_version=1,
        created_by=principal.user_id,
    )
    repo.add(agent)
    await session.flush()
    _add_version(session, principal, agent, 1, stored, source)
    session.add(
        Assistant(
            org_id=agent.org_id,
            space_id=space_id,
            agent_id=agent.id,
            name=agent.name,
            description=agent.description,
            is_default=True,
        )
    )
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="agent.created",
        target_type="agent",
        target_id=agent.id,
        changes={"name": agent.name, "space_id": space_id, "version": 1},
    )
    return agent


async def get(session: AsyncSession, principal: Principal, agent_id: uuid.UUID) -> Agent:
    """One visible agent. Raises :class:`NotFound`."""
    agent = await AgentRepository(session, principal.scope).get(agent_id)
    if agent is None:
        raise NotFound("agent not found")
    return agent


async def resolve(
    session: AsyncSession,
    principal: Principal,
    ref: str,
    *,
    space_ids: set[uuid.UUID] | None = None,
) -> Agent:
    """An agent by id or by name among the visible spaces (or ``space_ids``).

    Raises :class:`NotFound`, and :class:`Conflict` when the name exists in several spaces.
    """
    agent_id = parse_uuid(ref)
    if agent_id is not None:
        return await get(session, principal, agent_id)
    found = await AgentRepository(session, principal.scope).named(ref, space_ids)
    if not found:
        raise NotFound(f"no agent named '{ref}'")
    if len(found) > 1:
        raise Conflict(f"several spaces have an agent named '{ref}'; use its id", field="graph_id")
    return found[0]


async def list_agents(
    session: AsyncSession,
    principal: Principal,
    *,
    space_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[Agent]:
    """Agents of the visible spaces (of one space when given; invisible space: 404)."""
    if space_id is not None:
        require_space_role(principal, space_id, SpaceRole.VIEWER)
    return await AgentRepository(session, principal.scope).list(
        space_id=space_id, limit=limit, cursor=cursor
    )


async def update(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, fields: dict[str, Any]
) -> Agent:
    """Change the description (definitions change through versions)."""
    agent = await get(session, principal, agent_id)
    require_space_role(principal, agent.space_id, SpaceRole.EDITOR)
    audit.apply_and_record(
        session,
        agent,
        {k: v for k, v in fields.items() if k == "description"},
        org_id=principal.org_id,
        actor=principal.actor,
        action="agent.updated",
        target_type="agent",
    )
    return agent


async def delete(session: AsyncSession, principal: Principal, agent_id: uuid.UUID) -> None:
    """Delete an agent with its versions, assistants and runs. Space owners only."""
    agent = await get(session, principal, agent_id)
    require_space_role(principal, agent.space_id, SpaceRole.OWNER)
    await AgentRepository(session, principal.scope).delete(agent)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="agent.deleted",
        target_type="agent",
        target_id=agent_id,
        changes={"name": agent.name, "space_id": agent.space_id},
    )


async def create_version(
    session: AsyncSession,
    principal: Principal,
    agent_id: uuid.UUID,
    *,
    definition: dict[str, Any] | None = None,
    source: str | None = None,
    max_nodes: int = MAX_NODES,
    base_version: int | None = None,
) -> AgentVersion:
    """Store a new definition as version n+1 and make it current. The name cannot change.
    With ``base_version`` (the version the definition was edited from) the save is refused
    when another version was saved since; of two saves from the same version one wins.

    Raises as :func:`create` does, and Conflict (field ``base_version``) for a stale base.
    """
    agent = await get(session, principal, agent_id)
    require_space_role(principal, agent.space_id, SpaceRole.EDITOR)
    repo = AgentRepository(session, principal.scope)
    spec, stored = await _parse(
        repo, agent.space_id, definition=definition, source=source, max_nodes=max_nodes
    )
    if spec.name != agent.name:
        raise InvalidInput(
            f"the name of an agent cannot change (it is '{agent.name}')", field="name"
        )
    base = agent.current_version if base_version is None else base_version
    if base != agent.current_version or not await repo.claim_next_version(agent, base):
        raise Conflict(
            f"version {agent.current_version} was saved after version {base}: "
            "load it, merge your changes and save again",
            field="base_version",
            extra={"current_version": agent.current_version},
        )
    agent.description = spec.description if spec.description is not None else agent.description
    agent.updated_at = utcnow()
    row = _add_version(session, principal, agent, agent.current_version, stored, source)
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="agent.version_created",
        target_type="agent",
        target_id=agent.id,
        changes={"version": agent.current_version},
    )
    return row


async def list_versions(
    session: AsyncSession,
    principal: Principal,
    agent_id: uuid.UUID,
    *,
    limit: int,
    cursor: str | None,
) -> Page[AgentVersion]:
    """An agent's versions, newest first."""
    agent = await get(session, principal, agent_id)
    repo = AgentVersionRepository(session, principal.scope)
    return await repo.list(agent.id, limit=limit, cursor=cursor)


async def get_version(
    session: AsyncSession, principal: Principal, agent_id: uuid.UUID, version: int | None = None
) -> AgentVersion:
    """One version (the current one when ``version`` is None). Raises :class:`NotFound`."""
    agent = await get(session, principal, agent_id)
    wanted = agent.current_version if version is None else version
    row = await AgentVersionRepository(session, principal.scope).one(agent.id, wanted)
    if row is None:
        raise NotFound(f"agent version {wanted} not found", field="version")
    return row


async def export_yaml(session: AsyncSession, principal: Principal, agent_id: uuid.UUID) -> str:
    """The current definition as YAML: the imported text itself when it came as YAML."""
    row = await get_version(session, principal, agent_id)
    if row.source is not None:
        return row.source
    return yaml.safe_dump(row.spec, sort_keys=False, allow_unicode=True)


async def default_assistant(session: AsyncSession, principal: Principal, agent: Agent) -> Assistant:
    """The agent's default assistant (recreated if it went missing)."""
    repo = DefaultAssistantRepository(session, principal.scope)
    found = await repo.of(agent.id)
    if found is not None:
        return found
    assistant = Assistant(
        org_id=agent.org_id,
        space_id=agent.space_id,
        agent_id=agent.id,
        name=agent.name,
        description=agent.description,
        is_default=True,
    )
    repo.add(assistant)
    await session.flush()
    return assistant
