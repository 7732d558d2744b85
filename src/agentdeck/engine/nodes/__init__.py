"""Node executors, one module per node type, and what they share: `context` (what an executor
gets and returns), `approval` (tool approval in an agent loop), `citations` and
`knowledge_tool` (the agent's built-in search)."""

from __future__ import annotations

from agentdeck.engine.nodes.agent import run_agent
from agentdeck.engine.nodes.context import (
    Executor,
    NodeContext,
    NodeResult,
    Ports,
)
from agentdeck.engine.nodes.http import run_http
from agentdeck.engine.nodes.human import run_human
from agentdeck.engine.nodes.llm import run_llm
from agentdeck.engine.nodes.retrieval import run_retrieval
from agentdeck.engine.nodes.subagent import run_subagent
from agentdeck.engine.nodes.tool import run_tool
from agentdeck.engine.nodes.transform import run_transform

EXECUTORS: dict[str, Executor] = {
    "llm": run_llm,
    "agent": run_agent,
    "retrieval": run_retrieval,
    "tool": run_tool,
    "http": run_http,
    "transform": run_transform,
    "human": run_human,
    "subagent": run_subagent,
}

__all__ = ["EXECUTORS", "Executor", "NodeContext", "NodeResult", "Ports"]
