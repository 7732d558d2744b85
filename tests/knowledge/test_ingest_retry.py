"""An embedding model that fails to load once does not fail the documents uploaded meanwhile
(issue 11 item 15): their jobs run again with backoff and the documents reach ``ready``;
search answers 503 while the model cannot load, and again once it can."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from agentdeck.kit.db import transaction, utcnow
from agentdeck.knowledge import tasks
from agentdeck.knowledge.registry import KnowledgeRegistry
from agentdeck.models import Job
from agentdeck.rag import HashingEmbedder
from agentdeck.rag.embeddings import LocalMiniLM
from agentdeck.worker import queue
from agentdeck.worker.loop import JobContext
from tests.knowledge.support import KB

WORKER_ID = "retry-test-worker"


class _HashingEncoder:
    """Stands in for the loaded SentenceTransformer."""

    def __init__(self, dim: int) -> None:
        self._hashing = HashingEmbedder(dim)

    def encode(self, texts: list[str], **_: Any) -> list[list[float]]:
        return self._hashing.embed_sync(texts)


class FlakyMiniLM(LocalMiniLM):
    """The real lazy-loading MiniLM whose first ``failures`` loads fail as the concurrent
    transformers import did."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures
        self.loads = 0

    def load(self) -> Any:
        self.loads += 1
        if self.loads <= self.failures:
            raise KeyError("accelerate")
        return _HashingEncoder(self.dim)


def _use(registry: KnowledgeRegistry, embedder: FlakyMiniLM) -> None:
    registry.embedder_factory = lambda model: embedder if model == "local" else None


async def _work(app: Any) -> int:
    """Run ingestion jobs as the worker does (a raising job is finished with its error, so
    the queue retries it), treating every backoff as elapsed. Returns the runs."""
    sessionmaker = app.state.runtime.sessionmaker
    runs = 0
    while True:
        async with transaction(sessionmaker) as session:
            await session.execute(
                update(Job)
                .where(Job.kind == tasks.INGEST, Job.status == "queued")
                .values(run_at=utcnow())
            )
            job = await queue.claim(session, WORKER_ID, [tasks.INGEST], 60)
        if job is None:
            return runs
        error = None
        try:
            await tasks.ingest(JobContext(job=job, sessionmaker=sessionmaker))
        except tasks.RetryLater as exc:
            error = str(exc)
        async with transaction(sessionmaker) as session:
            await queue.finish(session, job, WORKER_ID, error)
        runs += 1


async def _upload_three(kb: KB) -> list[str]:
    ids = []
    for n in range(3):
        resp = await kb.add_text(f"note {n}", f"The lighthouse keeper wrote note number {n}.")
        assert resp.status_code == 202, resp.text
        ids.append(resp.json()["id"])
    return ids


async def test_documents_uploaded_while_the_model_fails_to_load_reach_ready(
    kb: KB, app: Any, knowledge: KnowledgeRegistry
) -> None:
    embedder = FlakyMiniLM(failures=2)
    _use(knowledge, embedder)
    ids = await _upload_three(kb)
    assert await _work(app) == 5  # two runs found the model unloadable, then three worked
    docs = [await kb.document(doc_id) for doc_id in ids]
    assert [d["status"] for d in docs] == ["ready"] * 3, docs
    assert all(d["error"] is None and d["error_reason"] is None for d in docs)
    assert embedder.loads == 3
    hits = await kb.search("lighthouse keeper note")
    assert hits


async def test_a_model_that_never_loads_fails_the_document_after_the_last_attempt(
    kb: KB, app: Any, knowledge: KnowledgeRegistry
) -> None:
    _use(knowledge, FlakyMiniLM(failures=1000))
    resp = await kb.add_text("note", "The lighthouse keeper wrote a note.")
    doc_id = resp.json()["id"]
    async with transaction(app.state.runtime.sessionmaker) as session:
        key = f"{tasks.INGEST}:{doc_id}:1"
        attempts = await session.execute(select(Job.max_attempts).where(Job.dedupe_key == key))
    assert await _work(app) == attempts.scalar_one() > 1
    doc = await kb.document(doc_id)
    assert doc["status"] == "failed" and doc["error_reason"] == "embedding_error"
    assert "KeyError" in doc["error"]


async def test_search_answers_again_once_the_model_loads(
    kb: KB, knowledge: KnowledgeRegistry
) -> None:
    _use(knowledge, FlakyMiniLM(failures=1))
    first = await kb.client.post(
        f"{kb.url}/search", json={"query": "lighthouse"}, headers=kb.tenant.headers
    )
    assert first.status_code == 503, first.text
    assert first.json()["type"].endswith("embedding-unavailable")
    second = await kb.client.post(
        f"{kb.url}/search", json={"query": "lighthouse"}, headers=kb.tenant.headers
    )
    assert second.status_code == 200, second.text
