"""`agent` nodes on /v1 with the `openai` SDK: their tokens stream as they come (from each
model turn of the loop), and a stored prompt (`prompt: {ref, label}`) is resolved as for
llm nodes, the run recording the version it used."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from openai import AsyncOpenAI

from tests.factories import Tenant, create_api_key, create_tenant, import_agent, personal_space_id
from tests.prompt.conftest import echo_url  # noqa: F401 - the echo model's server

AGENT = """
name: {name}
inputs: {{type: object, properties: {{message: {{type: string}}}}, required: [message]}}
nodes:
  - id: think
    type: agent
    stream: {stream}
    prompt: "{{{{ inputs.message }}}}"
"""
PROMPTED = """
name: {name}
inputs: {{type: object, properties: {{message: {{type: string}}}}, required: [message]}}
nodes:
  - id: helper
    type: agent
    prompt:
      ref: agent-reply
      label: production
      variables: {{question: "{{{{ inputs.message }}}}"}}
"""
VARIABLES = {"type": "object", "properties": {"question": {"type": "string"}}}


async def _setup(http: httpx.AsyncClient, source: str) -> tuple[Tenant, str, str]:
    tenant = await create_tenant(http)
    space = await personal_space_id(http, tenant)
    await import_agent(http, tenant.headers, space, source)
    key = (await create_api_key(http, tenant, scopes=["run"]))["key"]
    return tenant, space, key


async def _pieces(client: AsyncOpenAI, model: str) -> list[str]:
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    return [
        c.choices[0].delta.content async for c in stream if c.choices and c.choices[0].delta.content
    ]


async def test_agent_tokens_stream_from_its_steps(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        name = f"thinker-{uuid.uuid4().hex[:6]}"
        _, _, key = await _setup(http, AGENT.format(name=name, stream="true"))
        quiet = f"quiet-{uuid.uuid4().hex[:6]}"
        _, _, key2 = await _setup(http, AGENT.format(name=quiet, stream="false"))
        async with AsyncOpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0) as ai:
            streamed = await _pieces(ai, f"agent:{name}")
            done = await ai.chat.completions.create(
                model=f"agent:{name}", messages=[{"role": "user", "content": "hi"}]
            )
        # the offline model streams its reply in three pieces; each is its own chunk
        assert streamed == ["offline ", "test ", "reply"]
        assert done.choices[0].message.content == "offline test reply"
        async with AsyncOpenAI(base_url=f"{base_url}/v1", api_key=key2, max_retries=0) as ai:
            whole = await _pieces(ai, f"agent:{quiet}")
        assert whole == ["offline test reply"]  # `stream: false`: the answer at the end


async def _events(http: httpx.AsyncClient, tenant: Tenant, run_id: str, kind: str) -> list[Any]:
    resp = await http.get(f"/api/v1/runs/{run_id}/events", headers=tenant.headers)
    found, current = [], None
    for line in resp.text.splitlines():
        if line.startswith("event: "):
            current = line[7:].strip()
        elif line.startswith("data: ") and current == kind:
            found.append(json.loads(line[6:]))
    return found


async def test_an_agent_node_uses_the_prompt_version_its_label_names(echo_url: str) -> None:  # noqa: F811
    async with httpx.AsyncClient(base_url=echo_url, timeout=30) as http:
        tenant, space, key = await _setup(http, PROMPTED.format(name="prompted"))
        created = await http.post(
            "/api/v1/prompts",
            json={"space_id": space, "name": "agent-reply", "template": "v1: {{ question }}",
                  "system": "be kind", "variables": VARIABLES, "labels": ["production"]},
            headers=tenant.headers,
        )  # fmt: skip
        assert created.status_code == 201, created.text
        base = f"/api/v1/prompts/{created.json()['id']}"
        async with AsyncOpenAI(base_url=f"{echo_url}/v1", api_key=key, max_retries=0) as ai:
            first = await ai.chat.completions.create(
                model="agent:prompted", messages=[{"role": "user", "content": "printer?"}]
            )
            # the stored prompt's system text stands in for the node's missing instructions
            assert first.choices[0].message.content == "be kind>v1: printer?"
            await http.post(f"{base}/versions", json={"template": "v2: {{ question }}",
                            "variables": VARIABLES}, headers=tenant.headers)  # fmt: skip
            moved = await http.put(
                f"{base}/labels/production", json={"version": 2}, headers=tenant.headers
            )
            assert moved.status_code == 200, moved.text
            second = await ai.chat.completions.create(
                model="agent:prompted", messages=[{"role": "user", "content": "printer?"}]
            )
        assert second.choices[0].message.content == ">v2: printer?"
        runs = [c.id.removeprefix("chatcmpl-") for c in (first, second)]
        used = [await _events(http, tenant, str(uuid.UUID(hex=r)), "prompt.resolved") for r in runs]
        assert used == [
            [{"node": "helper", "prompt": "agent-reply", "version": 1, "label": "production"}],
            [{"node": "helper", "prompt": "agent-reply", "version": 2, "label": "production"}],
        ]
