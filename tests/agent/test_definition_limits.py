"""Definitions are bounded before they are validated: YAML alias expansion, node count and
nesting depth each answer 422 problem+json naming the field (issue 11 items 4-6)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import create_tenant, import_agent, personal_space_id

API = "/api/v1/agents"


def _problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    return body


async def _import(
    client: httpx.AsyncClient, headers: dict[str, str], space: str, text: str
) -> httpx.Response:
    return await client.post(
        f"{API}/import",
        params={"space_id": space},
        content=text.encode(),
        headers={**headers, "Content-Type": "application/yaml"},
    )


def _alias_bomb(levels: int) -> str:
    """Each level repeats the previous one ten times: 10**levels values in a few hundred bytes."""
    lines = ['x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        lines.append(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 10) + "]")
    body = "\n".join(lines)
    return (
        "name: bomb\nnodes:\n  - id: a\n    type: transform\n    value:\n"
        + "\n".join("      " + line for line in body.splitlines())
        + "\n"
    )


async def test_a_yaml_alias_bomb_is_refused_naming_the_field(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    text = _alias_bomb(9)  # a billion values if expanded
    assert len(text) < 1000
    body = _problem(await _import(client, t.headers, space, text), 422)
    assert body["field"] == "nodes[0].value"
    assert "expands to more than" in body["detail"]


async def test_yaml_with_a_small_alias_still_imports(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    text = (
        "name: aliased\nnodes:\n"
        "  - id: a\n    type: transform\n    retry: &retry {max_attempts: 2}\n    value: 1\n"
        "  - id: b\n    type: transform\n    needs: [a]\n    retry: *retry\n    value: 2\n"
    )
    agent = await import_agent(client, t.headers, space, text)
    version = await client.get(f"{API}/{agent['id']}/versions/1", headers=t.headers)
    nodes = version.json()["definition"]["nodes"]
    assert [n["retry"] for n in nodes] == [{"max_attempts": 2}] * 2


async def test_a_yaml_alias_inside_its_own_anchor_is_refused(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    text = "name: loop\nnodes:\n  - id: a\n    type: transform\n    value: &v [1, *v]\n"
    body = _problem(await _import(client, t.headers, space, text), 422)
    assert body["field"] == "nodes[0].value"


def _chain(n: int) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [{"id": "n0", "type": "transform", "value": 0}]
    nodes += [
        {"id": f"n{i}", "type": "transform", "needs": [f"n{i - 1}"], "value": i}
        for i in range(1, n)
    ]
    return {"name": "chain", "nodes": nodes}


async def test_a_definition_above_max_nodes_is_422(
    client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(app.state.runtime.settings.agents, "max_nodes", 5)
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    ok = await client.post(
        API, json={"space_id": space, "definition": _chain(5)}, headers=t.headers
    )
    assert ok.status_code == 201, ok.text
    body = _problem(
        await client.post(
            f"{API}/{ok.json()['id']}/versions",
            json={"definition": _chain(6)},
            headers=t.headers,
        ),
        422,
    )
    assert body["field"] == "nodes" and "at most 5" in body["detail"]
    as_yaml = "name: other\nnodes:\n" + "".join(
        f"  - {{id: n{i}, type: transform, value: {i}}}\n" for i in range(6)
    )
    body = _problem(await _import(client, t.headers, space, as_yaml), 422)
    assert body["field"] == "nodes"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


async def test_a_value_nested_10000_deep_is_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    text = f"name: deep\nnodes:\n  - id: a\n    type: transform\n    value: {_nested(10_000)}\n"
    body = _problem(await _import(client, t.headers, space, text), 422)
    assert body["field"] == "nodes[0].value"
    assert "nested deeper than" in body["detail"]

    block = "name: deep\nnodes:\n  - id: a\n    type: transform\n    value:\n      "
    block += "- " * 10_000 + "x\n"
    body = _problem(await _import(client, t.headers, space, block), 422)
    assert body["field"] == "nodes[0].value"


@pytest.mark.parametrize("depth", [120, 900, 10_000])
async def test_a_deep_json_definition_is_never_a_500(client: httpx.AsyncClient, depth: int) -> None:
    t = await create_tenant(client)
    space = await personal_space_id(client, t)
    value = _nested(depth)
    node = '{"id": "a", "type": "transform", "value": ' + value + "}"
    raw = f'{{"space_id": "{space}", "definition": {{"name": "deep", "nodes": [{node}]}}}}'
    resp = await client.post(
        API, content=raw.encode(), headers={**t.headers, "Content-Type": "application/json"}
    )
    body = _problem(resp, 422)
    # Within the body's depth limit the definition's own names the field; past it, the
    # body's does (from the body's root).
    assert body["field"] in ("nodes[0].value", "definition.nodes[0].value")
