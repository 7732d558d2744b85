"""/api/v1/auth and /api/v1/me."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Response, status
from fastapi.security import OAuth2PasswordRequestForm

from agentdeck.api import RuntimeDep, SessionDep, new_router
from agentdeck.auth.principal import Principal, Reader, get_principal
from agentdeck.auth.schemas import (
    AcceptInvitationRequest,
    LoginRequest,
    MeResponse,
    RefreshRequest,
    SignupRequest,
    SwitchOrgRequest,
    TokenResponse,
)
from agentdeck.auth.service import AuthService
from agentdeck.kit.context import request_meta

router = new_router("/auth", tags=["auth"])
me_router = new_router(tags=["auth"])


@router.post("/signup", status_code=status.HTTP_201_CREATED, response_model=TokenResponse)
async def signup(body: SignupRequest, session: SessionDep, runtime: RuntimeDep) -> TokenResponse:
    """Create an account, its organisation (you are owner) and your personal space.

    With ``invite_token`` you join the inviting organisation instead.
    """
    return await AuthService(session, runtime).signup(
        email=body.email,
        password=body.password,
        name=body.name,
        org_name=body.org_name,
        invite_token=body.invite_token,
    )


@router.post("/login", response_model=TokenResponse)
async def login(body: LoginRequest, session: SessionDep, runtime: RuntimeDep) -> TokenResponse:
    """Sign in with e-mail and password (optionally accepting an invitation)."""
    return await AuthService(session, runtime).login(
        email=body.email,
        password=body.password,
        ip=request_meta.get().ip,
        invite_token=body.invite_token,
    )


@router.post("/token", response_model=TokenResponse)
async def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    runtime: RuntimeDep,
) -> TokenResponse:
    """OAuth2 password flow (for the Authorize button of the API docs)."""
    return await AuthService(session, runtime).login(
        email=form.username, password=form.password, ip=request_meta.get().ip
    )


@router.post("/refresh", response_model=TokenResponse)
async def refresh(body: RefreshRequest, session: SessionDep, runtime: RuntimeDep) -> TokenResponse:
    """Exchange a refresh token for new tokens. Each refresh token works once."""
    return await AuthService(session, runtime).refresh(body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(body: RefreshRequest, session: SessionDep, runtime: RuntimeDep) -> Response:
    """Revoke the refresh token and every token rotated from the same sign-in."""
    await AuthService(session, runtime).logout(body.refresh_token, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/switch-org", response_model=TokenResponse)
async def switch_org(
    body: SwitchOrgRequest,
    principal: Annotated[Principal, Depends(get_principal)],
    session: SessionDep,
    runtime: RuntimeDep,
) -> TokenResponse:
    """Issue tokens for another organisation you belong to."""
    return await AuthService(session, runtime).switch_org(principal, body.org_id)


@router.post("/accept-invitation", response_model=TokenResponse)
async def accept_invitation(
    body: AcceptInvitationRequest,
    principal: Annotated[Principal, Depends(get_principal)],
    session: SessionDep,
    runtime: RuntimeDep,
) -> TokenResponse:
    """Accept an invitation as the signed-in user."""
    return await AuthService(session, runtime).accept_invitation(principal, body.token)


@me_router.get("/me", response_model=MeResponse)
async def me(
    request: Request, principal: Reader, session: SessionDep, runtime: RuntimeDep
) -> MeResponse:
    """You, your organisations with your role in each, and the current organisation."""
    return await AuthService(session, runtime).me(principal)
