"""Knowledge test support: hashing embeddings through the registry seam, knowledge bases made
through the API, and running ingestion jobs through their handler as a worker would."""

from __future__ import annotations

import asyncio
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from agentdeck.kit.db import transaction
from agentdeck.knowledge import crawl_tasks, tasks
from agentdeck.knowledge.registry import LOCAL_DIMS, KnowledgeRegistry, registry_for
from agentdeck.knowledge.settings import KnowledgeSettings
from agentdeck.rag import HashingEmbedder
from agentdeck.worker import queue
from agentdeck.worker.loop import JobContext, JobHandler
from tests.factories import Tenant, create_tenant, personal_space_id

WORKER_ID = "knowledge-test-worker"


class NamedHashing(HashingEmbedder):
    """Hashing embeddings named after the model they stand in for (distinct versions)."""

    total_calls = 0  # embedding calls of every instance
    delay_s = 0.0  # a slower model, to watch progress

    def __init__(self, model: str, dim: int) -> None:
        super().__init__(dim)
        self.name = f"hashing:{model}"
        self.calls = 0

    async def embed(self, texts: Any) -> list[list[float]]:
        self.calls += 1
        NamedHashing.total_calls += 1
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
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


class PageServer:
    """A local HTTP server on 127.0.0.1 serving fixed pages: path -> (status, type, body)."""

    def __init__(self, pages: dict[str, tuple[int, str, bytes]]) -> None:
        pages_ = pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, media, body = pages_.get(self.path, (404, "text/plain", b"missing"))
                self.send_response(status)
                if status in (301, 302):
                    self.send_header("Location", body.decode())
                    body = b""
                self.send_header("Content-Type", media)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


CRAWL_AND_INGEST: dict[str, JobHandler] = {
    crawl_tasks.CRAWL: crawl_tasks.crawl_source,
    tasks.INGEST: tasks.ingest,
}


async def drain(sessionmaker: Any) -> int:
    """Run queued crawl and ingestion jobs, as a worker would, until none is left."""
    done = 0
    while True:
        async with transaction(sessionmaker) as session:
            job = await queue.claim(session, "test-worker", list(CRAWL_AND_INGEST), 60)
        if job is None:
            return done
        await CRAWL_AND_INGEST[job.kind](JobContext(job=job, sessionmaker=sessionmaker))
        async with transaction(sessionmaker) as session:
            await queue.finish(session, job, "test-worker", None)
        done += 1
