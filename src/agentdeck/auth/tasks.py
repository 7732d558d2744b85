"""Background upkeep of authentication state."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete

from agentdeck.kit.db import transaction, utcnow
from agentdeck.kit.tenancy import UNSCOPED_REASON
from agentdeck.models import Invitation, LoginThrottle, RefreshToken
from agentdeck.worker.loop import JobContext

CLEANUP = "auth.cleanup"
_KEEP = dt.timedelta(days=7)


async def cleanup(ctx: JobContext) -> None:
    """Delete refresh tokens, throttles and invitations that can no longer matter."""
    now = utcnow()
    async with transaction(ctx.sessionmaker) as session:
        await session.execute(delete(RefreshToken).where(RefreshToken.expires_at < now - _KEEP))
        await session.execute(
            delete(LoginThrottle).where(
                LoginThrottle.last_failure_at < now - dt.timedelta(days=1),
                (LoginThrottle.locked_until.is_(None)) | (LoginThrottle.locked_until < now),
            )
        )
        await session.execute(
            delete(Invitation)
            .where(Invitation.expires_at < now - dt.timedelta(days=30))
            .execution_options(**{UNSCOPED_REASON: "system cleanup"})
        )
