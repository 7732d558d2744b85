"""`search_knowledge` through the official `mcp` client: passages with citations from the
caller's knowledge bases only (a space-limited key, another organisation)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.factories import Tenant, create_api_key, create_space, create_tenant, personal_space_id
from tests.mcp_server.conftest import mcp_client


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as c:
        yield c


async def _kb_with(
    http: httpx.AsyncClient, tenant: Tenant, space: str, name: str, title: str, text: str
) -> dict[str, Any]:
    """A knowledge base with one document, once the served worker has ingested it."""
    resp = await http.post(
        "/api/v1/knowledge-bases", json={"name": name, "space_id": space}, headers=tenant.headers
    )
    assert resp.status_code == 201, resp.text
    kb: dict[str, Any] = resp.json()
    doc = await http.post(
        f"/api/v1/knowledge-bases/{kb['id']}/documents",
        json={"title": title, "text": text},
        headers=tenant.headers,
    )
    assert doc.status_code == 202, doc.text
    events = f"/api/v1/knowledge-bases/{kb['id']}/documents/{doc.json()['id']}/events"
    async with http.stream("GET", events, headers=tenant.headers) as stream:
        lines = [line async for line in stream.aiter_lines()]
    assert "event: ready" in lines, lines
    return kb


HANDBOOK = "# Refunds\n\nRefunds are paid within 14 days of the return arriving at the warehouse."
LAB = "# Telescopes\n\nThe observatory telescope points at Vega every clear night."


async def test_search_knowledge_answers_passages_with_citations(
    base_url: str, http: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(http)
    space = await personal_space_id(http, tenant)
    kb = await _kb_with(http, tenant, space, "handbook", "Staff handbook", HANDBOOK)
    key = (await create_api_key(http, tenant, scopes=["read"]))["key"]
    async with mcp_client(base_url, key) as mcp:
        (tool,) = (await mcp.list_tools()).tools
        assert tool.name == "search_knowledge" and "handbook" in (tool.description or "")
        result = await mcp.call_tool("search_knowledge", {"query": "when are refunds paid"})
    assert not result.is_error, result.content
    assert result.structured_content is not None
    (passage, *_) = result.structured_content["passages"]
    assert "14 days" in passage["text"]
    assert passage["document_title"] == "Staff handbook"
    assert passage["kb_id"] == kb["id"] and passage["kb_name"] == "handbook"
    assert passage["heading_path"] == ["Refunds"]
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith("[1] Staff handbook (knowledge base handbook, Refunds)")
    assert "14 days" in text


async def test_search_sees_only_the_keys_spaces_and_never_another_org(
    base_url: str, http: httpx.AsyncClient
) -> None:
    tenant = await create_tenant(http)
    personal = await personal_space_id(http, tenant)
    shared = (await create_space(http, tenant))["id"]
    await _kb_with(http, tenant, personal, "private-notes", "Refund notes", HANDBOOK)
    await _kb_with(http, tenant, shared, "lab", "Lab log", LAB)
    limited = (await create_api_key(http, tenant, scopes=["read"], space_ids=[shared]))["key"]
    async with mcp_client(base_url, limited) as mcp:
        (tool,) = (await mcp.list_tools()).tools
        assert "lab" in (tool.description or "")
        assert "private-notes" not in (tool.description or "")
        found = await mcp.call_tool("search_knowledge", {"query": "refunds telescope", "top_k": 10})
        assert found.structured_content is not None
        titles = {p["document_title"] for p in found.structured_content["passages"]}
        assert titles == {"Lab log"}
        named = await mcp.call_tool(
            "search_knowledge", {"query": "refunds", "knowledge_bases": ["private-notes"]}
        )
        assert named.is_error

    stranger = await create_tenant(http)
    key = (await create_api_key(http, stranger, scopes=["read"]))["key"]
    async with mcp_client(base_url, key) as mcp:
        (tool,) = (await mcp.list_tools()).tools
        assert "No knowledge bases" in (tool.description or "")
        result = await mcp.call_tool("search_knowledge", {"query": "refunds telescope"})
    assert not result.is_error
    assert result.structured_content == {"passages": []}
    assert result.content[0].text == "No passages found."  # type: ignore[union-attr]


async def test_bad_search_arguments_are_tool_errors(base_url: str, http: httpx.AsyncClient) -> None:
    tenant = await create_tenant(http)
    key = (await create_api_key(http, tenant, scopes=["read"]))["key"]
    async with mcp_client(base_url, key) as mcp:
        for arguments in ({}, {"query": " "}, {"query": "x", "top_k": 0}):
            result = await mcp.call_tool("search_knowledge", arguments)
            assert result.is_error, arguments
