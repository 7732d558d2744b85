"""A JSON body nested too deep is 422 naming the field on every route, never a 500 from
recursion in a validator, the JSON encoder or a serialiser (issue 11 item 6)."""

from __future__ import annotations

import httpx
import pytest

from agentdeck.api import MAX_BODY_DEPTH
from tests.factories import create_tenant


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_BODY_DEPTH, 900, 10_000])
@pytest.mark.parametrize(
    ("path", "template", "field"),
    [
        ("/api/v1/threads", '{"metadata": {"deep": %s}}', "metadata.deep"),
        ("/api/v1/assistants", '{"graph_id": "x", "config": {"c": %s}}', "config.c"),
    ],
)
async def test_deep_json_bodies_are_422_naming_the_field(
    client: httpx.AsyncClient, path: str, template: str, field: str, depth: int
) -> None:
    t = await create_tenant(client)
    raw = template.replace("%s", _nested(depth))
    resp = await client.post(
        path, content=raw.encode(), headers={**t.headers, "Content-Type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["field"] == field


async def test_json_within_the_depth_limit_is_accepted(client: httpx.AsyncClient) -> None:
    t = await create_tenant(client)
    raw = '{"metadata": {"deep": %s}}'.replace("%s", _nested(MAX_BODY_DEPTH - 3))
    resp = await client.post(
        "/api/v1/threads",
        content=raw.encode(),
        headers={**t.headers, "Content-Type": "application/json"},
    )
    assert resp.status_code == 200, resp.text
