"""Store queries: always inside the scope, and inside one space the service picked."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import Select, delete, or_, select

from agentdeck.kit.repository import ScopedRepository
from agentdeck.kit.tenancy import scoped
from agentdeck.models import Space, StoreItem

SEP = "."


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class StoreRepository(ScopedRepository[StoreItem]):
    model = StoreItem

    def _live(self, space_id: uuid.UUID, now: dt.datetime) -> Select[StoreItem]:
        return self.select().where(
            StoreItem.space_id == space_id,
            or_(StoreItem.expires_at.is_(None), StoreItem.expires_at > now),
        )

    async def one(
        self, space_id: uuid.UUID, namespace: str, key: str, now: dt.datetime
    ) -> StoreItem | None:
        stmt = self._live(space_id, now).where(
            StoreItem.namespace == namespace, StoreItem.key == key
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def any_state(self, space_id: uuid.UUID, namespace: str, key: str) -> StoreItem | None:
        """The row, expired or not (a put overwrites an expired item in place)."""
        stmt = self.select().where(
            StoreItem.space_id == space_id,
            StoreItem.namespace == namespace,
            StoreItem.key == key,
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def under(
        self, space_id: uuid.UUID, prefix: str, now: dt.datetime, *, cap: int
    ) -> Sequence[StoreItem]:
        """Live items whose namespace is ``prefix`` or below it, newest first (at most cap)."""
        stmt = self._live(space_id, now)
        if prefix:
            stmt = stmt.where(
                or_(
                    StoreItem.namespace == prefix,
                    StoreItem.namespace.like(_like_escape(prefix + SEP) + "%", escape="\\"),
                )
            )
        stmt = stmt.order_by(StoreItem.updated_at.desc(), StoreItem.id.desc()).limit(cap)
        return await self.all(stmt)

    async def namespaces(self, space_id: uuid.UUID, now: dt.datetime) -> list[str]:
        stmt = (
            select(StoreItem.namespace)
            .where(
                StoreItem.org_id == self.scope.org_id,
                StoreItem.space_id == space_id,
                StoreItem.space_id.in_(list(self.scope.space_ids)),
                or_(StoreItem.expires_at.is_(None), StoreItem.expires_at > now),
            )
            .distinct()
            .order_by(StoreItem.namespace)
            .execution_options(**scoped(self.scope))
        )
        return list((await self.session.execute(stmt)).scalars())

    async def purge_expired(self, space_id: uuid.UUID, now: dt.datetime) -> None:
        stmt = (
            delete(StoreItem)
            .where(
                StoreItem.org_id == self.scope.org_id,
                StoreItem.space_id == space_id,
                StoreItem.space_id.in_(list(self.scope.space_ids)),
                StoreItem.expires_at.is_not(None),
                StoreItem.expires_at <= now,
            )
            .execution_options(**scoped(self.scope))
        )
        await self.session.execute(stmt)

    async def personal_space(self, user_id: uuid.UUID) -> uuid.UUID | None:
        """The caller's personal space in this org, if the scope can see it."""
        stmt = select(Space.id).where(
            Space.org_id == self.scope.org_id,
            Space.is_personal.is_(True),
            Space.personal_owner_id == user_id,
            Space.id.in_(list(self.scope.space_ids)),
        )
        result = await self.session.execute(stmt.execution_options(**scoped(self.scope)))
        return result.scalar_one_or_none()
