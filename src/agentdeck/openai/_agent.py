"""`agent:<name>` on /v1: the agent runs as a normal run (journal, events, budgets).

The last user message becomes its input (and the whole conversation, for an agent whose
inputs declare `messages`); its output is the answer. A chat client's conversation maps
to one thread: `metadata.thread_id`, or one derived from `user` and the chat id header.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from agentdeck.agent import service as agents
from agentdeck.auth.principal import Principal
from agentdeck.errors import AppError, InvalidInput, NotFound
from agentdeck.kit.ids import parse_uuid
from agentdeck.llm import Usage
from agentdeck.models import Run
from agentdeck.run import service as runs
from agentdeck.runtime import Runtime
from agentdeck.thread import service as threads
from agentdeck.thread.schemas import ThreadCreate

PREFIX = "agent:"
_STEP_REF = re.compile(r"steps\.([A-Za-z_][A-Za-z0-9_]*)")
_THREAD_NS = uuid.UUID("5b8f3f1e-7d0a-4c43-9d0e-6f1a2d7c9b11")


class ModelNotFound(NotFound):
    type, title = "model-not-found", "Model not found"


class RunFailed(AppError):
    status, type, title = 502, "run-failed", "The agent's run failed"


@dataclass
class AgentCall:
    """A started run and what the answer is made of."""

    run: Run
    answer_nodes: frozenset[str]
    thread_id: uuid.UUID | None
    streamed: dict[str, str] = field(default_factory=dict)


def is_agent(model: str) -> bool:
    return model.startswith(PREFIX)


def _answer_nodes(spec: dict[str, Any]) -> frozenset[str]:
    """Nodes whose tokens make up the answer: the last node, or those the output reads."""
    if spec.get("output") is None:
        nodes = spec.get("nodes") or [{}]
        return frozenset({str(nodes[-1].get("id"))})
    return frozenset(_STEP_REF.findall(json.dumps(spec["output"])))


def agent_inputs(
    schema: dict[str, Any] | None, conversation: list[dict[str, str]]
) -> dict[str, Any]:
    """The run's inputs: `message` (the last user message) and, when the agent's inputs
    declare them (or declare nothing), `messages`; an agent whose schema has neither gets
    the message in its one required string field."""
    users = [m["content"] for m in conversation if m["role"] == "user"]
    if not users:
        raise InvalidInput("the conversation has no user message", field="messages")
    last = users[-1]
    if not schema:
        return {"message": last, "messages": conversation}
    props: dict[str, Any] = schema.get("properties") or {}
    inputs: dict[str, Any] = {}
    if "message" in props:
        inputs["message"] = last
    if "messages" in props:
        inputs["messages"] = conversation
    if not inputs:
        required = [
            k for k in schema.get("required") or () if (props.get(k) or {}).get("type") == "string"
        ]
        inputs[required[0] if required else "message"] = last
    return inputs


def derived_thread_id(
    principal: Principal, space_id: uuid.UUID, user: str | None, chat_id: str | None
) -> uuid.UUID | None:
    """One thread per (caller, space, end user, chat client's conversation)."""
    if not chat_id:
        return None
    name = f"{principal.org_id}:{space_id}:{principal.user_id}:{user or ''}:{chat_id}"
    return uuid.uuid5(_THREAD_NS, name)


async def _thread(
    session: AsyncSession,
    principal: Principal,
    space_id: uuid.UUID,
    wanted: str | None,
    derived: uuid.UUID | None,
) -> uuid.UUID | None:
    if wanted is not None:
        thread_id = parse_uuid(wanted)
        if thread_id is None:
            raise NotFound("thread not found", field="metadata.thread_id")
        return (await threads.get(session, principal, thread_id)).id
    if derived is None:
        return None
    try:
        return (await threads.get(session, principal, derived)).id
    except NotFound:
        body = ThreadCreate(metadata={"space_id": str(space_id), "source": "openai"})
        created = await threads.create(session, principal, body, new_id=derived)
        return created.id


async def start(
    session: AsyncSession,
    principal: Principal,
    model: str,
    conversation: list[dict[str, str]],
    *,
    thread_ref: str | None = None,
    user: str | None = None,
    chat_id: str | None = None,
    new_thread: bool = False,
    metadata: dict[str, Any] | None = None,
) -> AgentCall:
    """Create the run (the caller commits). Raises ModelNotFound, NotFound (thread),
    Forbidden (may not run it), InvalidInput, Conflict (the thread is busy)."""
    name = model[len(PREFIX) :]
    try:
        agent = await agents.resolve(session, principal, name)
    except NotFound:
        raise ModelNotFound(f"The model '{model}' does not exist", field="model") from None
    version = await agents.get_version(session, principal, agent.id)
    assistant = await agents.default_assistant(session, principal, agent)
    derived = derived_thread_id(principal, agent.space_id, user, chat_id)
    thread_id = await _thread(session, principal, agent.space_id, thread_ref, derived)
    if thread_id is None and new_thread:
        body = ThreadCreate(metadata={"space_id": str(agent.space_id), "source": "openai"})
        thread_id = (await threads.create(session, principal, body)).id
    run = await runs.create_run(
        session,
        principal,
        agent_id=agent.id,
        agent_version=version.version,
        inputs=agent_inputs(version.spec.get("inputs"), conversation),
        thread_id=thread_id,
        assistant_id=assistant.id,
        config=dict(assistant.config or {}),
        metadata={**(metadata or {}), "source": "openai", **({"end_user": user} if user else {})},
    )
    return AgentCall(run, _answer_nodes(version.spec), thread_id)


def answer_of(run: Run) -> str:
    """The answer text of a stopped run. Raises RunFailed for a failed or cancelled run."""
    if run.status == "failed":
        error = run.error or {}
        raise RunFailed(f"the agent's run failed: {error.get('message', 'error')}")
    if run.status == "cancelled":
        raise RunFailed("the agent's run was cancelled")
    if run.status == "interrupted":
        payload = run.interrupt or {}
        return str(payload.get("message") or json.dumps(payload, default=str))
    return text_of_output(run.output)


def text_of_output(output: Any) -> str:
    if output is None:
        return ""
    if isinstance(output, str):
        return output
    if isinstance(output, dict) and isinstance(output.get("text"), str):
        return str(output["text"])
    return json.dumps(output, default=str)


def usage_of(run: Run) -> Usage:
    return Usage(input_tokens=run.tokens_in or 0, output_tokens=run.tokens_out or 0)


async def finished(runtime: Runtime, principal: Principal, run_id: uuid.UUID) -> Run:
    """The run once it stops (the caller has committed and holds no transaction)."""
    await runs.wait_for_run(runtime, run_id)
    async with runtime.sessionmaker() as session:
        return await runs.get_run(session, principal, run_id)


async def tokens(
    runtime: Runtime, principal: Principal, call: AgentCall
) -> AsyncIterator[str | Run]:
    """The answer's tokens as they stream from its llm steps, then whatever the streamed
    tokens lack of the final answer, then the stopped run itself."""
    streamed = ""
    async for item in runs.stream_events(runtime, principal, call.run.id):
        if item.type == "message.delta" and str(item.data.get("node")) in call.answer_nodes:
            delta = str(item.data.get("delta", ""))
            streamed += delta
            if delta:
                yield delta
    run = await finished(runtime, principal, call.run.id)
    if run.status in ("completed", "interrupted"):
        answer = answer_of(run)
        if answer.startswith(streamed) and len(answer) > len(streamed):
            yield answer[len(streamed) :]
    yield run
