"""/api/v1/agents: versioned agent definitions, YAML import/export and the JSON Schema."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response, status

from agentdeck.agent import service
from agentdeck.agent.schemas import (
    AgentCreate,
    AgentImported,
    AgentOut,
    AgentPage,
    AgentUpdate,
    AgentVersionCreate,
    AgentVersionOut,
    AgentVersionPage,
)
from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Reader, Writer
from agentdeck.engine import AgentSpec
from agentdeck.errors import InvalidInput
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.models import AgentVersion

router = new_router("/agents", tags=["agents"])

Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[str | None, Query(max_length=200)]
_YAML = "application/yaml"
_YAML_BODY: dict[str, Any] = {
    "requestBody": {
        "content": {
            _YAML: {
                "schema": {"type": "string"},
                "example": "name: hello\nnodes:\n  - id: greet\n    type: transform\n"
                '    value: "hello {{ inputs.name }}"\n',
            }
        },
        "required": True,
    }
}


def _version_out(row: AgentVersion) -> AgentVersionOut:
    return AgentVersionOut(
        id=row.id,
        agent_id=row.agent_id,
        version=row.version,
        definition=row.spec,
        source=row.source,
        created_by=row.created_by,
        created_at=row.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED, response_model=AgentOut)
async def create_agent(
    body: AgentCreate, principal: Writer, session: SessionDep, runtime: RuntimeDep
) -> AgentOut:
    """Create an agent in a space from a JSON `definition` or YAML `source` (editors).

    The name comes from the definition and is unique per space (409). Invalid definitions
    are 422 with one entry per problem in `errors` (`field` like `nodes[2].needs`, `node`),
    as are definitions above the node limit (setting `agents.max_nodes`).
    """
    agent = await service.create(
        session, principal, body.space_id, definition=body.definition, source=body.source,
        max_nodes=runtime.settings.agents.max_nodes,
    )  # fmt: skip
    return AgentOut.model_validate(agent)


@router.get("", response_model=AgentPage)
async def list_agents(
    principal: Reader,
    session: SessionDep,
    space_id: Annotated[uuid.UUID | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AgentPage:
    """Agents of the spaces you can see (or of one space), newest first."""
    page = await service.list_agents(
        session, principal, space_id=space_id, limit=limit, cursor=cursor
    )
    return AgentPage(
        items=[AgentOut.model_validate(a) for a in page.items], next_cursor=page.next_cursor
    )


@router.get("/schema", response_model=dict[str, Any])
async def definition_schema() -> dict[str, Any]:
    """The JSON Schema of an agent definition (for editors and CI checks)."""
    return AgentSpec.model_json_schema(by_alias=True)


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    response_model=AgentImported,
    openapi_extra=_YAML_BODY,
)
async def import_agent(
    request: Request,
    principal: Writer,
    session: SessionDep,
    runtime: RuntimeDep,
    space_id: Annotated[uuid.UUID, Query(description="The space to create the agent in.")],
) -> AgentImported:
    """Create an agent from a YAML document sent as the raw body (`application/yaml`)."""
    raw = await request.body()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput("the body must be UTF-8 YAML", field="body") from exc
    agent = await service.create(
        session, principal, space_id, source=text, max_nodes=runtime.settings.agents.max_nodes
    )
    return AgentImported(id=agent.id, name=agent.name, current_version=agent.current_version)


@router.get("/{agent_id}", response_model=AgentOut)
async def get_agent(agent_id: uuid.UUID, principal: Reader, session: SessionDep) -> AgentOut:
    """One agent."""
    return AgentOut.model_validate(await service.get(session, principal, agent_id))


@router.patch("/{agent_id}", response_model=AgentOut)
async def update_agent(
    agent_id: uuid.UUID, body: AgentUpdate, principal: Writer, session: SessionDep
) -> AgentOut:
    """Change the description; the definition changes through new versions."""
    fields = body.model_dump(exclude_unset=True)
    return AgentOut.model_validate(await service.update(session, principal, agent_id, fields))


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(agent_id: uuid.UUID, principal: Writer, session: SessionDep) -> Response:
    """Delete an agent with its versions, assistants, threads' runs (space owners)."""
    await service.delete(session, principal, agent_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{agent_id}/versions", status_code=status.HTTP_201_CREATED, response_model=AgentVersionOut
)
async def create_version(
    agent_id: uuid.UUID,
    body: AgentVersionCreate,
    principal: Writer,
    session: SessionDep,
    runtime: RuntimeDep,
) -> AgentVersionOut:
    """Store a new immutable version; it becomes `current_version`."""
    row = await service.create_version(
        session, principal, agent_id, definition=body.definition, source=body.source,
        max_nodes=runtime.settings.agents.max_nodes, base_version=body.base_version,
    )  # fmt: skip
    return _version_out(row)


@router.get("/{agent_id}/versions", response_model=AgentVersionPage)
async def list_versions(
    agent_id: uuid.UUID,
    principal: Reader,
    session: SessionDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> AgentVersionPage:
    """The agent's versions, newest first."""
    page = await service.list_versions(session, principal, agent_id, limit=limit, cursor=cursor)
    return AgentVersionPage(
        items=[_version_out(v) for v in page.items], next_cursor=page.next_cursor
    )


@router.get("/{agent_id}/versions/{version}", response_model=AgentVersionOut)
async def get_version(
    agent_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=1_000_000)],
    principal: Reader,
    session: SessionDep,
) -> AgentVersionOut:
    """One immutable version."""
    return _version_out(await service.get_version(session, principal, agent_id, version))


@router.get(
    "/{agent_id}/export",
    response_class=Response,
    responses={200: {"content": {_YAML: {"schema": {"type": "string"}}}}},
)
async def export_agent(agent_id: uuid.UUID, principal: Reader, session: SessionDep) -> Response:
    """The current definition as YAML (importable as is)."""
    text = await service.export_yaml(session, principal, agent_id)
    return Response(content=text, media_type=_YAML)
