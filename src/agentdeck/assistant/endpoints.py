"""/api/v1/assistants: LangGraph-server-shaped assistants (`langgraph_sdk` works unchanged).

`{assistant_id}` may also be an agent's name or id (its default assistant).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Response, status

from agentdeck.api import SessionDep, new_router
from agentdeck.assistant import service
from agentdeck.assistant.schemas import (
    AssistantCreate,
    AssistantOut,
    AssistantSchemas,
    AssistantSearch,
    AssistantUpdate,
    AssistantVersionsSearch,
)
from agentdeck.auth.principal import Reader, Writer

router = new_router("/assistants", tags=["assistants"])

AssistantRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description="An assistant id, or an agent's name or id (its default assistant).",
    ),
]


@router.post("", response_model=AssistantOut)
async def create_assistant(
    body: AssistantCreate, principal: Writer, session: SessionDep
) -> AssistantOut:
    """Create an assistant of the agent named by `graph_id` (editors of its space)."""
    assistant, graph_id = await service.create(session, principal, body)
    return service.to_out(assistant, graph_id)


@router.post("/search", response_model=list[AssistantOut])
async def search_assistants(
    body: AssistantSearch, principal: Reader, session: SessionDep, response: Response
) -> list[AssistantOut]:
    """Visible assistants, filtered by `graph_id`, `name` and `metadata` (offset paging).

    When more results exist, `X-Pagination-Next` holds the next offset.
    """
    page, more = await service.search(session, principal, body)
    if more:
        response.headers["X-Pagination-Next"] = str(body.offset + body.limit)
    return page


@router.post("/count", response_model=int)
async def count_assistants(body: AssistantSearch, principal: Reader, session: SessionDep) -> int:
    """How many visible assistants match the filters."""
    everything = body.model_copy(update={"offset": 0, "limit": 1_000_000})
    page, _ = await service.search(session, principal, everything)
    return len(page)


@router.get("/{assistant_id}", response_model=AssistantOut)
async def get_assistant(
    assistant_id: AssistantRef, principal: Reader, session: SessionDep
) -> AssistantOut:
    """One assistant."""
    assistant, graph_id = await service.resolve(session, principal, assistant_id)
    return service.to_out(assistant, graph_id)


@router.patch("/{assistant_id}", response_model=AssistantOut)
async def update_assistant(
    assistant_id: AssistantRef, body: AssistantUpdate, principal: Writer, session: SessionDep
) -> AssistantOut:
    """Change an assistant (a new version); `metadata` is merged, the rest replaced."""
    assistant, graph_id = await service.update(session, principal, assistant_id, body)
    return service.to_out(assistant, graph_id)


@router.delete("/{assistant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_assistant(
    assistant_id: AssistantRef, principal: Writer, session: SessionDep
) -> Response:
    """Delete an assistant (an agent's default assistant goes only with the agent: 409)."""
    await service.delete(session, principal, assistant_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{assistant_id}/versions", response_model=list[AssistantOut])
async def list_assistant_versions(
    assistant_id: AssistantRef,
    body: AssistantVersionsSearch,
    principal: Reader,
    session: SessionDep,
) -> list[AssistantOut]:
    """The assistant's versions, newest first."""
    return await service.versions(
        session,
        principal,
        assistant_id,
        metadata=body.metadata,
        limit=body.limit,
        offset=body.offset,
    )


@router.get("/{assistant_id}/schemas", response_model=AssistantSchemas)
async def get_assistant_schemas(
    assistant_id: AssistantRef, principal: Reader, session: SessionDep
) -> AssistantSchemas:
    """The agent's input schema, in LangGraph's `GraphSchema` shape."""
    assistant, graph_id = await service.resolve(session, principal, assistant_id)
    schema = await service.input_schema(session, principal, assistant)
    return AssistantSchemas(graph_id=graph_id, input_schema=schema)


@router.get("/{assistant_id}/graph", response_model=dict[str, Any])
async def get_assistant_graph(
    assistant_id: AssistantRef, principal: Reader, session: SessionDep
) -> dict[str, Any]:
    """The agent's nodes and `needs` edges, in LangGraph's drawable-graph shape."""
    assistant, _ = await service.resolve(session, principal, assistant_id)
    return await service.graph(session, principal, assistant)
