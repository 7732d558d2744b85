"""Knowledge test support: hashing embeddings through the registry seam, knowledge bases made
through the API, and running ingestion jobs through their handler as a worker would."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from agentdeck.kit.db import transaction
from agentdeck.knowledge import tasks
from agentdeck.knowledge._registry import LOCAL_DIMS, KnowledgeRegistry, registry_for
from agentdeck.knowledge.settings import KnowledgeSettings
from agentdeck.rag import HashingEmbedder
from agentdeck.worker import queue
from agentdeck.worker.loop import JobContext
from tests.factories import Tenant, create_tenant, personal_space_id

WORKER_ID = "knowledge-test-worker"


class NamedHashing(HashingEmbedder):
    """Hashing embeddings named after the model they stand in for (distinct versions)."""

    def __init__(self, model: str, dim: int) -> None:
        super().__init__(dim)
        self.name = f"hashing:{model}"
        self.calls = 0

    async def embed(self, texts: Any) -> list[list[float]]:
        self.calls += 1
        return await super().embed(texts)


def hashing_factory(model: str) -> HashingEmbedder | None:
    """The test seam: local models embed by feature hashing at their real dimension."""
    if model in LOCAL_DIMS:
        return NamedHashing(model, LOCAL_DIMS[model])
    return None


def use_hashing(app: Any, **settings: Any) -> KnowledgeRegistry:
    registry = registry_for(app.state.runtime)
    registry.embedder_factory = hashing_factory
    registry.settings = KnowledgeSettings(
        allow_private_urls=True, events_poll_s=0.05, embed_batch=4, **settings
    )
    return registry


async def run_ingest_jobs(app: Any) -> int:
    """Run every queued `knowledge.ingest` job through its handler, as a worker would."""
    sessionmaker = app.state.runtime.sessionmaker
    count = 0
    while True:
        async with transaction(sessionmaker) as session:
            job = await queue.claim(session, WORKER_ID, [tasks.INGEST], 60)
        if job is None:
            return count
        await tasks.ingest(JobContext(job=job, sessionmaker=sessionmaker))
        async with transaction(sessionmaker) as session:
            await queue.finish(session, job, WORKER_ID, None)
        count += 1


class KB:
    """A tenant with a knowledge base in their personal space."""

    def __init__(self, client: httpx.AsyncClient, tenant: Tenant, space: str, body: dict[str, Any]):
        self.client, self.tenant, self.space, self.body = client, tenant, space, body

    @property
    def id(self) -> str:
        return str(self.body["id"])

    @property
    def url(self) -> str:
        return f"/api/v1/knowledge-bases/{self.id}"

    async def add_text(self, title: str, text: str, **extra: Any) -> httpx.Response:
        return await self.client.post(
            f"{self.url}/documents",
            json={"title": title, "text": text, **extra},
            headers=self.tenant.headers,
        )

    async def upload(
        self, filename: str, data: bytes, mime: str = "application/octet-stream", **form: str
    ) -> httpx.Response:
        return await self.client.post(
            f"{self.url}/documents",
            files={"file": (filename, data, mime)},
            data=form,
            headers=self.tenant.headers,
        )

    async def document(self, doc_id: str) -> dict[str, Any]:
        resp = await self.client.get(f"{self.url}/documents/{doc_id}", headers=self.tenant.headers)
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    async def search(self, query: str, **options: Any) -> list[dict[str, Any]]:
        resp = await self.client.post(
            f"{self.url}/search", json={"query": query, **options}, headers=self.tenant.headers
        )
        assert resp.status_code == 200, resp.text
        items: list[dict[str, Any]] = resp.json()["items"]
        return items


async def make_kb(client: httpx.AsyncClient, tenant: Tenant | None = None, **fields: Any) -> KB:
    tenant = tenant or await create_tenant(client)
    space = await personal_space_id(client, tenant)
    payload = {"name": f"kb-{uuid.uuid4().hex[:8]}", "space_id": space, **fields}
    resp = await client.post("/api/v1/knowledge-bases", json=payload, headers=tenant.headers)
    assert resp.status_code == 201, resp.text
    return KB(client, tenant, space, resp.json())


async def ingest_for_walker(app: Any) -> None:
    """Ingest queued documents with hashing embeddings (the route walker has no worker)."""
    registry = registry_for(app.state.runtime)
    previous = registry.embedder_factory
    registry.embedder_factory = hashing_factory
    try:
        await run_ingest_jobs(app)
    finally:
        registry.embedder_factory = previous
