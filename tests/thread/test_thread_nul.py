"""NUL characters are refused in thread metadata, keys and string values at any depth, with
a 422 naming the field (issue 11 item 14); nothing is stored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.factories import create_tenant

API = "/api/v1/threads"


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = {"n": value}
    return value


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"topic": "bil\x00ling"}, "metadata.topic"),
        ({"to\x00pic": "billing"}, "metadata.to\\u0000pic"),
        ({"tags": ["ok", "n\x00"]}, "metadata.tags.1"),
        ({"deep": _nested(200, "\x00")}, "metadata.deep" + ".n" * 200),
    ],
)
async def test_thread_metadata_with_nul_is_refused(
    client: httpx.AsyncClient, metadata: dict[str, Any], field: str
) -> None:
    tenant = await create_tenant(client)
    resp = await client.post(API, json={"metadata": metadata}, headers=tenant.headers)
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["field"] == field
    found = await client.post(f"{API}/search", json={}, headers=tenant.headers)
    assert found.json() == []


async def test_changing_thread_metadata_to_nul_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    created = await client.post(API, json={"metadata": {"topic": "a"}}, headers=tenant.headers)
    url = f"{API}/{created.json()['thread_id']}"
    resp = await client.patch(url, json={"metadata": {"topic": "\x00"}}, headers=tenant.headers)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "metadata.topic"
    assert (await client.get(url, headers=tenant.headers)).json()["metadata"]["topic"] == "a"


async def test_text_that_only_looks_like_an_escape_is_kept(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    metadata = {"note": "\\u0000 is how JSON writes NUL"}
    resp = await client.post(API, json={"metadata": metadata}, headers=tenant.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["metadata"]["note"] == metadata["note"]
