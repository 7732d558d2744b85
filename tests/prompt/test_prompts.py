"""Prompts: immutable versions, labels (moves audited), variables, and llm nodes using them."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.factories import (
    Tenant,
    add_space_member,
    create_space,
    create_tenant,
    import_agent,
    join_by_invitation,
    personal_space_id,
)

VARIABLES = {
    "type": "object",
    "properties": {"question": {"type": "string"}},
    "required": ["question"],
}


async def _create(
    client: httpx.AsyncClient, tenant: Tenant, space: str, **body: Any
) -> dict[str, Any]:
    payload = {"space_id": space, "name": "support-reply", "template": "v1: {{ question }}",
               "variables": VARIABLES, "labels": ["production"], **body}  # fmt: skip
    resp = await client.post("/api/v1/prompts", json=payload, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    created: dict[str, Any] = resp.json()
    return created


async def test_versions_labels_and_audit(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    prompt = await _create(client, tenant, space)
    assert prompt["latest_version"] == 1 and prompt["labels"] == {"production": 1}
    base = f"/api/v1/prompts/{prompt['id']}"
    v2 = await client.post(f"{base}/versions", json={"template": "v2: {{ question }}"},
                           headers=tenant.headers)  # fmt: skip
    assert v2.status_code == 201 and v2.json()["version"] == 2
    assert (await client.get(base, headers=tenant.headers)).json()["labels"] == {"production": 1}
    moved = await client.put(f"{base}/labels/production", json={"version": 2},
                             headers=tenant.headers)  # fmt: skip
    assert moved.status_code == 200 and moved.json()["labels"] == {"production": 2}
    one = await client.get(f"{base}/versions/1", headers=tenant.headers)
    assert one.json()["template"] == "v1: {{ question }}"  # versions never change
    listed = await client.get(f"{base}/versions", headers=tenant.headers)
    assert [v["version"] for v in listed.json()["items"]] == [2, 1]
    assert (
        await client.put(f"{base}/versions/1", json={}, headers=tenant.headers)
    ).status_code == 405
    missing = await client.put(f"{base}/labels/production", json={"version": 9},
                               headers=tenant.headers)  # fmt: skip
    assert missing.status_code == 404
    log = await client.get("/api/v1/audit-logs?action=prompt.*", headers=tenant.headers)
    entries = log.json()["items"]
    moves = [e for e in entries if e["action"] == "prompt.label_moved"]
    assert len(moves) == 1
    assert moves[0]["changes"] == {"label": "production", "from": 1, "to": 2}
    assert moves[0]["target_id"] == prompt["id"]

    bad = await client.post("/api/v1/prompts", json={"space_id": space, "name": "x",
                            "template": "t", "variables": {"type": "nope"}},
                            headers=tenant.headers)  # fmt: skip
    assert bad.status_code == 422 and bad.json()["field"] == "variables"
    again = await client.post("/api/v1/prompts", json={"space_id": space,
                              "name": "support-reply", "template": "t"},
                              headers=tenant.headers)  # fmt: skip
    assert again.status_code == 409


async def test_another_orgs_prompts_are_404(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    prompt = await _create(client, owner, await personal_space_id(client, owner))
    stranger = await create_tenant(client)
    base = f"/api/v1/prompts/{prompt['id']}"
    h = stranger.headers
    for resp in (
        await client.get(base, headers=h),
        await client.get(f"{base}/versions", headers=h),
        await client.get(f"{base}/versions/1", headers=h),
        await client.post(f"{base}/versions", json={"template": "x"}, headers=h),
        await client.put(f"{base}/labels/production", json={"version": 1}, headers=h),
        await client.delete(base, headers=h),
    ):
        assert resp.status_code == 404, resp.text
    assert (await client.get("/api/v1/prompts", headers=h)).json()["items"] == []


async def test_viewers_read_editors_write(client: httpx.AsyncClient) -> None:
    owner = await create_tenant(client)
    team = await create_space(client, owner)
    prompt = await _create(client, owner, team["id"])
    viewer = await join_by_invitation(client, owner)
    await add_space_member(client, owner, team["id"], viewer.user_id, role="viewer")
    base = f"/api/v1/prompts/{prompt['id']}"
    assert (await client.get(base, headers=viewer.headers)).status_code == 200
    refused = await client.put(f"{base}/labels/production", json={"version": 1},
                               headers=viewer.headers)  # fmt: skip
    assert refused.status_code == 403


AGENT = """
name: {name}
inputs: {{type: object, properties: {{message: {{type: string}}}}}}
nodes:
  - id: answer
    type: llm
    system: "be brief"
    prompt:
      ref: support-reply
      label: production
      variables: {{question: "{{{{ inputs.message }}}}"}}
"""


async def _respond(http: httpx.AsyncClient, key: str, model: str) -> dict[str, Any]:
    resp = await http.post("/v1/responses", json={"model": model, "input": "printer?"},
                           headers={"Authorization": f"Bearer {key}"})  # fmt: skip
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def _prompt_events(http: httpx.AsyncClient, tenant: Tenant, response_id: str) -> list[Any]:
    run_id = response_id.removeprefix("resp_")
    resp = await http.get(f"/api/v1/runs/{run_id}/events", headers=tenant.headers)
    events = []
    kind = None
    for line in resp.text.splitlines():
        if line.startswith("event: "):
            kind = line[7:].strip()
        elif line.startswith("data: ") and kind == "prompt.resolved":
            events.append(json.loads(line[6:]))
    return events


async def test_a_moved_label_changes_what_the_next_run_uses(echo_url: str) -> None:
    async with httpx.AsyncClient(base_url=echo_url, timeout=30) as http:
        tenant = await create_tenant(http)
        space = await personal_space_id(http, tenant)
        prompt = await _create(http, tenant, space, system="ignored: the node has its own")
        agent = await import_agent(http, tenant.headers, space, AGENT.format(name="support"))
        key_resp = await http.post("/api/v1/api-keys", json={"name": "k", "scopes": ["run"]},
                                   headers=tenant.headers)  # fmt: skip
        key = key_resp.json()["key"]
        model = f"agent:{agent['name']}"

        first = await _respond(http, key, model)
        assert first["output"][0]["content"][0]["text"] == "be brief>v1: printer?"
        assert await _prompt_events(http, tenant, first["id"]) == [
            {"node": "answer", "prompt": "support-reply", "version": 1, "label": "production"}
        ]

        base = f"/api/v1/prompts/{prompt['id']}"
        await http.post(f"{base}/versions", json={"template": "v2 says: {{ question }}",
                        "variables": VARIABLES}, headers=tenant.headers)  # fmt: skip
        unmoved = await _respond(http, key, model)
        assert unmoved["output"][0]["content"][0]["text"] == "be brief>v1: printer?"
        await http.put(f"{base}/labels/production", json={"version": 2}, headers=tenant.headers)
        second = await _respond(http, key, model)
        assert second["output"][0]["content"][0]["text"] == "be brief>v2 says: printer?"
        (used,) = await _prompt_events(http, tenant, second["id"])
        assert used["version"] == 2

        # another org's prompt of the same name is not found by this org's runs
        stranger = await create_tenant(http)
        theirs = await personal_space_id(http, stranger)
        other = await import_agent(http, stranger.headers, theirs, AGENT.format(name="copycat"))
        skey = (await http.post("/api/v1/api-keys", json={"name": "k", "scopes": ["run"]},
                                headers=stranger.headers)).json()["key"]  # fmt: skip
        failed = await http.post(
            "/v1/responses",
            json={"model": f"agent:{other['name']}", "input": "x"},
            headers={"Authorization": f"Bearer {skey}"},
        )
        assert failed.status_code == 502
        assert "support-reply" in failed.json()["error"]["message"]
