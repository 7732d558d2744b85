"""/api/v1/toolsets: a space's toolsets, their tools, refreshing them and trying a tool."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Path, Query, Response, status

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Principal, Reader, Writer
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.runtime import Runtime
from agentdeck.tool import service
from agentdeck.tool._build import CredentialAccess
from agentdeck.tool.schemas import (
    ToolCallError,
    ToolCallIn,
    ToolCallOut,
    ToolList,
    ToolOut,
    ToolsetCreate,
    ToolsetOut,
    ToolsetPage,
    ToolsetUpdate,
)

router = new_router("/toolsets", tags=["toolsets"])
ToolName = Annotated[str, Path(min_length=1, max_length=200)]


def _access(runtime: Runtime, principal: Principal) -> CredentialAccess:
    return CredentialAccess(runtime.sessionmaker, runtime.cipher, principal.scope, runtime.http())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ToolsetOut)
async def create_toolset(
    body: ToolsetCreate, principal: Writer, session: SessionDep, runtime: RuntimeDep
) -> ToolsetOut:
    """Create a toolset in a space (editors); its tool list is read and kept as a snapshot."""
    row = await service.create(session, principal, _access(runtime, principal), body)
    return service.to_out(row)


@router.get("", response_model=ToolsetPage)
async def list_toolsets(
    principal: Reader,
    session: SessionDep,
    space_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ToolsetPage:
    """The toolsets of your spaces (of one space with `space_id`)."""
    page = await service.list_toolsets(
        session, principal, space_id=space_id, limit=limit, cursor=cursor
    )
    return ToolsetPage(items=[service.to_out(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/{toolset_id}", response_model=ToolsetOut)
async def get_toolset(toolset_id: uuid.UUID, principal: Reader, session: SessionDep) -> ToolsetOut:
    """One toolset."""
    return service.to_out(await service.get(session, principal, toolset_id))


@router.patch("/{toolset_id}", response_model=ToolsetOut)
async def update_toolset(
    toolset_id: uuid.UUID,
    body: ToolsetUpdate,
    principal: Writer,
    session: SessionDep,
    runtime: RuntimeDep,
) -> ToolsetOut:
    """Change a toolset (a new config or credential takes a new snapshot of its tools)."""
    access = _access(runtime, principal)
    return service.to_out(await service.update(session, principal, access, toolset_id, body))


@router.delete("/{toolset_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_toolset(toolset_id: uuid.UUID, principal: Writer, session: SessionDep) -> Response:
    """Remove a toolset."""
    await service.delete(session, principal, toolset_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{toolset_id}/tools", response_model=ToolList)
async def list_tools(toolset_id: uuid.UUID, principal: Reader, session: SessionDep) -> ToolList:
    """The toolset's tools (the snapshot of its last refresh)."""
    row = await service.get(session, principal, toolset_id)
    items = [ToolOut.model_validate(t) for t in row.tools or []]
    return ToolList(items=items, tools_hash=row.tools_hash)


@router.post("/{toolset_id}/refresh", response_model=ToolsetOut)
async def refresh_toolset(
    toolset_id: uuid.UUID, principal: Writer, session: SessionDep, runtime: RuntimeDep
) -> ToolsetOut:
    """Read the tool list again (an MCP server's current tools) and keep it."""
    access = _access(runtime, principal)
    return service.to_out(await service.refresh(session, principal, access, toolset_id))


@router.post("/{toolset_id}/tools/{tool_name}/call", response_model=ToolCallOut)
async def call_tool(
    toolset_id: uuid.UUID,
    tool_name: ToolName,
    body: ToolCallIn,
    principal: Writer,
    session: SessionDep,
    runtime: RuntimeDep,
) -> ToolCallOut:
    """Try a tool (editors): a normal, audited call. A failing tool is `ok: false` with the
    error a model would be given, not an HTTP error."""
    access = _access(runtime, principal)
    result, error = await service.try_call(
        session, principal, access, toolset_id, tool_name, dict(body.arguments)
    )
    row = await service.get(session, principal, toolset_id)
    tool = f"{row.name}.{tool_name}"
    if error is not None:
        return ToolCallOut(
            tool=tool, ok=False, error=ToolCallError(kind=error.kind, message=error.message)
        )
    return ToolCallOut(tool=tool, ok=True, result=result)
