"""MCP tool rules: which agents a caller sees as tools, running them, searching knowledge.

A tool is an agent of the caller's spaces whose current definition says `mcp: true` and that
the caller may run (space editors, or API keys with the `run` scope). Its name is the agent's
name; a name that several visible spaces use (or that is `search_knowledge`) is qualified
with the end of its space id, `<agent>.<8 hex>`. A call is a normal run on a new thread
(journal, usage, budget and audit as for any run), so a run stopped at a human step can be
resumed on that thread. Services never commit: the MCP handler (the request boundary) does.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.agent import service as agents
from agentdeck.audit import service as audit
from agentdeck.auth.principal import Principal, require_runner
from agentdeck.errors import AppError, Conflict, InvalidInput, NotFound, ShuttingDown
from agentdeck.kit.pagination import MAX_LIMIT
from agentdeck.knowledge import service as knowledge
from agentdeck.mcp.schemas import ToolInfo, ToolResult
from agentdeck.models import Agent, KnowledgeBase, Run
from agentdeck.run import service as runs
from agentdeck.runtime import Runtime
from agentdeck.thread import service as threads
from agentdeck.thread.schemas import ThreadCreate

SEARCH_TOOL = "search_knowledge"
_SUFFIX_LEN = 8
_MAX_KB_NAMES = 20  # knowledge base names the search tool's description lists
_EMPTY_INPUTS: dict[str, Any] = {"type": "object", "properties": {}}


class UnknownTool(AppError):
    """No tool of that name for this caller (also another org's agent): a protocol error."""

    status, type, title = 404, "unknown-tool", "Unknown tool"


@dataclass(frozen=True, slots=True)
class _Facts:
    """What a tool needs from an (immutable) agent version."""

    mcp: bool
    description: str | None
    inputs: dict[str, Any] | None


_facts_cache: dict[tuple[uuid.UUID, int], _Facts] = {}
_FACTS_CACHE_SIZE = 4096


async def _facts(session: AsyncSession, principal: Principal, agent: Agent) -> _Facts:
    """The current version's MCP facts; versions never change, so they are kept per process."""
    key = (agent.id, agent.current_version)
    found = _facts_cache.get(key)
    if found is not None:
        return found
    spec = (await agents.get_version(session, principal, agent.id)).spec
    inputs = spec.get("inputs")
    facts = _Facts(
        mcp=spec.get("mcp") is True,
        description=spec.get("description"),
        inputs=inputs if isinstance(inputs, dict) else None,
    )
    if len(_facts_cache) >= _FACTS_CACHE_SIZE:
        _facts_cache.pop(next(iter(_facts_cache)))
    _facts_cache[key] = facts
    return facts


def _can_run(principal: Principal, space_id: uuid.UUID) -> bool:
    try:
        require_runner(principal, space_id, "agent")
    except AppError:
        return False
    return True


async def _visible_agents(session: AsyncSession, principal: Principal) -> list[Agent]:
    found: list[Agent] = []
    cursor: str | None = None
    while True:
        page = await agents.list_agents(
            session, principal, space_id=None, limit=MAX_LIMIT, cursor=cursor
        )
        found.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return found


async def _visible_kbs(session: AsyncSession, principal: Principal) -> list[KnowledgeBase]:
    found: list[KnowledgeBase] = []
    cursor: str | None = None
    while True:
        page = await knowledge.list_kbs(
            session, principal, space_id=None, limit=MAX_LIMIT, cursor=cursor
        )
        found.extend(page.items)
        cursor = page.next_cursor
        if cursor is None:
            return found


def _input_schema(inputs: dict[str, Any] | None) -> dict[str, Any]:
    """The agent's `inputs`; MCP needs an object schema, so a schema without a type gets one."""
    if inputs is None:
        return dict(_EMPTY_INPUTS)
    if "type" not in inputs:
        return {**inputs, "type": "object"}
    return inputs


def _qualified(agent: Agent) -> str:
    return f"{agent.name}.{agent.space_id.hex[-_SUFFIX_LEN:]}"


async def list_tools(session: AsyncSession, principal: Principal) -> list[ToolInfo]:
    """The caller's tools: its runnable `mcp: true` agents, then `search_knowledge`."""
    visible = await _visible_agents(session, principal)
    uses = Counter(a.name for a in visible)
    tools: list[ToolInfo] = []
    for agent in sorted(visible, key=lambda a: (a.name, a.space_id)):
        if not _can_run(principal, agent.space_id):
            continue
        facts = await _facts(session, principal, agent)
        if not facts.mcp:
            continue
        name = agent.name
        if uses[name] > 1 or name == SEARCH_TOOL:
            name = _qualified(agent)
        tools.append(
            ToolInfo(
                name=name,
                description=facts.description or agent.description or f"Run the agent {name}.",
                input_schema=_input_schema(facts.inputs),
            )
        )
    tools.append(await _search_tool(session, principal))
    return tools


async def _search_tool(session: AsyncSession, principal: Principal) -> ToolInfo:
    kbs = await _visible_kbs(session, principal)
    names = ", ".join(kb.name for kb in kbs[:_MAX_KB_NAMES])
    more = f" and {len(kbs) - _MAX_KB_NAMES} more" if len(kbs) > _MAX_KB_NAMES else ""
    available = f" Knowledge bases: {names}{more}." if kbs else " No knowledge bases yet."
    return ToolInfo(
        name=SEARCH_TOOL,
        description="Search your knowledge bases; answers passages with citations "
        "(document, page, heading, source URL)." + available,
        input_schema={
            "type": "object",
            "properties": {
                "query": {"type": "string", "minLength": 1, "maxLength": 4000},
                "top_k": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
                "knowledge_bases": {
                    "type": "array",
                    "items": {"type": "string"},
                    "maxItems": 100,
                    "description": "Names or ids to search; default: all of yours.",
                },
            },
            "required": ["query"],
        },
    )


# --- agents -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartedRun:
    tool: str
    run_id: uuid.UUID
    thread_id: uuid.UUID


async def _tool_agent(session: AsyncSession, principal: Principal, tool: str) -> Agent:
    base, _, suffix = tool.partition(".")
    space_ids: set[uuid.UUID] | None = None
    if suffix:
        space_ids = {s for s in principal.scope.space_ids if s.hex.endswith(suffix)}
        if len(suffix) != _SUFFIX_LEN or len(space_ids) != 1:
            raise UnknownTool(f"unknown tool: {tool}")
    try:
        agent = await agents.resolve(session, principal, base, space_ids=space_ids)
    except (NotFound, Conflict) as exc:
        raise UnknownTool(f"unknown tool: {tool}") from exc
    if agent.name != base or not (await _facts(session, principal, agent)).mcp:
        raise UnknownTool(f"unknown tool: {tool}")  # an id is no tool name; not offered
    return agent


async def start_agent(
    session: AsyncSession, principal: Principal, tool: str, arguments: dict[str, Any]
) -> StartedRun:
    """Start the agent behind ``tool`` on a new thread of its space (the caller commits).

    Raises :class:`UnknownTool`, and what starting a run raises: Forbidden (no right to run
    it), InvalidInput (the arguments fail the agent's `inputs`).
    """
    agent = await _tool_agent(session, principal, tool)
    require_runner(principal, agent.space_id, "agent")
    thread = await threads.create(
        session,
        principal,
        ThreadCreate(metadata={"space_id": str(agent.space_id), "source": "mcp", "tool": tool}),
    )
    run = await runs.create_run(
        session,
        principal,
        agent_id=agent.id,
        inputs=arguments,
        thread_id=thread.id,
        metadata={"source": "mcp", "tool": tool},
    )
    audit.record(
        session,
        org_id=principal.org_id,
        actor=principal.actor,
        action="mcp.tool_called",
        target_type="agent",
        target_id=agent.id,
        changes={"tool": tool, "run_id": run.id, "thread_id": thread.id},
    )
    return StartedRun(tool=tool, run_id=run.id, thread_id=thread.id)


def _ids(started: StartedRun) -> dict[str, Any]:
    return {"run_id": str(started.run_id), "thread_id": str(started.thread_id)}


def _rendered(output: Any) -> str:
    if isinstance(output, str):
        return output
    return json.dumps(output, ensure_ascii=False, default=str)


def _waiting(started: StartedRun, run: Run) -> ToolResult:
    interrupt = run.interrupt or {}
    node = interrupt.get("node")
    message = interrupt.get("message")
    thread = started.thread_id
    text = (
        f"The agent is waiting at a human step{f' ({node!s})' if node else ''}"
        f"{f': {message!s}' if message else ''}. Thread id: {thread}. A person answers it "
        f'with a run on that thread with command={{"resume": ...}} '
        f"(POST /api/v1/threads/{thread}/runs/wait)."
    )
    structured = {"status": "interrupted", **_ids(started), "interrupt": interrupt}
    return ToolResult(text=text, structured=structured)


def outcome(started: StartedRun, run: Run) -> ToolResult:
    """The tool result of a run that stopped: its output, a human step, or its failure."""
    ids = _ids(started)
    if run.status == "completed":
        structured = {"status": "completed", **ids, "output": run.output}
        return ToolResult(text=_rendered(run.output), structured=structured)
    if run.status == "interrupted":
        return _waiting(started, run)
    if run.status == "failed":
        error = run.error or {}
        text = f"The run failed ({error.get('kind', 'error')}): {error.get('message', '')}"
        return ToolResult(text=text, structured={"status": "failed", **ids}, is_error=True)
    text = f"The run ended {run.status}. Run id: {started.run_id}."
    return ToolResult(text=text, structured={"status": run.status, **ids}, is_error=True)


async def finish_agent(runtime: Runtime, started: StartedRun, *, timeout_s: float) -> ToolResult:
    """Wait (holding no transaction) for the started run to stop; its tool result.

    A run still going after ``timeout_s``, or when this process begins to stop, goes on:
    the result says so and names the run and the thread.
    """
    try:
        run = await runs.wait_for_run(runtime, started.run_id, timeout_s=timeout_s)
    except (TimeoutError, ShuttingDown) as exc:
        reason = "the server is shutting down" if isinstance(exc, ShuttingDown) else "timed out"
        text = (
            f"No result yet ({reason}); the run goes on. Run id: {started.run_id}, thread id: "
            f"{started.thread_id}."
        )
        return ToolResult(
            text=text, structured={"status": "running", **_ids(started)}, is_error=True
        )
    return outcome(started, run)


# --- knowledge ----------------------------------------------------------------------------


def _search_arguments(arguments: dict[str, Any]) -> tuple[str, int, list[str] | None]:
    query = arguments.get("query")
    if not isinstance(query, str) or not query.strip():
        raise InvalidInput("query: a non-empty string is required", field="query")
    top_k = arguments.get("top_k", 5)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= 50:
        raise InvalidInput("top_k: an integer from 1 to 50", field="top_k")
    wanted = arguments.get("knowledge_bases")
    if wanted is not None and (
        not isinstance(wanted, list) or not all(isinstance(w, str) for w in wanted)
    ):
        raise InvalidInput("knowledge_bases: a list of names or ids", field="knowledge_bases")
    return query, top_k, wanted


def _citation(index: int, item: dict[str, Any]) -> str:
    where = [f"knowledge base {item['kb_name']}"]
    if item.get("page") is not None:
        where.append(f"page {item['page']}")
    if item.get("heading_path"):
        where.append(" > ".join(item["heading_path"]))
    head = f"[{index}] {item['document_title']} ({', '.join(where)})"
    if item.get("source_url"):
        head += f" {item['source_url']}"
    return f"{head}\n{item['text']}"


async def search_knowledge(
    runtime: Runtime, session: AsyncSession, principal: Principal, arguments: dict[str, Any]
) -> ToolResult:
    """The best passages of the caller's knowledge bases (or the named ones), with citations.

    Raises InvalidInput (bad arguments, a name that is none of the caller's bases) and the
    knowledge search's errors (EmbeddingUnavailable).
    """
    query, top_k, wanted = _search_arguments(arguments)
    kbs = await _visible_kbs(session, principal)
    if wanted is not None:
        refs = {w.strip() for w in wanted}
        chosen = [kb for kb in kbs if kb.name in refs or str(kb.id) in refs]
        missing = refs - {kb.name for kb in chosen} - {str(kb.id) for kb in chosen}
        if missing:
            raise InvalidInput(
                f"knowledge_bases: not one of yours: {', '.join(sorted(missing))}",
                field="knowledge_bases",
            )
        kbs = chosen
    names = {kb.id: kb.name for kb in kbs}
    items = await knowledge.search(
        runtime, session, principal, [kb.id for kb in kbs], query=query, top_k=top_k
    )
    passages = [
        {**item.model_dump(mode="json"), "kb_name": names.get(item.kb_id, "")} for item in items
    ]
    if not passages:
        text = "No passages found."
    else:
        text = "\n\n".join(_citation(i, p) for i, p in enumerate(passages, start=1))
    return ToolResult(text=text, structured={"passages": passages})
