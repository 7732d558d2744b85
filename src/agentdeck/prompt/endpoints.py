"""/prompts: versioned prompts of a space and their labels."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Path, Query, Response

from agentdeck.api import SessionDep, new_router
from agentdeck.auth.principal import Reader, Writer
from agentdeck.prompt import service
from agentdeck.prompt.schemas import (
    LabelName,
    LabelSet,
    PromptCreate,
    PromptOut,
    PromptPage,
    VersionIn,
    VersionList,
    VersionOut,
)

router = new_router("/prompts", tags=["prompts"])
Label = Annotated[str, Path(pattern=LabelName)]


@router.post("", response_model=PromptOut, status_code=201)
async def create_prompt(body: PromptCreate, principal: Writer, session: SessionDep) -> PromptOut:
    """A prompt and its version 1 (`labels` point at it)."""
    return PromptOut.model_validate(await service.create(session, principal, body))


@router.get("", response_model=PromptPage)
async def list_prompts(
    principal: Reader,
    session: SessionDep,
    space_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PromptPage:
    """Prompts of the spaces you can see, newest first."""
    page = await service.list_prompts(
        session, principal, space_id=space_id, limit=limit, cursor=cursor
    )
    items = [PromptOut.model_validate(p) for p in page.items]
    return PromptPage(items=items, next_cursor=page.next_cursor)


@router.get("/{prompt_id}", response_model=PromptOut)
async def get_prompt(prompt_id: uuid.UUID, principal: Reader, session: SessionDep) -> PromptOut:
    """One prompt with its labels."""
    return PromptOut.model_validate(await service.get(session, principal, prompt_id))


@router.delete("/{prompt_id}", status_code=204)
async def delete_prompt(prompt_id: uuid.UUID, principal: Writer, session: SessionDep) -> Response:
    """Delete a prompt with all its versions."""
    await service.delete(session, principal, prompt_id)
    return Response(status_code=204)


@router.post("/{prompt_id}/versions", response_model=VersionOut, status_code=201)
async def add_version(
    prompt_id: uuid.UUID, body: VersionIn, principal: Writer, session: SessionDep
) -> VersionOut:
    """A new immutable version; labels do not move."""
    return VersionOut.model_validate(await service.add_version(session, principal, prompt_id, body))


@router.get("/{prompt_id}/versions", response_model=VersionList)
async def list_versions(
    prompt_id: uuid.UUID, principal: Reader, session: SessionDep
) -> VersionList:
    """Every version, newest first."""
    rows = await service.list_versions(session, principal, prompt_id)
    return VersionList(items=[VersionOut.model_validate(v) for v in rows])


@router.get("/{prompt_id}/versions/{version}", response_model=VersionOut)
async def get_version(
    prompt_id: uuid.UUID,
    version: Annotated[int, Path(ge=1, le=2_147_483_647)],
    principal: Reader,
    session: SessionDep,
) -> VersionOut:
    """One version."""
    return VersionOut.model_validate(
        await service.get_version(session, principal, prompt_id, version)
    )


@router.put("/{prompt_id}/labels/{label}", response_model=PromptOut)
async def set_label(
    prompt_id: uuid.UUID, label: Label, body: LabelSet, principal: Writer, session: SessionDep
) -> PromptOut:
    """Point a label (`production`, ...) at a version; audited as `prompt.label_moved`."""
    return PromptOut.model_validate(
        await service.set_label(session, principal, prompt_id, label, body.version)
    )
