"""Assistant rules: an assistant is a configured agent, versioned on every change.

`graph_id` is the agent's name. Wherever an assistant id is expected, an agent's name (or
id) is accepted too and means that agent's default assistant; a name is looked up in the
caller's visible spaces and is ambiguous (409) when several spaces have it. Viewers read;
editors of the agent's space create, change and delete assistants.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.agent import service as agents
from agentdeck.assistant.repository import AssistantRepository, AssistantVersionRepository
from agentdeck.assistant.schemas import (
    AssistantCreate,
    AssistantOut,
    AssistantSearch,
    AssistantUpdate,
)
from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal
from agentdeck.errors import Conflict, NotFound
from agentdeck.kit.db import utcnow
from agentdeck.kit.ids import parse_uuid
from agentdeck.kit.tenancy import SpaceRole
from agentdeck.models import Agent, Assistant, AssistantVersion


def to_out(assistant: Assistant, graph_id: str) -> AssistantOut:
    """The LangGraph `Assistant` shape."""
    return AssistantOut(
        assistant_id=str(assistant.id),
        graph_id=graph_id,
        config=assistant.config or {},
        context=assistant.context or {},
        metadata=assistant.metadata_ or {},
        version=assistant.version,
        name=assistant.name,
        description=assistant.description,
        created_at=assistant.created_at,
        updated_at=assistant.updated_at,
    )


def _version_out(row: AssistantVersion, graph_id: str) -> AssistantOut:
    return AssistantOut(
        assistant_id=str(row.assistant_id),
        graph_id=graph_id,
        config=row.config or {},
        context=row.context or {},
        metadata=row.metadata_ or {},
        version=row.version,
        name=row.name,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.created_at,
    )


def matches(metadata: dict[str, Any] | None, wanted: dict[str, Any] | None) -> bool:
    """LangGraph's metadata filter: every wanted key has exactly the wanted value."""
    have = metadata or {}
    return all(have.get(k) == v for k, v in (wanted or {}).items())


async def resolve(session: AsyncSession, principal: Principal, ref: str) -> tuple[Assistant, str]:
    """An assistant and its graph id, by assistant id, agent id or agent name.

    Raises :class:`NotFound`, and :class:`Conflict` for an agent name found in several
    visible spaces.
    """
    assistant, graph_id, _ = await _resolve(session, principal, ref)
    return assistant, graph_id


async def resolve_with_agent(
    session: AsyncSession, principal: Principal, ref: str
) -> tuple[Assistant, Agent | None]:
    """As `resolve`, with the agent when it was loaded on the way (by name or agent id):
    the caller starting a run passes it on instead of reading it again."""
    assistant, _, agent = await _resolve(session, principal, ref)
    return assistant, agent


async def _resolve(
    session: AsyncSession, principal: Principal, ref: str
) -> tuple[Assistant, str, Agent | None]:
    repo = AssistantRepository(session, principal.scope)
    as_id = parse_uuid(ref)
    if as_id is not None:
        found = await repo.with_graph(as_id)
        if found is not None:
            return found[0], found[1], None
    else:  # by name: one query when the name is one visible agent with its default
        named = await repo.agents_named(ref)
        if len(named) == 1:
            agent, default = named[0]
            if default is not None:
                return default, agent.name, agent
    try:  # not found, ambiguous or a default to recreate: the general path says which
        agent = await agents.resolve(session, principal, ref)
    except NotFound:
        raise NotFound("assistant not found") from None
    assistant = await agents.default_assistant(session, principal, agent)
    return assistant, agent.name, agent


def _snapshot(assistant: Assistant) -> AssistantVersion:
    return AssistantVersion(
        org_id=assistant.org_id,
        space_id=assistant.space_id,
        assistant_id=assistant.id,
        version=assistant.version,
        name=assistant.name,
        description=assistant.description,
        config=dict(assistant.config or {}),
        context=dict(assistant.context or {}),
        metadata_=dict(assistant.metadata_ or {}),
        agent_version=assistant.agent_version,
    )


async def create(
    session: AsyncSession, principal: Principal, body: AssistantCreate
) -> tuple[Assistant, str]:
    """A new assistant (version 1) of the agent named by ``graph_id``.

    With ``assistant_id`` of a visible assistant, ``if_exists="do_nothing"`` returns it and
    anything else is :class:`Conflict`. A client-chosen id is otherwise not used.
    """
    if body.assistant_id:
        try:
            existing = await resolve(session, principal, body.assistant_id)
        except NotFound:
            existing = None
        if existing is not None:
            if body.if_exists == "do_nothing":
                return existing
            raise Conflict("the assistant already exists", field="assistant_id")
    agent = await agents.resolve(session, principal, body.graph_id)
    agents.require_space_role(principal, agent.space_id, SpaceRole.EDITOR)
    assistant = Assistant(
        org_id=agent.org_id,
        space_id=agent.space_id,
        agent_id=agent.id,
        name=body.name or agent.name,
        description=body.description,
        is_default=False,
        config=body.config or {},
        context=body.context or {},
        metadata_=body.metadata or {},
        version=1,
    )
    AssistantRepository(session, principal.scope).add(assistant)
    await session.flush()
    session.add(_snapshot(assistant))
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="assistant.created",
        target_type="assistant",
        target_id=assistant.id,
        changes={"agent_id": agent.id, "name": assistant.name},
    )
    return assistant, agent.name


async def update(
    session: AsyncSession, principal: Principal, ref: str, body: AssistantUpdate
) -> tuple[Assistant, str]:
    """Change an assistant; every change is a new version. Metadata is merged."""
    assistant, graph_id = await resolve(session, principal, ref)
    agents.require_space_role(principal, assistant.space_id, SpaceRole.EDITOR)
    versions = AssistantVersionRepository(session, principal.scope)
    if not await versions.of(assistant.id):
        session.add(_snapshot(assistant))  # the default assistant's first version
    if body.graph_id is not None and body.graph_id != graph_id:
        agent = await agents.resolve(
            session, principal, body.graph_id, space_ids={assistant.space_id}
        )
        assistant.agent_id, graph_id = agent.id, agent.name
    if body.config is not None:
        assistant.config = body.config
    if body.context is not None:
        assistant.context = body.context
    if body.metadata is not None:
        assistant.metadata_ = {**(assistant.metadata_ or {}), **body.metadata}
    if body.name is not None:
        assistant.name = body.name
    if body.description is not None:
        assistant.description = body.description
    assistant.version += 1
    assistant.updated_at = utcnow()
    session.add(_snapshot(assistant))
    await session.flush()
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="assistant.updated",
        target_type="assistant",
        target_id=assistant.id,
        changes={"version": assistant.version},
    )
    return assistant, graph_id


async def delete(session: AsyncSession, principal: Principal, ref: str) -> None:
    """Delete an assistant. The default one goes only with its agent (:class:`Conflict`)."""
    assistant, _ = await resolve(session, principal, ref)
    agents.require_space_role(principal, assistant.space_id, SpaceRole.EDITOR)
    if assistant.is_default:
        raise Conflict("an agent's default assistant is deleted with the agent")
    await AssistantRepository(session, principal.scope).delete(assistant)
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="assistant.deleted",
        target_type="assistant",
        target_id=assistant.id,
        changes={"name": assistant.name},
    )


async def search(
    session: AsyncSession, principal: Principal, body: AssistantSearch
) -> tuple[list[AssistantOut], bool]:
    """Visible assistants matching the filters, one page (offset/limit); and whether more."""
    rows = await AssistantRepository(session, principal.scope).search(
        graph_id=body.graph_id,
        name=body.name,
        sort_by=body.sort_by,
        descending=body.sort_order != "asc",
    )
    hits = [to_out(a, g) for a, g in rows if matches(a.metadata_, body.metadata)]
    page = hits[body.offset : body.offset + body.limit]
    return page, len(hits) > body.offset + body.limit


async def versions(
    session: AsyncSession,
    principal: Principal,
    ref: str,
    *,
    metadata: dict[str, Any] | None,
    limit: int,
    offset: int,
) -> list[AssistantOut]:
    """An assistant's versions, newest first."""
    assistant, graph_id = await resolve(session, principal, ref)
    rows = await AssistantVersionRepository(session, principal.scope).of(assistant.id)
    outs = [_version_out(r, graph_id) for r in rows] or [to_out(assistant, graph_id)]
    outs = [o for o in outs if matches(o.metadata, metadata)]
    return outs[offset : offset + limit]


async def input_schema(
    session: AsyncSession, principal: Principal, assistant: Assistant
) -> dict[str, Any] | None:
    """The JSON Schema of the agent's inputs (the version the assistant runs)."""
    row = await agents.get_version(session, principal, assistant.agent_id, assistant.agent_version)
    inputs = row.spec.get("inputs")
    return inputs if isinstance(inputs, dict) else None


async def graph(
    session: AsyncSession, principal: Principal, assistant: Assistant
) -> dict[str, Any]:
    """Nodes and edges (from `needs`) with LangGraph's `__start__`/`__end__` markers."""
    row = await agents.get_version(session, principal, assistant.agent_id, assistant.agent_version)
    nodes: list[dict[str, Any]] = [{"id": "__start__", "type": "schema", "data": "__start__"}]
    edges: list[dict[str, Any]] = []
    needed: set[str] = set()
    spec_nodes = [n for n in row.spec.get("nodes", []) if isinstance(n, dict)]
    for node in spec_nodes:
        node_id = str(node.get("id"))
        nodes.append({"id": node_id, "type": "runnable", "data": node.get("type")})
        needs = [str(n) for n in node.get("needs") or []]
        needed.update(needs)
        sources = needs or ["__start__"]
        edges.extend({"source": s, "target": node_id, "conditional": False} for s in sources)
    nodes.append({"id": "__end__", "type": "schema", "data": "__end__"})
    for node in spec_nodes:
        if str(node.get("id")) not in needed:
            edges.append({"source": str(node.get("id")), "target": "__end__", "conditional": False})
    return {"nodes": nodes, "edges": edges}
