"""Executors through the engine, with fakes at the port seam."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from agentdeck.engine import Engine, Ports
from agentdeck.engine.ports import ChatRequest, ChatResult, SubagentResult, ToolCall, Usage

from .conftest import FakeLLM, FakeTools, LocalServer, RecordingSink, spec_from

MakeEngine = Callable[..., Engine]
PUBLIC = "93.184.215.14"


async def public_dns(host: str, port: int) -> list[str]:
    return {"example.org": [PUBLIC], "internal.example": ["10.0.0.5"]}[host]


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_http_posts_json_pins_address_and_sends_idempotency_key(
    journal: Any, sink: RecordingSink
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "got": json.loads(request.content)})

    spec = spec_from(
        "name: t\nnodes:\n  - {id: hook, type: http, method: POST,"
        " url: 'https://example.org/hook?a=1', json: {n: '{{ inputs.n }}'},"
        " headers: {X-Run: '{{ inputs.n }}'}}\n"
    )
    async with mock_client(handler) as client:
        ports = Ports(http=client, resolver=public_dns)
        result = await Engine(journal, ports=ports, events=sink).run(spec, "r1", {"n": 7})
    assert result.status == "completed", result.error
    assert result.output["status"] == 200
    assert result.output["body"] == {"ok": True, "got": {"n": 7}}
    [request] = seen
    assert request.url.host == PUBLIC  # connects to the checked address
    assert request.headers["Host"] == "example.org"
    assert request.extensions["sni_hostname"] == "example.org"
    assert request.headers["Idempotency-Key"] == "r1:hook"
    assert request.headers["X-Run"] == "7"


async def test_http_refuses_private_addresses(journal: Any) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200)

    for url in ("http://127.0.0.1:9/x", "http://internal.example/x", "http://169.254.169.254/",
                "http://[::1]/", "http://[::ffff:10.0.0.1]/"):  # fmt: skip
        spec = spec_from(f"name: t\nnodes:\n  - {{id: a, type: http, url: '{url}'}}\n")
        async with mock_client(handler) as client:
            engine = Engine(journal, ports=Ports(http=client, resolver=public_dns))
            result = await engine.run(spec, f"r-{url}")
        assert result.status == "failed", url
        assert result.error is not None and result.error["kind"] == "forbidden", url
    assert calls == 0


async def test_http_text_response_and_status_errors(journal: Any) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/text":
            return httpx.Response(200, text="plain", headers={"content-type": "text/plain"})
        return httpx.Response(429, json={"slow": "down"}, headers={"retry-after": "1"})

    spec = spec_from(
        "name: t\nnodes:\n  - {id: a, type: http, url: 'https://example.org/text'}\n"
        "  - {id: b, type: http, url: 'https://example.org/limited', needs: [a]}\n"
    )
    async with mock_client(handler) as client:
        engine = Engine(journal, ports=Ports(http=client, resolver=public_dns))
        result = await engine.run(spec, "r1")
    assert result.error is not None and result.error["kind"] == "rate_limit"
    records = await journal.load("r1")
    assert records[0].output["body"] == "plain"
    assert records[1].error["detail"] == {
        "status": 429,
        "body": {"slow": "down"},
        "retry_after": "1",
    }


async def test_http_retries_5xx_against_real_server(
    local_server: LocalServer, journal: Any
) -> None:
    local_server.log.fail_first = 2
    spec = spec_from(
        f"name: t\nnodes:\n  - {{id: a, type: http, url: '{local_server.url}/x',"
        " retry: {max_attempts: 3, initial_delay: 1ms}}\n"
    )
    async with httpx.AsyncClient() as client:
        engine = Engine(journal, ports=Ports(http=client, allow_private_network=True))
        result = await engine.run(spec, "r1")
    assert result.status == "completed"
    assert result.output["body"] == {"n": 3, "path": "/x"}
    assert local_server.log.keys("/x") == ["r1:a"] * 3


async def test_llm_streams_deltas_and_validates_output_schema(
    make_engine: MakeEngine, sink: RecordingSink, journal: Any
) -> None:
    llm = FakeLLM(
        lambda req: ChatResult(text='{"category": "billing"}', usage=Usage(12, 4, 0.002)),
        deltas=["{", '"category"', "}"],
    )
    spec = spec_from(
        "name: t\nnodes:\n  - {id: c, type: llm, model: fast, system: 'Be terse',"
        " prompt: 'Classify {{ inputs.t }}', output_schema: {type: object,"
        " properties: {category: {type: string}}, required: [category]}}\n"
    )
    result = await make_engine(llm=llm).run(spec, "r1", {"t": "refund"})
    assert result.output == {"category": "billing"}
    [request] = llm.requests
    assert request.model == "fast"
    assert [(m.role, m.content) for m in request.messages] == [
        ("system", "Be terse"), ("user", "Classify refund"),
    ]  # fmt: skip
    assert [d["delta"] for t, d in sink.ephemeral if t == "message.delta"] == [
        "{", '"category"', "}",
    ]  # fmt: skip
    assert "message.delta" not in sink.types()
    [record] = await journal.load("r1")
    assert record.usage == Usage(12, 4, 0.002)


async def test_llm_reply_failing_schema_is_invalid_output(make_engine: MakeEngine) -> None:
    llm = FakeLLM(lambda req: ChatResult(text='{"other": 1}'))
    spec = spec_from(
        "name: t\nnodes:\n  - {id: c, type: llm, prompt: hi, output_schema:"
        " {type: object, required: [category]}}\n"
    )
    result = await make_engine(llm=llm).run(spec, "r1")
    assert result.error is not None and result.error["kind"] == "invalid_output"


class FakeSubagents:
    def __init__(self) -> None:
        self.started: list[tuple[str, dict[str, Any], str]] = []

    async def start(
        self, agent: str, inputs: Mapping[str, Any], *, parent_run_id: str, idempotency_key: str
    ) -> str:
        self.started.append((agent, dict(inputs), idempotency_key))
        return f"child-{len(self.started)}"

    async def wait(self, child_run_id: str) -> SubagentResult:
        agent, inputs, _ = self.started[int(child_run_id.split("-")[1]) - 1]
        if agent == "broken":
            return SubagentResult("failed", error={"kind": "internal"})
        return SubagentResult("completed", output={"agent": agent, "inputs": inputs})


async def test_agent_loop_calls_tools_and_agents_then_answers(
    make_engine: MakeEngine, sink: RecordingSink
) -> None:
    def reply(request: ChatRequest) -> ChatResult:
        turn = sum(1 for m in request.messages if m.role == "assistant")
        if turn == 0:
            return ChatResult(
                tool_calls=(
                    ToolCall("c1", "search", {"q": "refunds"}),
                    ToolCall("c2", "missing", {}),
                ),
                usage=Usage(10, 2),
            )
        if turn == 1:
            return ChatResult(tool_calls=(ToolCall("c3", "agent_helper", {"x": 1}),))
        tool_results = [m.content for m in request.messages if m.role == "tool"]
        return ChatResult(text=" | ".join(tool_results), usage=Usage(5, 5))

    tools = FakeTools({"search": lambda q: [f"doc about {q}"]})
    subagents = FakeSubagents()
    spec = spec_from(
        "name: t\nnodes:\n  - {id: ag, type: agent, instructions: 'Help', prompt: '{{ inputs.q }}',"
        " tools: [search], agents: [helper], max_iterations: 5}\n"
    )
    engine = make_engine(llm=FakeLLM(reply), tools=tools, subagents=subagents)
    result = await engine.run(spec, "r1", {"q": "refund?"})
    assert result.status == "completed"
    assert result.output == (
        '["doc about refunds"] | {"error": "the model called \'missing\', which is not offered"}'
        ' | {"agent": "helper", "inputs": {"x": 1}}'
    )
    # calls are numbered across the loop: run_id:node_id:<index> (stable across re-runs)
    assert tools.calls == [("search", {"q": "refunds"}, "r1:ag:0")]
    assert subagents.started == [("helper", {"x": 1}, "r1:ag:2")]
    called = [d["name"] for _, t, d in sink.durable if t == "tool.called"]
    assert called == ["search", "missing", "agent_helper"]
    assert sum(1 for t in sink.types() if t == "tool.result") == 3


async def test_agent_stops_at_max_iterations(make_engine: MakeEngine) -> None:
    llm = FakeLLM(lambda req: ChatResult(tool_calls=(ToolCall("c", "search", {"q": "x"}),)))
    tools = FakeTools({"search": lambda q: "again"})
    spec = spec_from(
        "name: t\nnodes:\n  - {id: ag, type: agent, prompt: go, tools: [search],"
        " max_iterations: 3}\n"
    )
    result = await make_engine(llm=llm, tools=tools).run(spec, "r1")
    assert result.error is not None and result.error["kind"] == "invalid_output"
    assert len(llm.requests) == 3


async def test_tool_retrieval_and_subagent_nodes(make_engine: MakeEngine) -> None:
    class Retrieval:
        async def retrieve(
            self, knowledge_bases: Any, query: str, *, top_k: int, **options: Any
        ) -> list[dict[str, Any]]:
            return [{"text": f"{query} in {kb}", "score": 1.0} for kb in knowledge_bases][:top_k]

    subagents = FakeSubagents()
    spec = spec_from(
        """
name: t
nodes:
  - {id: kb, type: retrieval, knowledge_bases: [kb1, kb2], query: "{{ inputs.q }}", top_k: 1}
  - {id: calc, type: tool, tool: add, args: {a: 1, b: "{{ inputs.n }}"}}
  - {id: child, type: subagent, agent: helper, needs: [kb],
     inputs: {docs: "{{ steps.kb.output.context }}"}}
  - {id: broken, type: subagent, agent: broken, on_error: continue}
output: {kb: "{{ steps.kb.output.passages | map(attribute='text') | list }}",
         calc: "{{ steps.calc.output }}",
         child: "{{ steps.child.output }}", broken: "{{ steps.broken.error.kind }}"}
"""
    )
    tools = FakeTools({"add": lambda a, b: a + b})
    engine = make_engine(retrieval=Retrieval(), tools=tools, subagents=subagents)
    result = await engine.run(spec, "r1", {"q": "vat", "n": 2})
    assert result.status == "completed", result.error
    context = "[1] source\nvat in kb1"
    assert result.output == {
        "kb": ["vat in kb1"],
        "calc": 3,
        "child": {"agent": "helper", "inputs": {"docs": context}},
        "broken": "subagent",
    }
    assert ("helper", {"docs": context}, "r1:child") in subagents.started


async def test_missing_port_fails_only_that_node(make_engine: MakeEngine) -> None:
    spec = spec_from("name: t\nnodes:\n  - {id: a, type: llm, prompt: hi}\n")
    result = await make_engine().run(spec, "r1")
    assert result.error is not None and "no LLM port" in result.error["message"]
