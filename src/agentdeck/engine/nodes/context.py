"""What an executor gets (`NodeContext`) and returns (`NodeResult`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx

from agentdeck.engine.errors import NodeError
from agentdeck.engine.journal import NO_USAGE, Usage
from agentdeck.engine.ports import (
    ChatMessage,
    LLMPort,
    PromptPort,
    RetrievalPort,
    SubagentPort,
    ToolPort,
)
from agentdeck.engine.spec import Node

Resolver = Callable[[str, int], Awaitable[list[str]]]
Emit = Callable[[str, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Conversation:
    """A thread's stored messages, and the running summary of the first `summarised`."""

    messages: tuple[ChatMessage, ...] = ()
    summary: str | None = None
    summarised: int = 0


class MemoryPort(Protocol):
    """Memory of one run's conversational agents: its thread's messages (none without a
    thread) and the long-term memories of its user or space. The tenant is inside."""

    async def load(self, *, turn: str) -> Conversation:
        """The thread's conversation without the messages of `turn` (a step run again)."""
        ...

    async def summarised(self, summary: str, count: int, *, turn: str) -> None:
        """Record (committed before it returns) the running summary of the first `count`
        messages, written during `turn`."""
        ...

    async def append(self, messages: Sequence[ChatMessage], *, turn: str) -> None:
        """Add the turn's messages to the thread (replacing an earlier save of `turn`)."""
        ...

    async def remember(self, text: str, *, scope: Literal["user", "space"], key: str) -> str:
        """Keep `text` (one memory per `key`: saving it again replaces it); its id."""
        ...

    async def recall(self, query: str, *, scope: Literal["user", "space"], limit: int) -> list[str]:
        """The memories most like `query`, best first."""
        ...


@dataclass(slots=True)
class Ports:
    """Everything outside the engine a node may touch. Missing ports fail only the nodes
    that need them, with a clear error."""

    llm: LLMPort | None = None
    tools: ToolPort | None = None
    retrieval: RetrievalPort | None = None
    subagents: SubagentPort | None = None
    http: httpx.AsyncClient | None = None
    allow_private_network: bool = False
    resolver: Resolver | None = None  # DNS for the http node; default: the event loop's
    prompts: PromptPort | None = None  # stored prompts (`prompt: {ref: ...}` of llm, agent)
    memory: MemoryPort | None = None  # `memory:` of agent nodes

    def need_llm(self) -> LLMPort:
        if self.llm is None:
            raise NodeError("internal", "no LLM port configured")
        return self.llm

    def need_tools(self) -> ToolPort:
        if self.tools is None:
            raise NodeError("internal", "no tool port configured")
        return self.tools

    def need_retrieval(self) -> RetrievalPort:
        if self.retrieval is None:
            raise NodeError("internal", "no retrieval port configured")
        return self.retrieval

    def need_prompts(self) -> PromptPort:
        if self.prompts is None:
            raise NodeError("internal", "no prompt port configured")
        return self.prompts

    def need_memory(self) -> MemoryPort:
        if self.memory is None:
            raise NodeError("internal", "no memory port configured")
        return self.memory

    def need_subagents(self) -> SubagentPort:
        if self.subagents is None:
            raise NodeError("internal", "no subagent port configured")
        return self.subagents


@dataclass(slots=True)
class NodeContext:
    """One step attempt: the node, its rendered templated fields, and the ports."""

    node: Node
    config: dict[str, Any]
    """Templated fields after rendering, keyed by field name (`json_body`, not `json`)."""
    run_id: str
    idempotency_key: str
    attempt: int
    ports: Ports
    emit: Emit
    """Durable event (`tool.called`, `tool.result`): journaled and published."""
    emit_ephemeral: Emit
    """Ephemeral event (`message.delta`): published only."""
    cancel: asyncio.Event = field(default_factory=asyncio.Event)
    index: int | None = None
    sources: tuple[dict[str, Any], ...] = ()
    """Numbered passages of the retrieval nodes this node's templates read (llm, agent)."""
    cite: bool = False
    """Answer `{text, citations}` instead of plain text (llm, agent without output_schema)."""
    resume: Any = None
    """`{interrupt, resume}` when this node was interrupted and a person answered (an agent
    node's tool approval): the interrupt it raised and the answer, until it finishes."""


@dataclass(frozen=True, slots=True)
class NodeResult:
    output: Any = None
    usage: Usage = NO_USAGE


Executor = Callable[[NodeContext], Awaitable[NodeResult]]
