"""The knowledge.ingest job: bad files, idempotent re-runs, progress over SSE, re-indexing,
deletion, and a new embedding model or chunking re-indexing every document."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import pytest
from structlog.testing import capture_logs

from agentdeck.kit.db import transaction
from agentdeck.knowledge import repository as repo
from agentdeck.knowledge import tasks
from agentdeck.knowledge.registry import KnowledgeRegistry
from agentdeck.models import Job
from agentdeck.worker.loop import JobContext
from tests.knowledge.support import KB, NamedHashing, make_kb, run_ingest_jobs
from tests.rag.docs import make_docx, make_pdf, make_zip_bomb

LONG = "\n\n".join(
    f"## Part {n}\n\nThe lighthouse keeper logs the weather at dawn, notes ship number {n} "
    "passing the reef, trims the lamp wick and writes the tide tables for the harbour."
    for n in range(40)
)


def _sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\r\n\r\n" if "\r\n" in text else "\n\n"):
        lines = dict(
            line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":"
        )
        if "event" in lines:
            events.append((lines["event"], json.loads(lines["data"])))
    return events


async def test_bad_files_fail_only_their_document(kb: KB, app: Any) -> None:
    bad = {
        "broken.pdf": (b"%PDF-1.4\n1 0 obj << /Type /Catalog", "application/pdf"),
        "bomb.docx": (make_zip_bomb(50 * 1024 * 1024), "application/octet-stream"),
        "fake.docx": (b"this is not a zip at all", "application/octet-stream"),
        "empty.txt": (b"", "text/plain"),
        "binary.txt": (b"\x00\x01\x02 binary", "text/plain"),
        "blank.md": (b"   \n\n  ", "text/markdown"),
    }
    ids = {}
    for name, (data, mime) in bad.items():
        resp = await kb.upload(name, data, mime)
        assert resp.status_code == 202, (name, resp.text)
        ids[name] = resp.json()["id"]
    docx = make_docx()
    good = await kb.upload("ok.docx", docx, "application/octet-stream")
    assert await run_ingest_jobs(app) == len(bad) + 1  # the handler never raised
    reasons = {name: (await kb.document(doc_id)) for name, doc_id in ids.items()}
    assert {n: d["status"] for n, d in reasons.items()} == dict.fromkeys(bad, "failed")
    assert reasons["broken.pdf"]["error_reason"] == "corrupt"
    assert reasons["bomb.docx"]["error_reason"] == "zip_bomb"
    assert reasons["fake.docx"]["error_reason"] == "wrong_type"
    assert reasons["empty.txt"]["error_reason"] == "empty"
    assert reasons["binary.txt"]["error_reason"] == "wrong_type"
    assert reasons["blank.md"]["error_reason"] == "empty"
    assert all(d["error"] for d in reasons.values())
    assert (await kb.document(good.json()["id"]))["status"] == "ready"

    retried = await kb.upload("empty-again.txt", b"", "text/plain")
    assert retried.status_code == 202 and retried.json()["id"] == ids["empty.txt"]
    assert retried.json()["status"] == "queued" and retried.json()["version"] == 2
    again = await kb.upload("ok-again.docx", docx, "application/octet-stream")
    assert again.status_code == 200 and again.json()["id"] == good.json()["id"]


async def test_progress_streams_until_ready(
    client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NamedHashing, "delay_s", 0.12)
    kb = await make_kb(client, chunking={"size": 32, "overlap": 4, "strategy": "structure"})
    doc = (await kb.add_text("Lighthouse", LONG)).json()
    url = f"{kb.url}/documents/{doc['id']}/events"
    stream = asyncio.create_task(client.get(url, headers=kb.tenant.headers))
    await asyncio.sleep(0.1)
    await run_ingest_jobs(app)
    resp = await asyncio.wait_for(stream, 30)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
    events = _sse(resp.text)
    names = [name for name, _ in events]
    assert names[0] == "progress" and names[-1] == "ready"
    progress = [data for name, data in events if name == "progress"]
    assert progress[0]["status"] == "queued"
    percents = [p["percent"] for p in progress]
    assert percents == sorted(percents) and len(set(percents)) >= 3, percents
    assert any(0 < p["chunks_done"] < p["chunks_total"] for p in progress)
    final = events[-1][1]
    assert final["status"] == "ready" and final["chunks_done"] == final["chunks_total"] >= 40

    again = await client.get(url, headers=kb.tenant.headers)
    assert [name for name, _ in _sse(again.text)] == ["ready"]


async def test_failed_stream_and_document_row(client: httpx.AsyncClient, kb: KB, app: Any) -> None:
    doc = (await kb.upload("broken.pdf", b"%PDF-1.4 nonsense", "application/pdf")).json()
    await run_ingest_jobs(app)
    resp = await client.get(f"{kb.url}/documents/{doc['id']}/events", headers=kb.tenant.headers)
    [(name, data)] = _sse(resp.text)
    assert name == "failed" and data["error_reason"] == "corrupt"


async def _chunk_count(knowledge: KnowledgeRegistry, kb: KB, query: str, dim: int = 384) -> int:
    store = await knowledge.store(dim)
    hits = await store.search([kb.id], None, query, top_k=100, mode="fulltext")
    return len(hits)


async def test_rerun_of_an_interrupted_job_adds_no_duplicates(
    kb: KB, app: Any, knowledge: KnowledgeRegistry
) -> None:
    doc = (await kb.add_text("Lighthouse", LONG)).json()
    await run_ingest_jobs(app)
    ready = await kb.document(doc["id"])
    assert ready["status"] == "ready"
    before = await _chunk_count(knowledge, kb, "lighthouse")
    assert before == ready["chunks_total"]

    # A worker died after storing the chunks but before marking the document ready: the
    # lease expires and another worker runs the same job (same version) again.
    sessionmaker = app.state.runtime.sessionmaker
    async with transaction(sessionmaker) as session:
        await repo.set_document(session, uuid.UUID(doc["id"]), 1, status="processing", percent=60)
    calls_before = NamedHashing.total_calls
    job = Job(id=uuid.uuid4(), kind=tasks.INGEST, payload={"document_id": doc["id"], "version": 1})
    await tasks.ingest(JobContext(job=job, sessionmaker=sessionmaker))
    assert (await kb.document(doc["id"]))["status"] == "ready"
    assert await _chunk_count(knowledge, kb, "lighthouse") == before
    assert NamedHashing.total_calls == calls_before  # same version stored: nothing re-embedded

    # A stale job (an older version) does nothing at all.
    stale = Job(
        id=uuid.uuid4(), kind=tasks.INGEST, payload={"document_id": doc["id"], "version": 0}
    )
    await tasks.ingest(JobContext(job=stale, sessionmaker=sessionmaker))
    assert await _chunk_count(knowledge, kb, "lighthouse") == before


async def test_reindex_and_delete(
    client: httpx.AsyncClient, kb: KB, app: Any, knowledge: KnowledgeRegistry
) -> None:
    doc = (await kb.add_text("Lighthouse", LONG)).json()
    other = (await kb.add_text("Bakery", "The baker proves the dough overnight.")).json()
    await run_ingest_jobs(app)
    headers = kb.tenant.headers
    count = await _chunk_count(knowledge, kb, "lighthouse")

    calls = NamedHashing.total_calls
    again = await client.post(f"{kb.url}/documents/{doc['id']}/reindex", headers=headers)
    assert again.status_code == 202
    assert again.json()["status"] == "queued" and again.json()["version"] == 2
    await run_ingest_jobs(app)
    assert (await kb.document(doc["id"]))["status"] == "ready"
    assert NamedHashing.total_calls > calls  # re-embedded
    assert await _chunk_count(knowledge, kb, "lighthouse") == count

    gone = await client.delete(f"{kb.url}/documents/{doc['id']}", headers=headers)
    assert gone.status_code == 204
    assert (await client.get(f"{kb.url}/documents/{doc['id']}", headers=headers)).status_code == 404
    assert await _chunk_count(knowledge, kb, "lighthouse") == 0
    store = await knowledge.store(384)
    assert await store.document_version(kb.id, doc["id"]) is None
    assert [h["document_id"] for h in await kb.search("baker dough")] == [other["id"]]

    deleted = await client.delete(kb.url, headers=headers)
    assert deleted.status_code == 204
    assert await store.document_version(kb.id, other["id"]) is None


async def test_new_model_or_chunking_reindexes_everything(
    client: httpx.AsyncClient, kb: KB, app: Any, knowledge: KnowledgeRegistry
) -> None:
    docs = [
        (await kb.add_text("Lighthouse", LONG)).json()["id"],
        (
            await kb.upload("manual.pdf", make_pdf(["The pump runs at night."]), "application/pdf")
        ).json()["id"],
    ]
    await run_ingest_jobs(app)
    headers = kb.tenant.headers
    changed = await client.patch(kb.url, json={"embedding_model": "local-static"}, headers=headers)
    assert changed.status_code == 200
    assert changed.json()["embedding_dim"] == 256
    for doc_id in docs:
        queued = await kb.document(doc_id)
        assert queued["status"] == "queued" and queued["version"] == 2
    assert await run_ingest_jobs(app) == 2
    for doc_id in docs:
        assert (await kb.document(doc_id))["status"] == "ready"
    assert await _chunk_count(knowledge, kb, "lighthouse", dim=384) == 0  # old vectors gone
    assert await _chunk_count(knowledge, kb, "lighthouse", dim=256) > 0
    assert (await kb.search("pump night"))[0]["document_id"] == docs[1]

    before = await _chunk_count(knowledge, kb, "lighthouse", dim=256)
    rechunked = await client.patch(
        kb.url,
        json={"chunking": {"size": 100, "overlap": 10, "strategy": "fixed"}},
        headers=headers,
    )
    assert rechunked.status_code == 200
    await run_ingest_jobs(app)
    assert 0 < await _chunk_count(knowledge, kb, "lighthouse", dim=256) < before
    same = await client.patch(kb.url, json={"description": "only words"}, headers=headers)
    assert same.status_code == 200
    assert await run_ingest_jobs(app) == 0


async def test_a_model_that_cannot_load_fails_the_document(
    client: httpx.AsyncClient, app: Any, knowledge: KnowledgeRegistry
) -> None:
    kb = await make_kb(client, embedding_model="openai/text-embedding-3-small")
    assert kb.body["embedding_dim"] is None
    doc = (await kb.add_text("Note", "Anything at all.")).json()
    await run_ingest_jobs(app)
    failed = await kb.document(doc["id"])
    assert failed["status"] == "failed" and failed["error_reason"] == "embedding_error"
    assert "openai/text-embedding-3-small" in failed["error"]


async def test_a_worker_picks_the_document_up(client: httpx.AsyncClient, kb: KB, app: Any) -> None:
    from agentdeck.app import build_worker

    worker = build_worker(app.state.runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        doc = (await kb.add_text("Lighthouse", LONG)).json()
        status = "queued"
        for _ in range(200):
            status = (await kb.document(doc["id"]))["status"]
            if status in ("ready", "failed"):
                break
            await asyncio.sleep(0.05)
        assert status == "ready"
        assert (await kb.search("lighthouse keeper tide tables"))[0]["document_id"] == doc["id"]
    finally:
        stop.set()
        await task


async def test_a_run_overtaken_by_a_newer_version_stores_nothing(
    client: httpx.AsyncClient,
    kb: KB,
    app: Any,
    knowledge: KnowledgeRegistry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from agentdeck.worker import queue

    doc = (await kb.add_text("Lighthouse", LONG)).json()
    sessionmaker = app.state.runtime.sessionmaker
    async with transaction(sessionmaker) as session:
        old_job = await queue.claim(session, "slow-worker", [tasks.INGEST], 60)
    assert old_job is not None and old_job.payload["version"] == 1
    monkeypatch.setattr(NamedHashing, "delay_s", 0.3)
    with capture_logs() as logs:
        slow = asyncio.create_task(tasks.ingest(JobContext(job=old_job, sessionmaker=sessionmaker)))
        await asyncio.sleep(0.1)  # the old run is embedding its first batch now
        newer = await client.post(
            f"{kb.url}/documents/{doc['id']}/reindex", headers=kb.tenant.headers
        )
        assert newer.status_code == 202 and newer.json()["version"] == 2
        await asyncio.wait_for(slow, 30)  # gives up at its next progress write
    assert "knowledge.ingest_superseded" in [entry["event"] for entry in logs]
    monkeypatch.setattr(NamedHashing, "delay_s", 0.0)
    await run_ingest_jobs(app)
    final = await kb.document(doc["id"])
    assert final["status"] == "ready" and final["version"] == 2
    store = await knowledge.store(384)
    assert await _chunk_count(knowledge, kb, "lighthouse") == final["chunks_total"]
    assert await store.document_version(kb.id, doc["id"]) is not None
    async with transaction(sessionmaker) as session:
        await queue.finish(session, old_job, "slow-worker", None)
