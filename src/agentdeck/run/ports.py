"""Engine ports the worker provides besides the LLM: HTTP, tools, retrieval, sub-agents.

Tools are the toolsets of the run's space (`SpaceTools`), each call recorded before its
result goes back, so a step re-run after a crash does not call a finished tool again.
Retrieval searches the knowledge bases of the run's own space (`SpaceKnowledge`): the org and
space are fixed when the port is made for a run, never taken from the definition or the model.
Sub-agents are real: a child run of an agent in the same space, created idempotently (its
id is derived from the step's idempotency key, so a resumed step finds the same child).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import httpx2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.auth.principal import scope_for_background_work
from agentdeck.engine.errors import NodeError
from agentdeck.engine.ports import SubagentResult, ToolSpec
from agentdeck.errors import AppError, InvalidInput, NotFound
from agentdeck.kit import netguard
from agentdeck.kit.crypto import Cipher
from agentdeck.kit.db import transaction
from agentdeck.kit.tenancy import TenantScope
from agentdeck.knowledge.registry import registry_for
from agentdeck.knowledge.service import search_in_space
from agentdeck.llm import LLMError
from agentdeck.run.events.reader import wait_for_run
from agentdeck.run.repository import run_by_id
from agentdeck.tool import service as tools
from agentdeck.tools.base import ToolError
from agentdeck.tools.registry import ToolRegistry

SearchMode = Literal["vector", "fulltext", "hybrid"]
_CHILD_NS = uuid.UUID("5b0b7a52-1f7e-4d0c-9a43-2f3f1b9a6c11")


class SpaceTools:
    """ToolPort over the toolsets of one run's space, with durable calls.

    The org, space and user are fixed when the port is made for a run, never taken from
    the definition or the model; credentials are read with the run's narrow scope. The
    registry is built on first use (runs without tools make no query) and closed by
    :meth:`aclose`. Every call's outcome is committed under its idempotency key before it
    is returned: a call whose key already completed with the same tool and arguments (the
    step ran again after its worker died) answers the recorded result and is not made
    again; a failed one is made again, with the same key.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        cipher: Cipher | None,
        *,
        org_id: uuid.UUID,
        space_id: uuid.UUID,
        run_id: uuid.UUID,
        user_id: uuid.UUID | None,
        api_key_id: uuid.UUID | None,
    ) -> None:
        self.sessionmaker, self.cipher = sessionmaker, cipher
        self.space_id, self.run_id = space_id, run_id
        self.scope = None
        if user_id is not None:
            self.scope = scope_for_background_work(
                org_id=org_id, space_id=space_id, user_id=user_id, api_key_id=api_key_id
            )
        self._registry: ToolRegistry | None = None
        self._http: httpx2.AsyncClient | None = None
        self._lock = asyncio.Lock()

    def _scope(self) -> TenantScope:
        if self.scope is None:
            raise NodeError("tool", "this run has no user to act for; tools are unavailable")
        return self.scope

    async def _loaded(self) -> ToolRegistry:
        async with self._lock:
            if self._registry is None:
                scope = self._scope()
                self._http = netguard.guarded_client(timeout=30.0, follow_redirects=False)
                access = tools.CredentialAccess(self.sessionmaker, self.cipher, scope, self._http)
                async with transaction(self.sessionmaker) as session:
                    self._registry = await tools.space_registry(
                        session, scope, access, self.space_id
                    )
        return self._registry

    async def list_tools(self, names: Sequence[str]) -> list[ToolSpec]:
        """Specs of the referenced tools; ToolError(kind="tool") naming an unknown one."""
        return await (await self._loaded()).list_tools(names)

    async def call(self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str) -> Any:
        """Run the tool once per idempotency key (see the class); raises its ToolError."""
        registry = await self._loaded()
        tool = await registry.find(name)
        scope, args = self._scope(), dict(arguments)
        async with transaction(self.sessionmaker) as session:
            prior = await tools.recorded(session, scope, idempotency_key)
        if prior is not None and prior.status == "completed":
            same = f"{prior.toolset}.{prior.tool}" == tool.qualified_name
            if same and prior.arguments == args:
                return prior.result
        error: ToolError | None = None
        result: Any = None
        try:
            result = await tool.call(args, idempotency_key)
        except ToolError as exc:
            error = exc
        async with transaction(self.sessionmaker) as session:
            existing = await tools.recorded(session, scope, idempotency_key)
            tools.record(
                session, scope, self.space_id, self.run_id, idempotency_key,
                tool.qualified_name, args, result=result, error=error, existing=existing,
            )  # fmt: skip
        if error is not None:
            raise error
        return result

    async def aclose(self) -> None:
        if self._registry is not None:
            await self._registry.aclose()
        if self._http is not None:
            await self._http.aclose()


class SpaceKnowledge:
    """RetrievalPort over the knowledge bases of one run's org and space.

    Knowledge bases are named by id or name; one outside the space (another space or another
    org) is not found, exactly like one that does not exist.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        org_id: uuid.UUID,
        space_id: uuid.UUID,
    ) -> None:
        self.sessionmaker, self.org_id, self.space_id = sessionmaker, org_id, space_id

    async def retrieve(
        self,
        knowledge_bases: Sequence[str],
        query: str,
        *,
        top_k: int,
        mode: SearchMode = "hybrid",
        filters: Mapping[str, Any] | None = None,
        min_score: float | None = None,
    ) -> list[dict[str, Any]]:
        """Passages as JSON-ready dicts (`SearchItem` fields), best first.

        Raises NodeError: kind `retrieval` for an unknown knowledge base (naming it) or a
        failed search, `invalid_input` for refused filters, `llm` for a provider's
        embedding model failing.
        """
        runtime = registry_for(self.sessionmaker).runtime
        if runtime is None:
            raise NodeError("retrieval", "knowledge search is not configured in this worker")
        try:
            async with transaction(self.sessionmaker) as session:
                items = await search_in_space(
                    runtime, session, org_id=self.org_id, space_id=self.space_id,
                    knowledge_bases=list(knowledge_bases), query=query, top_k=top_k,
                    mode=mode, filters=filters, min_score=min_score,
                )  # fmt: skip
        except NotFound as exc:
            detail = {"type": exc.type, "field": exc.field or "knowledge_bases"}
            raise NodeError("retrieval", exc.detail, detail=detail) from exc
        except InvalidInput as exc:
            detail = {"type": exc.type, "field": exc.field or "filters"}
            raise NodeError("invalid_input", exc.detail, detail=detail) from exc
        except AppError as exc:
            raise NodeError("retrieval", exc.detail, detail={"type": exc.type}) from exc
        except LLMError as exc:
            raise NodeError("llm", str(exc), detail={"type": exc.type}) from exc
        return [item.model_dump(mode="json") for item in items]


def child_run_id(idempotency_key: str) -> uuid.UUID:
    """The child run of a subagent step: the same for every attempt of that step."""
    return uuid.uuid5(_CHILD_NS, idempotency_key)


class ChildRuns:
    """SubagentPort: child runs of agents in the parent's space, executed by the workers."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self.sessionmaker = sessionmaker

    async def start(
        self, agent: str, inputs: Mapping[str, Any], *, parent_run_id: str, idempotency_key: str
    ) -> str:
        from agentdeck.run.service import create_child_run

        child_id = child_run_id(idempotency_key)
        async with transaction(self.sessionmaker) as session:
            if await run_by_id(session, child_id) is not None:
                return str(child_id)
            parent = await run_by_id(session, uuid.UUID(parent_run_id))
            if parent is None:
                raise NodeError("subagent", f"parent run {parent_run_id} is gone")
            try:
                await create_child_run(
                    session, parent, agent, dict(inputs), run_id=child_id,
                    idempotency_key=idempotency_key,
                )  # fmt: skip
            except (NotFound, InvalidInput) as exc:
                raise NodeError("subagent", f"{agent}: {exc.detail}") from exc
        return str(child_id)

    async def wait(self, child_run_id: str) -> SubagentResult:
        # The worker, not a client, waits here: shutdown cancels the step after its grace.
        run = await wait_for_run(self.sessionmaker, uuid.UUID(child_run_id), ends_at_shutdown=False)
        return SubagentResult(status=run.status, output=run.output, error=run.error)  # type: ignore[arg-type]
