"""Runs search their space's knowledge bases: a retrieval node, an agent's knowledge tool and
the citations of their answers, end to end (HTTP API, ingestion job, worker, org gateway).

Fakes only at the seams: the model is a pydantic-ai `FunctionModel` behind the org's real
gateway, and documents are embedded by the knowledge registry's test seam (`HashingEmbedder`).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agentdeck.app import build_worker
from agentdeck.knowledge.registry import registry_for
from agentdeck.rag.embeddings import HashingEmbedder
from agentdeck.rag.errors import EmbeddingError
from agentdeck.run import service
from agentdeck.run.journal import open_journal
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings
from agentdeck.runtime import Runtime
from tests.run.conftest import Org, make_org
from tests.run.tool_support import streamed

FIRE = (
    "# Fire safety\n\n## Evacuation\n\nIn a fire, leave by the stairs and never use the lifts. "
    "Meet at the assembly point in the car park.\n"
)
HOLIDAYS = "# Holidays\n\nStaff have 25 days of paid holiday a year, booked through the portal.\n"
QUESTION = "How do I leave in a fire? Stairs or lifts?"


class Model:
    """The scripted model: searches once when offered the knowledge tool, then cites [1]."""

    def __init__(self) -> None:
        self.prompts: list[str] = []
        self.tool_results: list[str] = []

    def reply(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        parts = [p for m in messages if isinstance(m, ModelRequest) for p in m.parts]
        returns = [p for p in parts if isinstance(p, ToolReturnPart)]
        if any(tool.name == "knowledge_search" for tool in info.function_tools):
            if not returns:
                call = ToolCallPart("knowledge_search", {"query": "fire stairs lifts"}, "k1")
                return ModelResponse(parts=[call])
            self.tool_results.append(str(returns[-1].content))
            return ModelResponse(parts=[TextPart("Take the stairs, not the lifts [1] [8].")])
        prompts = [p.content for p in parts if isinstance(p, UserPromptPart)]
        self.prompts.append(str(prompts[-1]))
        return ModelResponse(parts=[TextPart("Use the stairs [1].")])

    def factory(self, provider: Any, model: str) -> FunctionModel:
        return FunctionModel(self.reply, stream_function=streamed(self.reply))


@pytest.fixture
def model() -> Model:
    return Model()


@pytest.fixture
async def knowledge_worker(runtime: Runtime, model: Model) -> AsyncIterator[Any]:
    """A worker that ingests documents and runs agents on the org's gateway with `model`."""
    services = services_for(runtime.engine)
    saved = services.llm_factory, services.gateway, runtime.gateway, runtime.llm_model_factory
    services.llm_factory = None
    runtime.gateway, runtime.llm_model_factory = None, model.factory  # a gateway on `model`
    registry = registry_for(runtime)
    saved_embedder = registry.embedder_factory
    registry.embedder_factory = lambda name: HashingEmbedder()
    attach(runtime.engine, settings=RunSettings(requeue_delay_s=0.1))
    worker = build_worker(runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    yield worker
    stop.set()
    await task
    services.llm_factory, services.gateway, runtime.gateway, runtime.llm_model_factory = saved
    registry.embedder_factory = saved_embedder


async def knowledge_base(client: httpx.AsyncClient, org: Org, name: str) -> dict[str, Any]:
    """A knowledge base of `org`'s space holding the two documents, ingested."""
    headers = org.tenant.headers
    body = {"name": name, "space_id": org.space}
    response = await client.post("/api/v1/knowledge-bases", json=body, headers=headers)
    assert response.status_code == 201, response.text
    kb = response.json()
    docs = {}
    for title, text in (("Fire safety", FIRE), ("Holidays", HOLIDAYS)):
        response = await client.post(
            f"/api/v1/knowledge-bases/{kb['id']}/documents",
            json={"title": title, "text": text},
            headers=headers,
        )
        assert response.status_code in (201, 202), response.text
        docs[title] = response.json()["id"]
    for _ in range(300):
        listing = await client.get(f"/api/v1/knowledge-bases/{kb['id']}/documents", headers=headers)
        statuses = {d["status"] for d in listing.json()["items"]}
        if statuses == {"ready"}:
            break
        assert "failed" not in statuses, listing.text
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"documents not ready: {listing.text}")
    return {**kb, "docs": docs}


def agent_spec(retrieval_kb: str, tool_kb: str) -> dict[str, Any]:
    return {
        "name": "ask",
        "inputs": {"type": "object", "properties": {"q": {"type": "string"}}},
        "nodes": [
            {"id": "r", "type": "retrieval", "knowledge_bases": [retrieval_kb],
             "query": "{{ inputs.q }}", "top_k": 2, "mode": "fulltext"},
            {"id": "answer", "type": "llm", "needs": ["r"],
             "prompt": "Sources:\n{{ steps.r.output.context }}\n\nQuestion: {{ inputs.q }}"},
            {"id": "ag", "type": "agent", "needs": ["answer"], "prompt": "{{ inputs.q }}",
             "knowledge_bases": [tool_kb], "knowledge_search": {"top_k": 1}},
        ],
        "output": {"answer": "{{ steps.answer.output }}", "agent": "{{ steps.ag.output }}"},
    }  # fmt: skip


async def test_run_cites_passages_of_its_space_knowledge_base(
    runtime: Runtime,
    org: Org,
    model: Model,
    knowledge_worker: Any,
    client: httpx.AsyncClient,
) -> None:
    kb = await knowledge_base(client, org, "handbook")
    fire_doc = kb["docs"]["Fire safety"]
    agent = await org.agent(agent_spec("handbook", kb["id"]))  # by name, then by id
    run = await org.start(agent, inputs={"q": QUESTION})
    done = await service.wait_for_run(runtime, run.id, timeout_s=30)
    assert done.status == "completed", done.error

    # the llm node saw the numbered passages and its [1] resolves to the fire document
    [prompt] = model.prompts
    assert "[1] Fire safety" in prompt and "never use the lifts" in prompt
    answer = done.output["answer"]
    assert answer["text"] == "Use the stairs [1]."
    [citation] = answer["citations"]
    assert citation["n"] == 1
    assert citation["document_id"] == fire_doc and citation["kb_id"] == kb["id"]
    assert citation["document_title"] == "Fire safety"
    assert citation["heading"] == "Evacuation"
    assert "never use the lifts" in citation["text"]
    assert FIRE[citation["start"] : citation["end"]].strip().endswith("car park.")

    # the agent searched through its tool; the unknown marker [8] is dropped
    [shown] = model.tool_results
    assert shown.startswith("[1] Fire safety, Fire safety > Evacuation\n")
    agent_out = done.output["agent"]
    assert agent_out["text"] == "Take the stairs, not the lifts [1]."
    assert [(c["n"], c["document_id"]) for c in agent_out["citations"]] == [(1, fire_doc)]

    events = await open_journal(runtime.sessionmaker, run.org_id).events(str(run.id))
    tool = [(e.type, e.data) for e in events if e.type.startswith("tool.")]
    assert [t for t, _ in tool] == ["tool.called", "tool.result"]
    assert tool[0][1]["arguments"] == {"query": "fire stairs lifts"}
    [passage] = tool[1][1]["result"]["passages"]
    assert passage["n"] == 1 and passage["document_id"] == fire_doc

    steps = (await client.get(f"/api/v1/runs/{run.id}/steps", headers=org.tenant.headers)).json()
    retrieval = next(s for s in steps["items"] if s["node_id"] == "r")
    assert retrieval["output"]["query"] == QUESTION
    assert retrieval["output"]["passages"][0]["document_title"] == "Fire safety"


async def test_another_org_cannot_reach_the_knowledge_base(
    runtime: Runtime,
    org: Org,
    knowledge_worker: Any,
    client: httpx.AsyncClient,
    app: Any,
) -> None:
    kb = await knowledge_base(client, org, "private-handbook")
    other = await make_org(client, app)
    for ref in (kb["id"], "private-handbook", str(uuid.uuid4())):
        agent = await other.agent(agent_spec(ref, ref))
        run = await other.start(agent, inputs={"q": QUESTION})
        done = await service.wait_for_run(runtime, run.id, timeout_s=30)
        assert done.status == "failed", ref
        assert done.error is not None
        assert done.error["node"] == "r" and done.error["kind"] == "retrieval", done.error
        assert ref in done.error["message"] and "not found" in done.error["message"]
        steps = await other_steps(client, other, run.id)
        assert [s["attempt"] for s in steps if s["node_id"] == "r"] == [1]  # not retried
    tool_only = {"name": "tool-only", "nodes": [
        {"id": "ag", "type": "agent", "prompt": "q", "knowledge_bases": [kb["id"]]}
    ]}  # fmt: skip
    run = await other.start(await other.agent(tool_only), inputs={})
    done = await service.wait_for_run(runtime, run.id, timeout_s=30)
    assert done.error is not None
    assert (done.error["node"], done.error["kind"]) == ("ag", "retrieval"), done.error
    assert kb["id"] in done.error["message"]


async def other_steps(client: httpx.AsyncClient, org: Org, run_id: uuid.UUID) -> Any:
    response = await client.get(f"/api/v1/runs/{run_id}/steps", headers=org.tenant.headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


class BrokenEmbedder:
    name, dim = "broken", 384

    async def embed(self, texts: Any) -> list[list[float]]:
        raise EmbeddingError("the model is gone")


async def test_a_failing_search_fails_the_node_with_a_retrieval_error(
    runtime: Runtime, org: Org, knowledge_worker: Any, client: httpx.AsyncClient
) -> None:
    await knowledge_base(client, org, "flaky")
    registry = registry_for(runtime)
    working = registry.embedder_factory
    registry.embedder_factory = lambda name: BrokenEmbedder()
    try:
        spec = {"name": "vec", "nodes": [
            {"id": "r", "type": "retrieval", "knowledge_bases": ["flaky"], "query": "fire",
             "mode": "vector"},
        ]}  # fmt: skip
        run = await org.start(await org.agent(spec), inputs={})
        done = await service.wait_for_run(runtime, run.id, timeout_s=30)
    finally:
        registry.embedder_factory = working
    assert done.status == "failed"
    assert done.error is not None and done.error["kind"] == "retrieval", done.error
    assert "the model is gone" in done.error["message"]
    assert done.error["detail"] == {"type": "embedding-unavailable"}
