"""NUL characters are refused in space names and descriptions with a 422 naming the field
(issue 11 item 14); nothing is stored."""

from __future__ import annotations

import httpx

from tests.factories import create_space, create_tenant

SPACES = "/api/v1/spaces"


def _refused(resp: httpx.Response, field: str) -> None:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["field"] == field, resp.json()


async def test_a_space_name_with_nul_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    before = (await client.get(SPACES, headers=tenant.headers)).json()["items"]
    _refused(
        await client.post(SPACES, json={"name": "Re\x00search"}, headers=tenant.headers), "name"
    )
    after = (await client.get(SPACES, headers=tenant.headers)).json()["items"]
    assert len(after) == len(before)


async def test_changing_a_space_to_text_with_nul_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    space = await create_space(client, tenant, name="Research")
    url = f"{SPACES}/{space['id']}"
    for body, field in (({"name": "R\x00"}, "name"), ({"description": "\x00"}, "description")):
        _refused(await client.patch(url, json=body, headers=tenant.headers), field)
    got = (await client.get(url, headers=tenant.headers)).json()
    assert got["name"] == "Research" and got["description"] is None


async def test_a_query_parameter_with_nul_is_refused(client: httpx.AsyncClient) -> None:
    tenant = await create_tenant(client)
    resp = await client.get(f"{SPACES}?cursor=%00", headers=tenant.headers)
    _refused(resp, "cursor")
