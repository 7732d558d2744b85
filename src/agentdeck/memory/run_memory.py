"""The engine's MemoryPort for one run: its thread's conversation, and long-term memories
in the store of the run's own space (org, space, thread and user fixed when the port is made
for the run, never taken from the definition or the model)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.auth.principal import Principal, scope_for_background_work
from agentdeck.engine.errors import NodeError
from agentdeck.engine.nodes.context import Conversation
from agentdeck.engine.ports import ChatMessage, ToolCall
from agentdeck.errors import AppError
from agentdeck.kit.db import transaction
from agentdeck.kit.tenancy import TenantScope
from agentdeck.knowledge.registry import registry_for
from agentdeck.memory import service
from agentdeck.runtime import Runtime

_NOBODY = uuid.UUID(int=0)


def _as_dict(message: ChatMessage) -> dict[str, Any]:
    return {
        "role": message.role,
        "content": message.content,
        "tool_calls": [
            {"id": c.id, "name": c.name, "arguments": c.arguments} for c in message.tool_calls
        ],
        "tool_call_id": message.tool_call_id,
    }


def _as_message(data: dict[str, Any]) -> ChatMessage:
    calls = tuple(
        ToolCall(str(c["id"]), str(c["name"]), dict(c.get("arguments") or {}))
        for c in data.get("tool_calls") or []
    )
    content = str(data.get("content") or "")
    return ChatMessage(data["role"], content, calls, data.get("tool_call_id"))


class RunMemory:
    """MemoryPort of one run. Without a thread the conversation is empty and nothing of it
    is kept; long-term memories live in the namespace of the run's user (and end user, the
    /v1 `user`) or space. Every write commits before it returns."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        org_id: uuid.UUID,
        space_id: uuid.UUID,
        thread_id: uuid.UUID | None,
        user_id: uuid.UUID | None,
        api_key_id: uuid.UUID | None = None,
        end_user: str | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.space_id, self.thread_id = space_id, thread_id
        self.user_id, self.end_user = user_id, end_user
        self.scope: TenantScope = scope_for_background_work(
            org_id=org_id, space_id=space_id, user_id=user_id or _NOBODY, api_key_id=api_key_id
        )

    async def load(self, *, turn: str) -> Conversation:
        if self.thread_id is None:
            return Conversation()
        async with self.sessionmaker() as session:
            stored = await service.conversation(
                session, self.scope, self.thread_id, without_turn=turn
            )
        messages = tuple(_as_message(m) for m in stored.messages)
        return Conversation(messages, stored.summary, stored.summarised)

    async def summarised(self, summary: str, count: int, *, turn: str) -> None:
        if self.thread_id is None:
            return
        async with transaction(self.sessionmaker) as session:
            await service.record_summary(
                session, self.scope, self.space_id, self.thread_id, summary, count, turn=turn
            )

    async def append(self, messages: Sequence[ChatMessage], *, turn: str) -> None:
        if self.thread_id is None:
            return
        rows = [_as_dict(m) for m in messages]
        async with transaction(self.sessionmaker) as session:
            await service.append_turn(
                session, self.scope, self.space_id, self.thread_id, rows, turn=turn
            )

    def _principal(self) -> Principal:
        kind: Literal["user", "api_key"] = "api_key" if self.scope.api_key_id else "user"
        return Principal(kind=kind, user_id=self.user_id or _NOBODY, scope=self.scope)

    def _runtime(self) -> Runtime:
        runtime = registry_for(self.sessionmaker).runtime
        if runtime is None:
            raise NodeError("internal", "long-term memory is not configured in this worker")
        return runtime

    def _labels(self, scope: Literal["user", "space"]) -> list[str]:
        try:
            return service.namespace(scope, self.user_id, self.end_user)
        except AppError as exc:
            raise NodeError("invalid_input", exc.detail) from exc

    async def remember(self, text: str, *, scope: Literal["user", "space"], key: str) -> str:
        labels, memory_id = self._labels(scope), service.memory_key(key)
        async with transaction(self.sessionmaker) as session:
            await service.remember(
                self._runtime(), session, self._principal(), self.space_id, labels, memory_id,
                text,
            )  # fmt: skip
        return memory_id

    async def recall(self, query: str, *, scope: Literal["user", "space"], limit: int) -> list[str]:
        labels = self._labels(scope)
        async with transaction(self.sessionmaker) as session:  # a read may refresh TTLs
            return await service.recall(
                self._runtime(), session, self._principal(), self.space_id, labels, query, limit
            )
