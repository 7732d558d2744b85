"""Sign-up, sign-in, token rotation, org switching and invitation acceptance."""

from __future__ import annotations

import datetime as dt
import uuid
from functools import lru_cache

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.audit import service as audit
from agentdeck.audit.service import Actor
from agentdeck.auth._throttle import LoginThrottler, throttle_keys
from agentdeck.auth.passwords import Passwords
from agentdeck.auth.principal import Principal
from agentdeck.auth.repository import AuthRepository
from agentdeck.auth.revocations import session_revocations
from agentdeck.auth.schemas import MeResponse, OrgRef, TokenResponse, UserOut
from agentdeck.auth.tokens import issue_access_token, new_refresh_token
from agentdeck.config import AuthSettings
from agentdeck.errors import Conflict, InvalidInput, NotFound, Unauthorized
from agentdeck.kit.crypto import sha256_hex
from agentdeck.kit.db import transaction, utcnow
from agentdeck.kit.tenancy import OrgRole, SpaceRole
from agentdeck.models import (
    Invitation,
    Organization,
    OrgMembership,
    RefreshToken,
    Space,
    SpaceMember,
    User,
)
from agentdeck.runtime import Runtime

_BAD_CREDENTIALS = "wrong e-mail or password"


@lru_cache(maxsize=4)
def _passwords(time_cost: int, memory_kib: int) -> Passwords:
    return Passwords(time_cost=time_cost, memory_kib=memory_kib)


def passwords_for(settings: AuthSettings) -> Passwords:
    """The password hasher for these settings (built once; argon2 set-up is not free)."""
    return _passwords(settings.argon2_time_cost, settings.argon2_memory_kib)


def check_password_policy(settings: AuthSettings, password: str) -> None:
    """Raise :class:`InvalidInput` (field ``password``) for a password that is too short."""
    if len(password) < settings.password_min_length:
        raise InvalidInput(
            f"password must be at least {settings.password_min_length} characters",
            field="password",
        )


async def join_org(
    repo: AuthRepository, user: User, org_id: uuid.UUID, role: OrgRole
) -> OrgMembership:
    """Make ``user`` a member of the org with ``role`` and give them a personal space."""
    membership = OrgMembership(org_id=org_id, user_id=user.id, role=role.value)
    repo.add(membership)
    await repo.flush()
    if await repo.personal_space(org_id, user.id) is None:
        space = Space(
            org_id=org_id,
            name=f"{user.name} (personal)",
            is_personal=True,
            personal_owner_id=user.id,
        )
        repo.add(space)
        await repo.flush()
        repo.add(
            SpaceMember(
                org_id=org_id, space_id=space.id, user_id=user.id, role=SpaceRole.OWNER.value
            )
        )
    return membership


class AuthService:
    def __init__(self, session: AsyncSession, runtime: Runtime) -> None:
        self.session = session
        self.runtime = runtime
        self.settings = runtime.settings.auth
        self.repo = AuthRepository(session)
        self.passwords = passwords_for(self.settings)

    async def _issue(
        self, user: User, org: Organization, role: OrgRole, family: uuid.UUID | None = None
    ) -> TokenResponse:
        family = family or uuid.uuid4()
        access = issue_access_token(
            self.runtime.jwt_secret,
            self.settings.jwt_algorithm,
            user.id,
            org.id,
            self.settings.access_token_ttl_s,
            session_id=family,
        )
        refresh, refresh_hash = new_refresh_token()
        self.repo.add(
            RefreshToken(
                user_id=user.id,
                org_id=org.id,
                family_id=family,
                token_hash=refresh_hash,
                expires_at=utcnow() + dt.timedelta(seconds=self.settings.refresh_token_ttl_s),
            )
        )
        user.last_org_id = org.id
        return TokenResponse(
            access_token=access,
            refresh_token=refresh,
            token_type="bearer",
            expires_in=self.settings.access_token_ttl_s,
            user=UserOut.model_validate(user),
            org=OrgRef(id=org.id, name=org.name, role=role),
        )

    async def _invitation(self, token: str, email: str) -> Invitation:
        invitation = await self.repo.pending_invitation(sha256_hex(token), utcnow())
        if invitation is None:
            raise InvalidInput("invitation is invalid, used or expired", field="invite_token")
        if invitation.email.lower() != email.lower():
            raise InvalidInput(
                "invitation was sent to another e-mail address", field="invite_token"
            )
        return invitation

    async def _accept(self, user: User, invitation: Invitation) -> tuple[Organization, OrgRole]:
        org = await self.repo.org(invitation.org_id)
        if org is None:
            raise InvalidInput("invitation is invalid, used or expired", field="invite_token")
        role = OrgRole(invitation.role)
        existing = await self.repo.membership(org.id, user.id)
        if existing is None:
            await join_org(self.repo, user, org.id, role)
        else:
            role = OrgRole(existing.role)
        invitation.accepted_at = utcnow()
        audit.record(
            self.session,
            org_id=org.id,
            actor=Actor("user", user.id, user.id),
            action="invitation.accepted",
            target_type="invitation",
            target_id=invitation.id,
            changes={"email": user.email, "role": role.value},
        )
        return org, role

    async def _create_org(self, user: User, name: str) -> Organization:
        org = Organization(name=name)
        self.repo.add(org)
        await self.repo.flush()
        await join_org(self.repo, user, org.id, OrgRole.OWNER)
        audit.record(
            self.session,
            org_id=org.id,
            actor=Actor("user", user.id, user.id),
            action="org.created",
            target_type="org",
            target_id=org.id,
            changes={"name": name},
        )
        return org

    async def signup(
        self,
        *,
        email: str,
        password: str,
        name: str,
        org_name: str | None,
        invite_token: str | None,
    ) -> TokenResponse:
        """Create a user with their org (as owner) and personal space, or join by invitation.

        Raises :class:`Conflict` when the e-mail is taken and :class:`InvalidInput` for a
        weak password or a bad invitation.
        """
        check_password_policy(self.settings, password)
        email = email.lower()
        if await self.repo.user_by_email(email) is not None:
            raise Conflict("an account with this e-mail already exists", field="email")
        invitation = await self._invitation(invite_token, email) if invite_token else None
        user = User(email=email, name=name, password_hash=await self.passwords.hash(password))
        self.repo.add(user)
        await self.repo.flush()
        if invitation is not None:
            org, role = await self._accept(user, invitation)
        else:
            org, role = (
                await self._create_org(user, org_name or f"{name}'s organisation"),
                OrgRole.OWNER,
            )
        audit.record(
            self.session,
            org_id=org.id,
            actor=Actor("user", user.id, user.id),
            action="user.signed_up",
            target_type="user",
            target_id=user.id,
            changes={"email": email, "name": name},
        )
        return await self._issue(user, org, role)

    async def _current_org(self, user: User) -> tuple[Organization, OrgRole]:
        memberships = await self.repo.memberships_of(user.id)
        for membership, org in memberships:
            if org.id == user.last_org_id:
                return org, OrgRole(membership.role)
        if memberships:
            membership, org = memberships[0]
            return org, OrgRole(membership.role)
        return await self._create_org(user, f"{user.name}'s organisation"), OrgRole.OWNER

    async def login(
        self, *, email: str, password: str, ip: str | None, invite_token: str | None = None
    ) -> TokenResponse:
        """Check credentials (throttled per account and IP) and issue tokens.

        Raises :class:`Unauthorized` for wrong credentials and ``TooManyRequests`` (429,
        with ``Retry-After``) while the account or IP is slowed down or locked.
        """
        throttler = LoginThrottler(self.settings, self.runtime.sessionmaker)
        keys = throttle_keys(email, ip)
        await throttler.check(self.repo, keys)
        user = await self.repo.user_by_email(email)
        ok = await self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok or not user.is_active:
            # End this request's transaction first: on SQLite it holds the write lock that
            # the failure counter's own transaction needs, and nothing in it is kept anyway.
            await self.session.rollback()
            await throttler.record_failure(keys)
            raise Unauthorized(_BAD_CREDENTIALS)
        await throttler.record_success(self.repo, email)
        if invite_token:
            org, role = await self._accept(user, await self._invitation(invite_token, user.email))
        else:
            org, role = await self._current_org(user)
        audit.record(
            self.session,
            org_id=org.id,
            actor=Actor("user", user.id, user.id),
            action="auth.login",
            target_type="user",
            target_id=user.id,
        )
        return await self._issue(user, org, role)

    async def refresh(self, token: str) -> TokenResponse:
        """Rotate a refresh token. Reusing an already rotated token revokes its family and
        ends the family's access tokens (raises :class:`Unauthorized`)."""
        stored = await self.repo.refresh_token_by_hash(sha256_hex(token))
        now = utcnow()
        if stored is None or stored.revoked_at is not None or stored.expires_at <= now:
            raise Unauthorized("invalid refresh token")
        if stored.used_at is not None:
            family_id = stored.family_id  # rollback() expires ``stored``; read it first
            await self.session.rollback()  # release SQLite's write lock; see login()
            async with transaction(self.runtime.sessionmaker) as session:
                await AuthRepository(session).revoke_refresh_family(family_id, now)
            session_revocations.revoke(family_id)  # its access tokens end now, too
            raise Unauthorized("refresh token reused; all sessions of this login were revoked")
        stored.used_at = now
        user = await self.repo.user_by_id(stored.user_id)
        membership = await self.repo.membership(stored.org_id, stored.user_id)
        org = await self.repo.org(stored.org_id)
        if user is None or not user.is_active or membership is None or org is None:
            raise Unauthorized("invalid refresh token")
        return await self._issue(user, org, OrgRole(membership.role), family=stored.family_id)

    async def logout(self, token: str, principal: Principal | None) -> None:
        """Revoke the refresh token's family (all tokens rotated from one login) and end
        the access tokens issued with it."""
        stored = await self.repo.refresh_token_by_hash(sha256_hex(token))
        if stored is None:
            return
        if principal is not None and stored.user_id != principal.user_id:
            return
        await self.repo.revoke_refresh_family(stored.family_id, utcnow())
        session_revocations.revoke(stored.family_id)  # its access tokens end now, too
        audit.record(
            self.session,
            org_id=stored.org_id,
            actor=Actor("user", stored.user_id, stored.user_id),
            action="auth.logout",
            target_type="user",
            target_id=stored.user_id,
        )

    async def switch_org(self, principal: Principal, org_id: uuid.UUID) -> TokenResponse:
        """Issue tokens for another org of the same user. Not a member: 404."""
        if principal.kind != "user":
            raise InvalidInput("API keys belong to one organisation", field="org_id")
        membership = await self.repo.membership(org_id, principal.user_id)
        org = await self.repo.org(org_id)
        user = await self.repo.user_by_id(principal.user_id)
        if membership is None or org is None or user is None:
            raise NotFound("organisation not found", field="org_id")
        return await self._issue(user, org, OrgRole(membership.role))

    async def accept_invitation(self, principal: Principal, token: str) -> TokenResponse:
        """Accept an invitation as the signed-in user; returns tokens for the new org."""
        user = await self.repo.user_by_id(principal.user_id)
        if user is None or principal.kind != "user":
            raise Unauthorized("sign in as a user to accept an invitation")
        org, role = await self._accept(user, await self._invitation(token, user.email))
        return await self._issue(user, org, role)

    async def me(self, principal: Principal) -> MeResponse:
        user = await self.repo.user_by_id(principal.user_id)
        if user is None:
            raise Unauthorized("invalid credentials")
        orgs = [
            OrgRef(id=o.id, name=o.name, role=OrgRole(m.role))
            for m, o in await self.repo.memberships_of(user.id)
        ]
        if principal.kind == "api_key":
            orgs = [o for o in orgs if o.id == principal.org_id]
        current = next(o for o in orgs if o.id == principal.org_id)
        scopes = principal.scope.key_scopes
        return MeResponse(
            user=UserOut.model_validate(user),
            orgs=orgs,
            current_org=current,
            auth=principal.kind,
            scopes=sorted(scopes) if scopes else None,
        )
