"""Retrieval nodes, the agent's `knowledge_search` tool and `[n]` citations, with fakes at the
RetrievalPort and LLMPort seams."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from agentdeck.engine import AgentSpec, Engine, NodeError
from agentdeck.engine.nodes.citations import EXCERPT_CHARS, CitationBook, format_passages
from agentdeck.engine.ports import ChatRequest, ChatResult, ToolCall

from .conftest import FakeLLM, RecordingSink, spec_from

MakeEngine = Callable[..., Engine]


def hit(doc: str, start: int, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "text": text, "score": 0.5, "document_id": doc, "document_title": f"Doc {doc}",
        "kb_id": "kb-1", "page": 2, "heading": "Safety > Fire", "start": start,
        "end": start + len(text), **extra,
    }  # fmt: skip


CORPUS = {
    "fire": [hit("d1", 0, "Use the stairs in a fire."), hit("d2", 40, "Alarms ring twice.")],
    "exits": [hit("d3", 5, "Exits are green."), hit("d1", 0, "Use the stairs in a fire.")],
}


@dataclass
class FakeRetrieval:
    """A RetrievalPort over a fixed corpus; `missing` knowledge bases raise like the adapter."""

    corpus: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: dict(CORPUS))
    missing: frozenset[str] = frozenset()
    calls: list[dict[str, Any]] = field(default_factory=list)

    async def retrieve(
        self,
        knowledge_bases: Sequence[str],
        query: str,
        *,
        top_k: int,
        mode: str = "hybrid",
        filters: Mapping[str, Any] | None = None,
        min_score: float | None = None,
    ) -> list[dict[str, Any]]:
        self.calls.append(
            {"kbs": list(knowledge_bases), "query": query, "top_k": top_k, "mode": mode,
             "filters": filters, "min_score": min_score}
        )  # fmt: skip
        for name in knowledge_bases:
            if name in self.missing:
                raise NodeError("retrieval", f"knowledge base {name!r} not found")
        return [dict(h) for h in self.corpus.get(query, [])][:top_k]


def user_prompt(request: ChatRequest) -> str:
    return next(m.content for m in request.messages if m.role == "user")


# ---- the retrieval node ------------------------------------------------------------------


async def test_retrieval_node_outputs_numbered_passages_and_context(
    make_engine: MakeEngine,
) -> None:
    port = FakeRetrieval()
    spec = spec_from(
        """
name: t
nodes:
  - id: r
    type: retrieval
    knowledge_bases: [handbook, "5b0b7a52-1f7e-4d0c-9a43-2f3f1b9a6c11"]
    query: "{{ inputs.q }}"
    top_k: 2
    mode: fulltext
    filters: {lang: "{{ inputs.lang }}", tag: [a, b]}
    min_score: 0.1
"""
    )
    result = await make_engine(retrieval=port).run(spec, "r1", {"q": "fire", "lang": "en"})
    assert result.status == "completed", result.error
    assert port.calls == [
        {"kbs": ["handbook", "5b0b7a52-1f7e-4d0c-9a43-2f3f1b9a6c11"], "query": "fire",
         "top_k": 2, "mode": "fulltext", "filters": {"lang": "en", "tag": ["a", "b"]},
         "min_score": 0.1}
    ]  # fmt: skip
    output = result.output
    assert output["query"] == "fire"
    first, second = output["passages"]
    assert first == {"n": 1, **CORPUS["fire"][0]}
    assert second["n"] == 2 and second["document_id"] == "d2"
    assert output["context"] == (
        "[1] Doc d1, p. 2, Safety > Fire\nUse the stairs in a fire.\n\n"
        "[2] Doc d2, p. 2, Safety > Fire\nAlarms ring twice."
    )


async def test_retrieval_node_keeps_extra_fields_and_derives_the_heading(
    make_engine: MakeEngine,
) -> None:
    extra = {"text": "x", "score": 1, "document_id": "d", "start": 0, "end": 1,
             "heading_path": ["A", "B"], "source_url": "https://example.org/a"}  # fmt: skip
    port = FakeRetrieval(corpus={"q": [extra]})
    spec = spec_from(
        "name: t\nnodes:\n  - {id: r, type: retrieval, knowledge_bases: [k], query: q}"
    )
    result = await make_engine(retrieval=port).run(spec, "r1")
    [passage] = result.output["passages"]
    assert passage["heading"] == "A > B"
    assert passage["source_url"] == "https://example.org/a"
    assert passage["page"] is None and passage["kb_id"] is None


async def test_retrieval_node_refuses_rendered_filters_that_are_not_filters(
    make_engine: MakeEngine,
) -> None:
    port = FakeRetrieval()
    spec = spec_from(
        "name: t\nnodes:\n  - {id: r, type: retrieval, knowledge_bases: [k], query: fire,"
        " filters: {lang: '{{ inputs.lang }}'}}"
    )
    result = await make_engine(retrieval=port).run(spec, "r1", {"lang": {"nested": 1}})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["kind"] == "invalid_input"
    assert result.error["node"] == "r"
    assert "filters" in result.error["message"] and "'lang'" in result.error["message"]
    assert port.calls == []


async def test_unknown_knowledge_base_fails_the_node_without_retry(
    make_engine: MakeEngine,
) -> None:
    port = FakeRetrieval(missing=frozenset({"ghost"}))
    spec = spec_from(
        "name: t\nnodes:\n  - {id: r, type: retrieval, knowledge_bases: [ghost], query: fire,"
        " retry: {max_attempts: 3}}"
    )
    result = await make_engine(retrieval=port).run(spec, "r1")
    assert result.error is not None
    assert result.error["kind"] == "retrieval" and "'ghost'" in result.error["message"]
    assert len(port.calls) == 1


# ---- citations of an llm node ------------------------------------------------------------

RAG_LLM = """
name: t
nodes:
  - {id: r, type: retrieval, knowledge_bases: [handbook], query: "{{ inputs.q }}"}
  - id: answer
    type: llm
    needs: [r]
    prompt: "Sources:\\n{{ steps.r.output.context }}\\nQuestion: {{ inputs.q }}"
"""


async def test_llm_answer_cites_the_retrieval_passages(make_engine: MakeEngine) -> None:
    llm = FakeLLM(lambda req: ChatResult(text="Take the stairs [1][7]; alarms ring twice [2, 9]."))
    result = await make_engine(retrieval=FakeRetrieval(), llm=llm).run(
        spec_from(RAG_LLM), "r1", {"q": "fire"}
    )
    assert result.status == "completed", result.error
    assert "[1] Doc d1, p. 2, Safety > Fire\nUse the stairs" in user_prompt(llm.requests[0])
    assert result.output["text"] == "Take the stairs [1]; alarms ring twice [2]."
    assert result.output["citations"] == [
        {"n": 1, "kb_id": "kb-1", "document_id": "d1", "document_title": "Doc d1", "page": 2,
         "heading": "Safety > Fire", "start": 0, "end": 25, "text": "Use the stairs in a fire."},
        {"n": 2, "kb_id": "kb-1", "document_id": "d2", "document_title": "Doc d2", "page": 2,
         "heading": "Safety > Fire", "start": 40, "end": 58, "text": "Alarms ring twice."},
    ]  # fmt: skip


async def test_llm_citations_switch_and_plain_outputs(make_engine: MakeEngine) -> None:
    llm = FakeLLM(lambda req: ChatResult(text="See [1]."))
    off = spec_from(RAG_LLM.rstrip() + "\n    citations: false\n")
    result = await make_engine(retrieval=FakeRetrieval(), llm=llm).run(off, "r1", {"q": "fire"})
    assert result.output == "See [1]."
    plain = spec_from("name: t\nnodes:\n  - {id: a, type: llm, prompt: 'hi [1]'}")
    result = await make_engine(llm=llm).run(plain, "r2")
    assert result.output == "See [1]."
    forced = spec_from("name: t\nnodes:\n  - {id: a, type: llm, prompt: hi, citations: true}")
    result = await make_engine(llm=llm).run(forced, "r3")
    assert result.output == {"text": "See.", "citations": []}


async def test_llm_citing_a_retrieval_that_found_nothing(make_engine: MakeEngine) -> None:
    llm = FakeLLM(lambda req: ChatResult(text="I do not know [1]."))
    result = await make_engine(retrieval=FakeRetrieval(), llm=llm).run(
        spec_from(RAG_LLM), "r1", {"q": "nothing matches"}
    )
    assert result.output == {"text": "I do not know.", "citations": []}
    assert "Sources:\n\nQuestion" in user_prompt(llm.requests[0])


# ---- the knowledge tool of an agent node --------------------------------------------------

AGENT = """
name: t
nodes:
  - id: ag
    type: agent
    prompt: "{{ inputs.q }}"
    knowledge_bases: [handbook]
    knowledge_search: {top_k: 3, max_top_k: 5, mode: vector, filters: {lang: en}}
"""


def scripted(*turns: ChatResult) -> Callable[[ChatRequest], ChatResult]:
    def reply(request: ChatRequest) -> ChatResult:
        return turns[sum(1 for m in request.messages if m.role == "assistant")]

    return reply


async def test_agent_searches_with_stable_numbers_and_cites(
    make_engine: MakeEngine, sink: RecordingSink
) -> None:
    llm = FakeLLM(
        scripted(
            ChatResult(tool_calls=(ToolCall("c1", "knowledge_search", {"query": "fire"}),)),
            ChatResult(
                tool_calls=(ToolCall("c2", "knowledge_search", {"query": "exits", "top_k": 50}),)
            ),
            ChatResult(text="Stairs [1], green exits [3], never [4]."),
        )
    )
    port = FakeRetrieval()
    result = await make_engine(retrieval=port, llm=llm).run(spec_from(AGENT), "r1", {"q": "?"})
    assert result.status == "completed", result.error
    [tool] = llm.requests[0].tools
    assert tool.name == "knowledge_search" and tool.parameters["required"] == ["query"]
    assert tool.parameters["properties"]["top_k"]["maximum"] == 5
    assert [(c["query"], c["top_k"], c["mode"], c["filters"]) for c in port.calls] == [
        ("fire", 3, "vector", {"lang": "en"}),
        ("exits", 5, "vector", {"lang": "en"}),  # capped at max_top_k
    ]
    first, second = (m.content for m in llm.requests[2].messages if m.role == "tool")
    assert first.startswith("[1] Doc d1") and "\n\n[2] Doc d2" in first
    # the new chunk continues the numbering, the chunk seen before keeps [1]
    assert second.startswith("[3] Doc d3, p. 2, Safety > Fire\nExits are green.")
    assert "\n\n[1] Doc d1" in second
    assert result.output["text"] == "Stairs [1], green exits [3], never."
    assert [(c["n"], c["document_id"]) for c in result.output["citations"]] == [
        (1, "d1"), (3, "d3"),
    ]  # fmt: skip
    events = [(t, d) for _, t, d in sink.durable if t.startswith("tool.")]
    assert [t for t, _ in events] == ["tool.called", "tool.result"] * 2
    called, done = events[2][1], events[3][1]
    assert called["arguments"] == {"query": "exits", "top_k": 50}
    assert done["name"] == "knowledge_search" and done["call_id"] == "c2"
    assert [p["n"] for p in done["result"]["passages"]] == [3, 1]


async def test_agent_numbers_continue_after_a_templated_retrieval(make_engine: MakeEngine) -> None:
    spec = spec_from(
        """
name: t
nodes:
  - {id: r, type: retrieval, knowledge_bases: [handbook], query: exits, top_k: 1}
  - id: ag
    type: agent
    needs: [r]
    prompt: "Known: {{ steps.r.output.context }}"
    knowledge_bases: [handbook]
"""
    )
    llm = FakeLLM(
        scripted(
            ChatResult(tool_calls=(ToolCall("c1", "knowledge_search", {"query": "exits"}),)),
            ChatResult(text="Green [1] and stairs [2]."),
        )
    )
    result = await make_engine(retrieval=FakeRetrieval(), llm=llm).run(spec, "r1")
    assert result.status == "completed", result.error
    [content] = (m.content for m in llm.requests[1].messages if m.role == "tool")
    assert content.startswith("[1] Doc d3") and "\n\n[2] Doc d1" in content
    assert [(c["n"], c["document_id"]) for c in result.output["citations"]] == [
        (1, "d3"), (2, "d1"),
    ]  # fmt: skip


async def test_agent_bad_search_arguments_go_back_to_the_model(
    make_engine: MakeEngine, sink: RecordingSink
) -> None:
    llm = FakeLLM(
        scripted(
            ChatResult(tool_calls=(ToolCall("c1", "knowledge_search", {"query": " "}),)),
            ChatResult(tool_calls=(ToolCall("c2", "knowledge_search", {"q": "x"}),)),
            ChatResult(tool_calls=(ToolCall("c3", "knowledge_search", {"query": "none"}),)),
            ChatResult(text="Nothing found."),
        )
    )
    port = FakeRetrieval()
    result = await make_engine(retrieval=port, llm=llm).run(spec_from(AGENT), "r1", {"q": "?"})
    assert result.output == {"text": "Nothing found.", "citations": []}
    contents = [m.content for m in llm.requests[3].messages if m.role == "tool"]
    assert contents == [
        '{"error": "`query` must be a non-empty string"}',
        '{"error": "`query` must be a non-empty string"}',
        "No passages found for 'none'.",
    ]
    assert [c["query"] for c in port.calls] == ["none"]
    errors = [d["error"]["kind"] for _, t, d in sink.durable if t == "tool.result" and "error" in d]
    assert errors == ["invalid_input", "invalid_input"]


async def test_agent_search_of_a_missing_knowledge_base_fails_the_node(
    make_engine: MakeEngine, sink: RecordingSink
) -> None:
    llm = FakeLLM(
        scripted(ChatResult(tool_calls=(ToolCall("c1", "knowledge_search", {"query": "x"}),)))
    )
    port = FakeRetrieval(missing=frozenset({"handbook"}))
    result = await make_engine(retrieval=port, llm=llm).run(spec_from(AGENT), "r1", {"q": "?"})
    assert result.status == "failed"
    assert result.error is not None and result.error["kind"] == "retrieval"
    assert "'handbook'" in result.error["message"]
    [result_event] = [d for _, t, d in sink.durable if t == "tool.result"]
    assert result_event["error"]["kind"] == "retrieval"
    assert len(llm.requests) == 1


async def test_agent_without_knowledge_keeps_plain_text(make_engine: MakeEngine) -> None:
    llm = FakeLLM(lambda req: ChatResult(text="plain [1]"))
    spec = spec_from("name: t\nnodes:\n  - {id: ag, type: agent, prompt: hi}")
    result = await make_engine(llm=llm).run(spec, "r1")
    assert result.output == "plain [1]"
    assert llm.requests[0].tools == ()


async def test_agent_with_output_schema_does_not_cite(make_engine: MakeEngine) -> None:
    llm = FakeLLM(lambda req: ChatResult(text='{"a": "x [1]"}'))
    spec = spec_from(AGENT.rstrip() + "\n    output_schema: {type: object}\n")
    result = await make_engine(llm=llm, retrieval=FakeRetrieval()).run(spec, "r1", {"q": "?"})
    assert result.output == {"a": "x [1]"}


# ---- the citation helpers ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "text", "cited"),
    [
        ("A [1]. B [2][1].", "A [1]. B [2][1].", [1, 2]),
        ("A [2, 1, 8].", "A [2, 1].", [2, 1]),
        ("only bad [8] [9].", "only bad.", []),
        ("code x[1] and f(a)[2] and y [1]", "code x[1] and f(a)[2] and y [1]", [1]),
        ("list[8] stays", "list[8] stays", []),
    ],
)
def test_markers(answer: str, text: str, cited: list[int]) -> None:
    book = CitationBook()
    book.add([hit("d1", 0, "one"), hit("d2", 9, "two")])
    got, citations = book.cite(answer)
    assert got == text
    assert [c["n"] for c in citations] == cited


def test_citation_excerpt_is_bounded_and_book_keeps_first_number() -> None:
    long = "w" * (EXCERPT_CHARS + 50)
    book = CitationBook([{"n": 1, "text": long, "document_id": "a", "start": 0}])
    book = CitationBook([*book.by_number.values(), {"n": 1, "text": "dup", "document_id": "b"}])
    _, [citation] = book.cite("[1]")
    assert len(citation["text"]) == EXCERPT_CHARS and citation["text"].endswith("…")
    assert citation["document_id"] == "a"
    assert format_passages([]) == ""


def test_schema_publishes_retrieval_and_knowledge_options() -> None:
    schema = AgentSpec.model_json_schema(by_alias=True)
    retrieval = schema["$defs"]["RetrievalNode"]["properties"]
    assert set(retrieval) >= {"knowledge_bases", "query", "top_k", "mode", "filters", "min_score"}
    assert retrieval["mode"]["enum"] == ["vector", "fulltext", "hybrid"]
    agent = schema["$defs"]["AgentNode"]["properties"]
    assert {"knowledge_bases", "knowledge_search", "citations"} <= set(agent)
    assert "citations" in schema["$defs"]["LlmNode"]["properties"]
