"""Failed-login throttling per account and per client IP, stored in the database.

Failures are written in their own transaction so that the 401 that follows (which rolls
back the request's session) does not undo them.
"""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.auth.repository import AuthRepository
from agentdeck.config import AuthSettings
from agentdeck.errors import TooManyRequests
from agentdeck.kit.db import transaction, utcnow
from agentdeck.models import LoginThrottle


def throttle_keys(email: str, ip: str | None) -> list[str]:
    keys = [f"email:{email.lower()}"]
    if ip:
        keys.append(f"ip:{ip}")
    return keys


class LoginThrottler:
    def __init__(
        self, settings: AuthSettings, sessionmaker: async_sessionmaker[AsyncSession]
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker

    def _wait_s(self, throttle: LoginThrottle, now: dt.datetime) -> float:
        s = self.settings
        if throttle.locked_until is not None and throttle.locked_until > now:
            return (throttle.locked_until - now).total_seconds()
        if now - throttle.window_started_at > dt.timedelta(seconds=s.throttle_window_s):
            return 0.0
        excess = throttle.failures - s.throttle_slowdown_after
        if excess < 0:
            return 0.0
        delay = dt.timedelta(seconds=min(2**excess, 60))
        return max(0.0, (throttle.last_failure_at + delay - now).total_seconds())

    async def check(self, repo: AuthRepository, keys: list[str]) -> None:
        """Raise 429 with ``Retry-After`` when any key must wait before trying again."""
        now = utcnow()
        wait = max((self._wait_s(t, now) for t in await repo.throttles(keys)), default=0.0)
        if wait > 0:
            raise TooManyRequests(
                "too many failed sign-in attempts; try again later",
                retry_after=math.ceil(wait),
            )

    async def record_failure(self, keys: list[str]) -> None:
        for attempt in range(2):
            try:
                async with transaction(self.sessionmaker) as session:
                    await self._bump(AuthRepository(session), keys)
                return
            except IntegrityError:
                if attempt:
                    raise

    async def _bump(self, repo: AuthRepository, keys: list[str]) -> None:
        s = self.settings
        now = utcnow()
        existing = {t.key: t for t in await repo.throttles(keys)}
        for key in keys:
            throttle = existing.get(key)
            if throttle is None:
                throttle = LoginThrottle(
                    key=key, failures=0, window_started_at=now, last_failure_at=now
                )
                repo.add(throttle)
            expired = now - throttle.window_started_at > dt.timedelta(seconds=s.throttle_window_s)
            if expired and (throttle.locked_until is None or throttle.locked_until <= now):
                throttle.failures = 0
                throttle.window_started_at = now
                throttle.locked_until = None
            throttle.failures += 1
            throttle.last_failure_at = now
            if throttle.failures >= s.throttle_lock_after:
                throttle.locked_until = now + dt.timedelta(seconds=s.throttle_lock_s)

    async def record_success(self, repo: AuthRepository, email: str) -> None:
        await repo.delete_throttle(f"email:{email.lower()}")
