"""/api/v1/credentials: read by the org (and the spaces it sees), managed by admins (org-wide)
or by a space's editors (limited to that space). Secrets go in and never come out."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Body, Query, Response, status

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Reader, Writer
from agentdeck.credential import service
from agentdeck.credential.schemas import (
    CredentialCreate,
    CredentialOut,
    CredentialPage,
    CredentialTest,
    CredentialTestResult,
    CredentialUpdate,
)
from agentdeck.kit.pagination import MAX_LIMIT

router = new_router("/credentials", tags=["credentials"])
_NO_TEST_URL = CredentialTest()


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CredentialOut)
async def create_credential(
    body: CredentialCreate, principal: Writer, session: SessionDep, runtime: RuntimeDep
) -> CredentialOut:
    """Store a credential (org-wide, or limited to `space_id`). Its secrets are encrypted at
    rest and never returned; the response has a masked hint."""
    return service.to_out(await service.create(session, principal, runtime.cipher, body))


@router.get("", response_model=CredentialPage)
async def list_credentials(
    principal: Reader,
    session: SessionDep,
    space_id: Annotated[
        uuid.UUID | None, Query(description="Only those usable in this space.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CredentialPage:
    """The credentials you can see: org-wide ones and those of your spaces (no secrets)."""
    page = await service.list_credentials(
        session, principal, space_id=space_id, limit=limit, cursor=cursor
    )
    return CredentialPage(
        items=[service.to_out(c) for c in page.items], next_cursor=page.next_cursor
    )


@router.get("/{credential_id}", response_model=CredentialOut)
async def get_credential(
    credential_id: uuid.UUID, principal: Reader, session: SessionDep
) -> CredentialOut:
    """One credential (no secrets)."""
    return service.to_out(await service.get(session, principal, credential_id))


@router.patch("/{credential_id}", response_model=CredentialOut)
async def update_credential(
    credential_id: uuid.UUID,
    body: CredentialUpdate,
    principal: Writer,
    session: SessionDep,
    runtime: RuntimeDep,
) -> CredentialOut:
    """Change a credential; a secret sent replaces the stored one."""
    row = await service.update(session, principal, runtime.cipher, credential_id, body)
    return service.to_out(row)


@router.delete("/{credential_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_credential(
    credential_id: uuid.UUID, principal: Writer, session: SessionDep
) -> Response:
    """Remove a credential and its secrets."""
    await service.delete(session, principal, credential_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{credential_id}/test", response_model=CredentialTestResult)
async def test_credential(
    credential_id: uuid.UUID,
    principal: Writer,
    session: SessionDep,
    runtime: RuntimeDep,
    body: Annotated[CredentialTest, Body()] = _NO_TEST_URL,
) -> CredentialTestResult:
    """Check the credential: its secret opens, an OAuth2 token refreshes when due, and with
    `test_url` a GET with its headers answers (status code only, never the body)."""
    await service.require_manageable(session, principal, credential_id)
    # The check commits a refresh in its own transaction; end the request's first (SQLite
    # has one writer, and the request's transaction would hold it while we wait).
    await session.commit()
    return await service.check(
        runtime.sessionmaker,
        runtime.cipher,
        principal.scope,
        credential_id,
        body,
        http=runtime.http(),
    )
