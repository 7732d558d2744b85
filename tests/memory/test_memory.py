"""Agent memory through the public API: the `openai` SDK chats with a conversational agent,
`langgraph-sdk` reads the thread state, the store holds the long-term memories. Models are
the scripted `Brain` (see `brain.py`); SQLite and PostgreSQL (`server_db`)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from langgraph_sdk import get_client
from openai import AsyncOpenAI

from tests.factories import Tenant, create_api_key, create_tenant, import_agent, personal_space_id
from tests.memory.conftest import Served

AGENT = """
name: concierge
inputs: {{type: object, properties: {{message: {{type: string}}}}, required: [message]}}
nodes:
  - id: chat
    type: agent
    instructions: You are a concierge.
    prompt: "{{{{ inputs.message }}}}"
    memory:
      thread: {{max_tokens: {max_tokens}}}
      long_term: {{scope: {scope}}}
"""
FILLER = "lorem ipsum " * 35


async def _tenant_with_agent(
    http: httpx.AsyncClient, *, max_tokens: int = 4000, scope: str = "user"
) -> tuple[Tenant, str, str]:
    tenant = await create_tenant(http)
    space = await personal_space_id(http, tenant)
    source = AGENT.format(max_tokens=max_tokens, scope=scope)
    await import_agent(http, tenant.headers, space, source)
    key = (await create_api_key(http, tenant, scopes=["run", "read"]))["key"]
    return tenant, space, key


async def _thread_of(http: httpx.AsyncClient, tenant: Tenant, completion_id: str) -> str:
    run_id = uuid.UUID(hex=completion_id.removeprefix("chatcmpl-"))
    resp = await http.get(f"/api/v1/runs/{run_id}", headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    thread_id: str = resp.json()["thread_id"]
    return thread_id


async def _ask(
    client: AsyncOpenAI, text: str, *, chat: str | None = None, thread: str | None = None
) -> Any:
    return await client.chat.completions.create(
        model="agent:concierge",
        messages=[{"role": "user", "content": text}],
        user="alice",
        metadata={"thread_id": thread} if thread else None,  # type: ignore[arg-type]
        extra_headers={"X-OpenWebUI-Chat-Id": chat} if chat else None,
    )


async def test_the_agent_remembers_what_it_was_told_in_an_earlier_conversation(
    served: Served,
) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        tenant, space, key = await _tenant_with_agent(http)
        async with AsyncOpenAI(base_url=f"{served.url}/v1", api_key=key, max_retries=0) as ai:
            told = await _ask(ai, "Please remember: my name is Ada", chat="chat-a")
            assert told.choices[0].message.content == "Noted: my name is Ada"
            # a new conversation (another thread), streamed: the answer comes from recall
            stream = await ai.chat.completions.create(
                model="agent:concierge",
                messages=[{"role": "user", "content": "What is my name?"}],
                user="alice",
                stream=True,
                extra_headers={"X-OpenWebUI-Chat-Id": "chat-b"},
            )
            pieces = [c.choices[0].delta.content async for c in stream if c.choices]
        answer = "".join(p or "" for p in pieces)
        assert answer == "You told me: my name is Ada"
        assert len([p for p in pieces if p]) > 1  # tokens streamed from the agent step

        first_thread = await _thread_of(http, tenant, told.id)
        runs = await http.get("/api/v1/runs", headers=tenant.headers)
        second_run = runs.json()["items"][0]
        assert second_run["thread_id"] not in (None, first_thread)

        lg = get_client(url=f"{served.url}/api/v1", api_key=key)
        state = await lg.threads.get_state(second_run["thread_id"])
        messages = state["values"]["messages"]
        assert [m["type"] for m in messages] == ["human", "ai", "tool", "ai"]
        assert messages[0]["content"] == "What is my name?"
        assert messages[1]["tool_calls"][0]["name"] == "recall"
        assert "my name is Ada" in messages[2]["content"]
        assert messages[2]["tool_call_id"] == messages[1]["tool_calls"][0]["id"]
        assert state["values"]["summary"] is None

        namespace = ["memories", "user", tenant.user_id, "alice"]
        found = await lg.store.search_items(namespace, query="name")
        assert [i["value"]["content"] for i in found["items"]] == ["my name is Ada"]
        item_key = found["items"][0]["key"]

        # another tenant: the thread and the memory are not found, its agent knows nothing
        stranger, _, their_key = await _tenant_with_agent(http)
        theirs = get_client(url=f"{served.url}/api/v1", api_key=their_key)
        for path in (
            f"/api/v1/threads/{second_run['thread_id']}/state",
            f"/api/v1/threads/{first_thread}",
        ):
            assert (await http.get(path, headers=stranger.headers)).status_code == 404
        item = await http.get(
            "/api/v1/store/items",
            params={"namespace": ".".join(namespace), "key": item_key, "space_id": space},
            headers=stranger.headers,
        )
        assert item.status_code == 404
        mine = await http.get(
            "/api/v1/store/items",
            params={"namespace": ".".join(namespace), "key": item_key},
            headers=stranger.headers,
        )
        assert mine.status_code == 404
        assert (await theirs.store.search_items(["memories"]))["items"] == []
        async with AsyncOpenAI(base_url=f"{served.url}/v1", api_key=their_key) as ai:
            blank = await _ask(ai, "What is my name?", chat="chat-b")
        assert blank.choices[0].message.content == "I do not know."


async def test_a_long_conversation_is_summarised_without_losing_a_tool_result(
    served: Served,
) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as http:
        tenant, space, key = await _tenant_with_agent(http, max_tokens=300, scope="space")
        lg = get_client(url=f"{served.url}/api/v1", api_key=key)
        thread = (await lg.threads.create(metadata={"space_id": space}))["thread_id"]
        async with AsyncOpenAI(base_url=f"{served.url}/v1", api_key=key, max_retries=0) as ai:
            await _ask(ai, "remember: the locker code is 4711", thread=thread)
            recalled = await _ask(ai, "Which locker code?", thread=thread)
            assert recalled.choices[0].message.content == "You told me: the locker code is 4711"
            for i in range(6):
                await _ask(ai, f"filler {i}: {FILLER}", thread=thread)
            final = await _ask(ai, "from the summary: what is the locker code", thread=thread)
        assert final.choices[0].message.content == "The code is 4711."

        brain = served.brain
        assert brain.transcripts, "the conversation was never summarised"
        first = brain.transcripts[0]
        assert "assistant called tool recall with" in first
        assert "tool recall returned: " in first and "4711" in first
        assert brain.orphans == 0  # no request held a tool result without its call
        # the last turn saw the code only in the summary: the recall turn was folded in
        last = brain.requests[-1]
        shown = [
            str(getattr(p, "content", "")) + str(getattr(p, "args", ""))
            for m in last
            for p in m.parts
            if p.part_kind != "system-prompt"
        ]
        assert not any("4711" in s for s in shown)

        state = await lg.threads.get_state(thread)
        values = state["values"]
        messages = values["messages"]
        assert len(messages) == 4 + 4 + 6 * 2 + 2  # every message is kept
        assert "4711" in values["summary"]
        through = [m["id"] for m in messages].index(values["summary_through"])
        assert values["summarised_messages"] == through + 1
        assert messages[through + 1]["type"] == "human"  # the cut starts a turn
        calls = {c["id"] for m in messages[: through + 1] for c in m.get("tool_calls", [])}
        results = {m["tool_call_id"] for m in messages[: through + 1] if m["type"] == "tool"}
        assert calls == results and calls  # each call on the same side as its result

        runs = await http.get(
            "/api/v1/runs", params={"thread_id": thread, "limit": 50}, headers=tenant.headers
        )
        summarised = []
        for run in runs.json()["items"]:
            events = await http.get(f"/api/v1/runs/{run['id']}/events", headers=tenant.headers)
            summarised += [line for line in events.text.splitlines() if "memory.summarised" in line]
        assert len(summarised) == len(brain.transcripts)  # one journaled event per summary
