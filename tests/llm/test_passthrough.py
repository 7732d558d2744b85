"""The pure parts of `agentdeck.llm.passthrough` and `agentdeck.llm.openai_stream`: the
chunk rewriter, the request's needs and cache key, the upstream body. The calls
themselves are tested through /v1 (tests/openai_api/test_passthrough.py)."""

from __future__ import annotations

import json
from typing import Any

from agentdeck.llm import CallContext, ChatMessage, ChatRequest, ToolSpec
from agentdeck.llm.catalog import Catalog
from agentdeck.llm.openai_stream import ChunkRewriter, usage_of
from agentdeck.llm.passthrough import cache_key, needs_of, upstream_body
from agentdeck.llm.routing import Candidate, Needs
from agentdeck.llm.types import ProviderConfig, ProviderKind


def _chunk(**fields: Any) -> bytes:
    body = {"id": "c1", "object": "chat.completion.chunk", "created": 3, "model": "up-model"}
    return b"data: " + json.dumps({**body, **fields}).encode() + b"\n\n"


def _choice(text: str) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": {"content": text}, "finish_reason": None}]


def _frames(data: bytes) -> list[Any]:
    lines = [line[6:] for line in data.split(b"\n") if line.startswith(b"data: ")]
    return [line.decode() if line == b"[DONE]" else json.loads(line) for line in lines]


def _cand(kind: ProviderKind = "openai", name: str = "up") -> Candidate:
    provider = ProviderConfig(id="p", name=name, kind=kind, base_url="http://x/v1")
    return Candidate(provider, "up-model", Catalog().info(provider, "up-model"))


def test_frames_split_anywhere_come_out_whole_with_the_alias_as_model() -> None:
    stream = _chunk(choices=_choice("Hel")) + _chunk(choices=_choice("lo")) + b"data: [DONE]\n\n"
    rewriter = ChunkRewriter("smart", include_usage=False)
    out = b"".join(rewriter.feed(stream[i : i + 7]) for i in range(0, len(stream), 7))
    frames = _frames(out)
    assert [f["choices"][0]["delta"]["content"] for f in frames] == ["Hel", "lo"]
    assert {f["model"] for f in frames} == {"smart"}
    assert rewriter.done and rewriter.trailer() == b"data: [DONE]\n\n"


def test_crlf_comments_blank_and_broken_lines_are_tolerated() -> None:
    data = (
        b": keep-alive\r\n\r\n"
        + _chunk(choices=_choice("a")).replace(b"\n\n", b"\r\n\r\n")
        + b"data: {not json\n\n"
        + b"event: ping\n\n"
        + b'data: {"error": {"message": "overloaded"}}\n\n'
        + b"data:[DONE]\n\n"
        + _chunk(choices=_choice("after done"))
    )
    rewriter = ChunkRewriter("smart", include_usage=False)
    frames = _frames(rewriter.feed(data))
    assert frames == [
        {"id": "c1", "object": "chat.completion.chunk", "created": 3, "model": "smart",
         "choices": _choice("a")},
        {"error": {"message": "overloaded"}},
    ]  # fmt: skip
    assert rewriter.done


def test_usage_is_kept_and_sent_only_when_asked_for() -> None:
    usage = {
        "prompt_tokens": 9,
        "completion_tokens": 2,
        "prompt_tokens_details": {"cached_tokens": 4},
    }
    data = (
        _chunk(choices=_choice("x"), usage=None)
        + _chunk(choices=[], usage=usage)
        + b"data: [DONE]\n\n"
    )
    quiet = ChunkRewriter("smart", include_usage=False)
    frames = _frames(quiet.feed(data) + quiet.trailer())
    assert frames[:-1] == [
        {"id": "c1", "object": "chat.completion.chunk", "created": 3, "model": "smart",
         "choices": _choice("x")}
    ]  # fmt: skip
    assert (quiet.usage.input_tokens, quiet.usage.output_tokens) == (9, 2)
    assert quiet.usage.cached_tokens == 4
    asked = ChunkRewriter("smart", include_usage=True)
    frames = _frames(asked.feed(data) + asked.trailer())
    assert frames[0]["usage"] is None and frames[1]["usage"] == usage
    assert frames[2] == "[DONE]" and len(frames) == 3


def test_usage_inside_the_last_chunk_becomes_a_usage_chunk_when_asked_for() -> None:
    usage = {"prompt_tokens": 5, "completion_tokens": 1}
    data = _chunk(choices=_choice("x"), usage=usage) + b"data: [DONE]\n\n"
    asked = ChunkRewriter("smart", include_usage=True)
    frames = _frames(asked.feed(data) + asked.trailer())
    assert frames[0]["usage"] is None
    assert frames[1]["choices"] == [] and frames[1]["id"] == "c1" and frames[1]["created"] == 3
    assert frames[1]["usage"] == {
        "prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6,
        "prompt_tokens_details": {"cached_tokens": 0},
    }  # fmt: skip
    # No usage from the upstream at all: zeros, in the same shape.
    bare = ChunkRewriter("smart", include_usage=True)
    frames = _frames(bare.feed(_chunk(choices=_choice("y"))) + bare.trailer())
    assert frames[1]["usage"]["total_tokens"] == 0


def test_needs_estimate_as_the_translated_path_does() -> None:
    body = {
        "model": "smart",
        "messages": [{"role": "user", "content": "a" * 40}, {"role": "assistant", "content": None}],
        "max_completion_tokens": 77,
    }
    request = ChatRequest(
        messages=[ChatMessage(role="user", content="a" * 40), ChatMessage(role="assistant")],
        max_tokens=77,
    )
    assert needs_of(body) == Needs.of(request)
    parts = {**body, "messages": [{"role": "user", "content": [{"type": "text", "text": "a" * 40}]},
                                  {"role": "assistant", "content": None}]}  # fmt: skip
    assert needs_of(parts) == needs_of(body)
    tools = {**body, "tools": [{"type": "function", "function": {"name": "f"}}],
             "response_format": {"type": "json_object"}}  # fmt: skip
    needs = needs_of(tools)
    assert needs.tools and needs.json_schema and needs.input_tokens > needs_of(body).input_tokens
    assert not needs_of({**body, "response_format": {"type": "text"}}).json_schema
    assert Needs.of(ChatRequest(messages=[], tools=[ToolSpec(name="f")])).tools


def test_cache_key_is_per_org_and_chain_and_ignores_only_model_and_stream() -> None:
    body = {"model": "smart", "messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    org = CallContext(org_id="o1")
    key = cache_key(org, [_cand()], body)
    assert key.startswith("o1:")
    same = {**body, "model": "other", "stream": False, "stream_options": {"include_usage": True}}
    assert cache_key(org, [_cand()], same) == key
    assert cache_key(CallContext(org_id="o2"), [_cand()], body) != key
    assert cache_key(org, [_cand(name="two")], body) != key
    assert cache_key(org, [_cand()], {**body, "temperature": 1}) != key
    assert cache_key(org, [_cand()], {**body, "tools": []}) != key


def test_upstream_body() -> None:
    messages = [{"role": "developer", "content": "d"}]
    body = {"model": "smart", "messages": messages,
            "stream": True, "stream_options": {"include_usage": False, "x": 1}}  # fmt: skip
    sent = json.loads(upstream_body(body, _cand(), stream=True))
    assert sent["model"] == "up-model" and sent["messages"][0]["role"] == "developer"
    assert sent["stream_options"] == {"include_usage": True, "x": 1}
    compat = json.loads(upstream_body(body, _cand("ollama"), stream=False))
    assert compat["messages"][0]["role"] == "system" and compat["stream_options"]["x"] == 1
    assert messages[0]["role"] == "developer"  # the client's body is not changed


def test_usage_of_odd_shapes() -> None:
    assert usage_of(None).input_tokens == 0
    assert usage_of({"prompt_tokens": None, "prompt_tokens_details": None}).cached_tokens == 0
