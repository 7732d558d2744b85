"""The base of every tenant-owned repository: it filters by the scope it is given."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page, decode_cursor, encode_cursor
from agentdeck.kit.statements import built
from agentdeck.kit.tenancy import TenantScope, scoped

M = TypeVar("M")


class ScopedRepository(Generic[M]):
    """Queries on one tenant-owned model, always inside ``scope``.

    Org-owned rows are filtered by ``org_id``; space-owned rows also by the spaces the
    scope can see (``__space_column__`` names the column, ``space_id`` by default).
    """

    model: ClassVar[type[Any]]

    def __init__(self, session: AsyncSession, scope: TenantScope) -> None:
        self.session = session
        self.scope = scope

    def _filtered(self, stmt: Select[Any]) -> Select[Any]:
        model = self.model
        stmt = stmt.where(model.org_id == self.scope.org_id)
        if getattr(model, "__tenant__", None) == "space":
            column = getattr(model, getattr(model, "__space_column__", "space_id"))
            stmt = stmt.where(column.in_(list(self.scope.space_ids)))
        return stmt.execution_options(**scoped(self.scope))

    def select(self) -> Select[M]:
        """``SELECT model`` already filtered to the scope."""
        return self._filtered(select(self.model))

    async def get(self, id_: uuid.UUID) -> M | None:
        """The row with this id if the scope can see it, else ``None``."""
        cls = type(self)
        if cls.select is not ScopedRepository.select or cls._filtered is not _FILTERED:
            own = self.select().where(self.model.id == id_)  # a repository's own scope rule
            found: M | None = (await self.session.execute(own)).scalar_one_or_none()
            return found
        stmt = built(("scoped_get", self.model), self._get_statement)
        rows = await self.session.execute(
            stmt, self.scope_params(k_id=id_), execution_options=scoped(self.scope)
        )
        result: M | None = rows.scalar_one_or_none()
        return result

    def _get_statement(self) -> Select[Any]:
        """``SELECT model WHERE <in scope> AND id = :k_id`` with the scope as parameters
        (`scope_params`): built once per model (`kit.statements`), as every feature's
        lookups by id go through here."""
        model = self.model
        stmt = select(model).where(model.org_id == bindparam("k_org"))
        if getattr(model, "__tenant__", None) == "space":
            column = getattr(model, getattr(model, "__space_column__", "space_id"))
            stmt = stmt.where(column.in_(bindparam("k_spaces", expanding=True)))
        return stmt.where(model.id == bindparam("k_id"))

    def scope_params(self, **params: Any) -> dict[str, Any]:
        """The parameters of a statement built with the scope as ``:k_org`` and
        ``:k_spaces`` (an expanding list), plus ``params``."""
        return {"k_org": self.scope.org_id, "k_spaces": list(self.scope.space_ids), **params}

    async def all(self, stmt: Select[M]) -> Sequence[M]:
        return (await self.session.execute(stmt)).scalars().all()

    async def page(self, stmt: Select[M], *, limit: int | None, cursor: str | None) -> Page[M]:
        """Newest first, keyset-paginated on the time-sortable id.

        Raises :class:`~agentdeck.kit.pagination.InvalidCursor` for a malformed cursor.
        """
        size = max(1, min(limit or DEFAULT_LIMIT, MAX_LIMIT))
        if cursor:
            stmt = stmt.where(self.model.id < decode_cursor(cursor))
        rows = list(
            (
                await self.session.execute(stmt.order_by(self.model.id.desc()).limit(size + 1))
            ).scalars()
        )
        next_cursor = encode_cursor(rows[size - 1].id) if len(rows) > size else None  # type: ignore[attr-defined]
        return Page[M](items=rows[:size], next_cursor=next_cursor)

    async def window(self, stmt: Select[M], *, limit: int, offset: int) -> list[M]:
        """Newest first, ``limit`` rows after skipping ``offset`` (LangGraph-style paging),
        in SQL: a filter applied by the caller's statement never stops at a first page."""
        ordered = stmt.order_by(self.model.id.desc()).offset(offset).limit(limit)
        return list((await self.session.execute(ordered)).scalars())

    def add(self, row: M) -> M:
        self.session.add(row)
        return row

    async def delete(self, row: M) -> None:
        await self.session.delete(row)


_FILTERED = ScopedRepository._filtered
