"""Memory rules: a thread's conversation and running summary, its LangGraph view, and
long-term memories kept in the store (one namespace per user or per space).

Messages are plain dicts `{id, role, content, tool_calls, tool_call_id, turn}`; `turn` is
the idempotency key of the step that wrote them, so a step run again replaces its own turn
instead of adding it twice. Services never commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.auth.principal import Principal
from agentdeck.errors import NotFound
from agentdeck.kit.db import utcnow
from agentdeck.kit.tenancy import TenantScope
from agentdeck.memory.repository import ThreadMemoryRepository
from agentdeck.models import ThreadMemory
from agentdeck.runtime import Runtime
from agentdeck.store import service as store
from agentdeck.store.schemas import ItemPut, ItemSearch

NAMESPACE = "memories"
_MEMORY_NS = uuid.UUID("0f5d1c3a-8a52-4b8e-9a57-3c9e8d1b2f64")
_LANGGRAPH_TYPE = {"user": "human", "assistant": "ai", "tool": "tool", "system": "system"}


@dataclass(frozen=True, slots=True)
class Stored:
    """A thread's conversation as stored: messages, and the summary of the first few."""

    messages: list[dict[str, Any]]
    summary: str | None = None
    summarised: int = 0


async def conversation(
    session: AsyncSession, scope: TenantScope, thread_id: uuid.UUID, *, without_turn: str
) -> Stored:
    """The thread's conversation, leaving out the messages of `without_turn`."""
    row = await ThreadMemoryRepository(session, scope).of_thread(thread_id)
    if row is None:
        return Stored([])
    messages = [m for m in row.messages or [] if m.get("turn") != without_turn]
    return Stored(messages, row.summary, min(row.summarised, len(messages)))


async def _row(
    session: AsyncSession, scope: TenantScope, space_id: uuid.UUID, thread_id: uuid.UUID
) -> ThreadMemory:
    repo = ThreadMemoryRepository(session, scope)
    row = await repo.of_thread(thread_id)
    if row is None:
        row = ThreadMemory(
            org_id=scope.org_id, space_id=space_id, thread_id=thread_id, messages=[],
            summarised=0,
        )  # fmt: skip
        repo.add(row)
    return row


async def append_turn(
    session: AsyncSession,
    scope: TenantScope,
    space_id: uuid.UUID,
    thread_id: uuid.UUID,
    messages: list[dict[str, Any]],
    *,
    turn: str,
) -> None:
    """Add a turn's messages at the end (an earlier save of the same turn is replaced)."""
    row = await _row(session, scope, space_id, thread_id)
    kept = [m for m in row.messages or [] if m.get("turn") != turn]
    base = uuid.uuid5(_MEMORY_NS, turn)
    added = [
        {**m, "id": uuid.uuid5(base, str(i)).hex, "turn": turn} for i, m in enumerate(messages)
    ]
    row.messages = [*kept, *added]  # a new list: JSON columns track assignment only
    row.updated_at = utcnow()


async def record_summary(
    session: AsyncSession,
    scope: TenantScope,
    space_id: uuid.UUID,
    thread_id: uuid.UUID,
    summary: str,
    count: int,
    *,
    turn: str,
) -> None:
    """The running summary now covers the first `count` messages."""
    row = await _row(session, scope, space_id, thread_id)
    row.summary, row.summarised, row.summary_turn = summary, count, turn
    row.updated_at = utcnow()


def _langgraph_message(message: dict[str, Any]) -> dict[str, Any]:
    """A stored message as LangChain's message dict (what LangGraph clients render)."""
    out: dict[str, Any] = {
        "type": _LANGGRAPH_TYPE.get(str(message.get("role")), "human"),
        "content": message.get("content") or "",
        "id": message.get("id"),
    }
    if message.get("role") == "assistant":
        out["tool_calls"] = [
            {"name": c["name"], "args": c.get("arguments") or {}, "id": c["id"],
             "type": "tool_call"}
            for c in message.get("tool_calls") or []
        ]  # fmt: skip
    if message.get("role") == "tool":
        out["tool_call_id"] = message.get("tool_call_id")
    return out


async def state_values(
    session: AsyncSession, scope: TenantScope, thread_id: uuid.UUID
) -> dict[str, Any]:
    """`messages`, `summary` and `summary_through` (the id of the last message the summary
    covers) of a thread with memory; nothing for a thread without."""
    row = await ThreadMemoryRepository(session, scope).of_thread(thread_id)
    if row is None:
        return {}
    messages = row.messages or []
    covered = messages[: row.summarised]
    through = covered[-1].get("id") if covered else None
    return {
        "messages": [_langgraph_message(m) for m in messages],
        "summary": row.summary,
        "summary_through": through,
        "summarised_messages": row.summarised,
    }


# --- long-term memory, in the store -------------------------------------------------------


def namespace(
    scope: Literal["user", "space"], user_id: uuid.UUID | None, end_user: str | None
) -> list[str]:
    """The store namespace of a run's long-term memories: per space, or per user (and per
    end user of an API key, the `user` of a /v1 request). Raises NotFound without a user."""
    if scope == "space":
        return [NAMESPACE, "space"]
    if user_id is None:
        raise NotFound("long-term memory per user needs a run with a user", field="memory")
    who = end_user.replace("%", "%25").replace(".", "%2E")[:200] if end_user else "-"
    return [NAMESPACE, "user", str(user_id), who]


def memory_key(idempotency_key: str) -> str:
    """The store key of the memory a tool call keeps (the same for every re-run)."""
    return uuid.uuid5(_MEMORY_NS, idempotency_key).hex


async def remember(
    runtime: Runtime,
    session: AsyncSession,
    principal: Principal,
    space_id: uuid.UUID,
    labels: list[str],
    key: str,
    text: str,
) -> None:
    """Put the memory, embedded for recall by meaning."""
    body = ItemPut(namespace=labels, key=key, value={"content": text}, index=["content"])
    await store.put(runtime, session, principal, body, space_id)


async def recall(
    runtime: Runtime,
    session: AsyncSession,
    principal: Principal,
    space_id: uuid.UUID,
    labels: list[str],
    query: str,
    limit: int,
) -> list[str]:
    """The memories most like `query`, best first."""
    body = ItemSearch(namespace_prefix=labels, query=query, limit=limit)
    found = await store.search(runtime, session, principal, body, space_id)
    return [str(item.value.get("content", "")) for item in found.items]
