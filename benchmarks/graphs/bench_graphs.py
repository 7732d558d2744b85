"""The two graphs of `benchmarks/http.py` for the LangGraph dev server.

`chain5`: five trivial nodes in a row (agentdeck's five `transform` nodes). `sleep5`: five
nodes in a row, each one chat completion from the local fake model upstream at
`$FAKE_MODEL_URL` (answers after 200 ms) with httpx, as agentdeck's five `llm` nodes do
through its gateway.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable
from typing import Any, TypedDict

import httpx
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph


class State(TypedDict, total=False):
    x: str
    n: int
    answer: str


Node = Callable[[State], Awaitable[dict[str, Any]]]
# httpx's connection pool costs O(connections x requests) per request (encode/httpcore#1035),
# so one client with 1,000 connections spends seconds of CPU in the pool itself: calls are
# spread over 64 clients (about 16 connections each with 1,000 runs in flight).
_SHARDS = 64
_clients: list[httpx.AsyncClient] = []
_turn = itertools.count()


def _client() -> httpx.AsyncClient:
    if not _clients:
        _clients.extend(
            httpx.AsyncClient(
                base_url=os.environ["FAKE_MODEL_URL"],
                timeout=120,
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=1000),
            )
            for _ in range(_SHARDS)
        )
    return _clients[next(_turn) % _SHARDS]


def _transform(i: int) -> Node:
    async def node(state: State) -> dict[str, Any]:
        return {"x": state.get("x", ""), "n": state.get("n", 0) + 1}

    node.__name__ = f"t{i}"
    return node


def _llm(i: int) -> Node:
    async def node(state: State) -> dict[str, Any]:
        resp = await _client().post(
            "/chat/completions",
            json={
                "model": "fake-model",
                "messages": [{"role": "user", "content": f"step {i}: {state.get('x', '')}"}],
            },
        )
        resp.raise_for_status()
        answer = resp.json()["choices"][0]["message"]["content"]
        return {"answer": answer, "n": state.get("n", 0) + 1}

    node.__name__ = f"m{i}"
    return node


def _line(prefix: str, make: Callable[[int], Node]) -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = StateGraph(State)
    names = [f"{prefix}{i}" for i in range(1, 6)]
    for i, name in enumerate(names, start=1):
        graph.add_node(name, make(i))
    for before, after in zip([START, *names], [*names, END], strict=True):
        graph.add_edge(before, after)
    return graph.compile()


chain5 = _line("t", _transform)
sleep5 = _line("m", _llm)
