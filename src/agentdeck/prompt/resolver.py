"""The engine's PromptPort for one run: stored prompts of the run's space only."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.auth.principal import scope_for_background_work
from agentdeck.engine.errors import NodeError
from agentdeck.engine.ports import ResolvedPrompt
from agentdeck.prompt.service import PromptNotFound, resolve


class SpacePrompts:
    """Resolves `{ref, label | version}` in the run's space; a prompt of another space or
    org is not found, exactly like one that does not exist."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        org_id: uuid.UUID,
        space_id: uuid.UUID,
        user_id: uuid.UUID | None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.org_id, self.space_id, self.user_id = org_id, space_id, user_id

    async def resolve(self, ref: str, *, label: str | None, version: int | None) -> ResolvedPrompt:
        """See `PromptPort.resolve`. Raises NodeError(kind="invalid_input")."""
        scope = scope_for_background_work(
            org_id=self.org_id, space_id=self.space_id, user_id=self.user_id or uuid.UUID(int=0)
        )
        async with self.sessionmaker() as session:
            try:
                found = await resolve(
                    session, scope, self.space_id, ref, label=label, version=version
                )
            except PromptNotFound as exc:
                raise NodeError("invalid_input", str(exc)) from exc
        return ResolvedPrompt(
            name=found.name,
            version=found.version,
            label=found.label,
            template=found.template,
            system=found.system,
            variables_schema=found.variables,
        )
