"""A scripted model for memory tests, faked at the pydantic-ai seam (`FunctionModel`).

Rules on the last user message: `remember: X` calls `remember`; a question (`?`) calls
`recall` with it; `from the summary:` answers from the system prompts; anything else is
acknowledged. After a tool result it answers from that result. The summariser (its system
prompt) keeps every tool result line of the transcript. Every request is recorded, and a
tool result without its call in the same request is counted as an orphan.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from typing import Any

from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    ModelResponsePart,
    SystemPromptPart,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
    UserPromptPart,
)
from pydantic_ai.models.function import AgentInfo, DeltaToolCall, DeltaToolCalls, FunctionModel

SUMMARISER = "You keep the running summary"
_CODE = re.compile(r"\b\d{4}\b")


def _system(messages: list[ModelMessage]) -> list[str]:
    return [p.content for m in messages for p in m.parts if isinstance(p, SystemPromptPart)]


def _last_user(messages: list[ModelMessage]) -> str:
    users = [p.content for m in messages for p in m.parts if isinstance(p, UserPromptPart)]
    return str(users[-1]) if users else ""


def _returns(message: ModelMessage) -> list[ToolReturnPart]:
    return [p for p in message.parts if isinstance(p, ToolReturnPart)]


def _content(part: ToolReturnPart) -> Any:
    if isinstance(part.content, str):
        try:
            return json.loads(part.content)
        except ValueError:
            return part.content
    return part.content


class Brain:
    def __init__(self) -> None:
        self.requests: list[list[ModelMessage]] = []
        self.transcripts: list[str] = []  # what the summariser was given
        self.orphans = 0
        self.calls = 0

    def factory(self, provider: Any, model: str) -> FunctionModel:
        return FunctionModel(self._reply, stream_function=self._stream)

    def decide(self, messages: list[ModelMessage], info: AgentInfo) -> list[ModelResponsePart]:
        if any(s.startswith(SUMMARISER) for s in _system(messages)):
            transcript = _last_user(messages)
            self.transcripts.append(transcript)
            previous = transcript.split("\n\nNew messages:\n")[0].removeprefix("Summary so far:\n")
            kept = [line for line in transcript.splitlines() if " returned: " in line]
            return [TextPart("; ".join([previous, *kept]))]
        self.requests.append(messages)
        self._count_orphans(messages)
        last = messages[-1]
        if isinstance(last, ModelRequest) and _returns(last):
            return [TextPart(self._answer_from(_returns(last)[-1]))]
        prompt = _last_user(messages)
        tools = {t.name for t in info.function_tools}
        self.calls += 1
        if "remember:" in prompt and "remember" in tools:
            fact = prompt.split("remember:", 1)[1].strip()
            return [ToolCallPart("remember", {"content": fact}, tool_call_id=f"m{self.calls}")]
        if prompt.startswith("from the summary:"):
            codes = [c for s in _system(messages) for c in _CODE.findall(s)]
            return [TextPart(f"The code is {codes[-1]}." if codes else "I do not know.")]
        if prompt.rstrip().endswith("?") and "recall" in tools:
            return [ToolCallPart("recall", {"query": prompt}, tool_call_id=f"r{self.calls}")]
        return [TextPart(f"ok: {prompt[:20]}")]

    def _answer_from(self, part: ToolReturnPart) -> str:
        result = _content(part)
        if part.tool_name == "recall" and isinstance(result, dict):
            memories = result.get("memories") or []
            return "You told me: " + "; ".join(memories) if memories else "I do not know."
        if part.tool_name == "remember" and isinstance(result, dict):
            return f"Noted: {result.get('remembered')}"
        return f"The tool said: {result}"

    def _count_orphans(self, messages: list[ModelMessage]) -> None:
        called = {
            p.tool_call_id
            for m in messages
            if isinstance(m, ModelResponse)
            for p in m.parts
            if isinstance(p, ToolCallPart)
        }
        self.orphans += sum(
            1 for m in messages for p in m.parts
            if isinstance(p, ToolReturnPart) and p.tool_call_id not in called
        )  # fmt: skip

    def _reply(self, messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=self.decide(messages, info))

    async def _stream(
        self, messages: list[ModelMessage], info: AgentInfo
    ) -> AsyncIterator[str | DeltaToolCalls]:
        for i, part in enumerate(self.decide(messages, info)):
            if isinstance(part, ToolCallPart):
                call = DeltaToolCall(
                    part.tool_name, part.args_as_json_str(), tool_call_id=part.tool_call_id
                )
                yield {i: call}
            elif isinstance(part, TextPart):
                for word in re.findall(r"\S+\s*", part.content):
                    yield word
