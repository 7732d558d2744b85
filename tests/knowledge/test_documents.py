"""Documents over HTTP: every upload type, text and URL forms, limits, dedup, listing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from agentdeck.kit.db import transaction
from agentdeck.knowledge import service
from agentdeck.knowledge.registry import KnowledgeRegistry
from agentdeck.knowledge.repository import kb_by_id
from tests.knowledge.support import KB, PageServer, make_kb, run_ingest_jobs
from tests.rag.docs import make_docx, make_pdf

MD = b"# Guide\n\n## Kettles\n\nDescale the kettle every month with vinegar.\n"
CSV = b"city,river\nParis,Seine\nLondon,Thames\n"
JSON = json.dumps([{"planet": "Mars", "moons": 2}, {"planet": "Venus", "moons": 0}]).encode()
HTML = (
    b"<html><head><title>Garden notes</title></head><body><nav>Home | About</nav>"
    b"<article><h1>Roses</h1><p>Prune roses in late winter, just above an outward bud. "
    b"Feed them with compost in spring and water deeply during dry weeks.</p></article>"
    b"</body></html>"
)


async def test_every_type_is_ingested_with_citations(client: httpx.AsyncClient, app: Any) -> None:
    kb = await make_kb(client, chunking={"size": 24, "overlap": 4, "strategy": "structure"})
    intro = "This manual explains how the heating system of the building works. " * 3
    uploads = [
        ("notes.txt", b"The boiler is serviced every autumn.", "text/plain"),
        ("guide.md", MD, "text/markdown"),
        ("garden.html", HTML, "text/html"),
        ("manual.pdf", make_pdf([intro, "The pump runs at night."]), "application/pdf"),
        ("handbook.docx", make_docx(), "application/octet-stream"),
        ("rivers.csv", CSV, "text/csv"),
        ("planets.json", JSON, "application/json"),
    ]
    ids = {}
    for name, data, mime in uploads:
        resp = await kb.upload(name, data, mime)
        assert resp.status_code == 202, (name, resp.text)
        body = resp.json()
        assert body["status"] == "queued" and body["filename"] == name
        ids[name] = body["id"]
    assert await run_ingest_jobs(app) == len(uploads)
    for name, doc_id in ids.items():
        doc = await kb.document(doc_id)
        assert doc["status"] == "ready", (name, doc)
        assert doc["percent"] == 100 and doc["chunks_done"] == doc["chunks_total"] > 0

    pump = await kb.search("pump runs at night", mode="fulltext")
    assert pump[0]["document_id"] == ids["manual.pdf"] and pump[0]["page"] == 2
    fire = await kb.search("fire exits marked green")
    assert fire[0]["document_id"] == ids["handbook.docx"]
    assert fire[0]["heading"] == "Safety" and "Employee Handbook" in fire[0]["heading_path"]
    kettle = await kb.search("descale kettle vinegar")
    assert kettle[0]["document_id"] == ids["guide.md"] and kettle[0]["heading"] == "Kettles"
    source = MD.decode()
    assert "vinegar" in source[kettle[0]["start"] : kettle[0]["end"]]
    roses = await kb.search("prune roses")
    assert roses[0]["document_id"] == ids["garden.html"] and "Home | About" not in roses[0]["text"]
    thames = await kb.search("Thames", mode="fulltext")
    assert thames[0]["document_id"] == ids["rivers.csv"]


async def test_same_bytes_are_kept_once(client: httpx.AsyncClient, kb: KB, app: Any) -> None:
    first = await kb.add_text("Kettles", "Descale the kettle every month.")
    assert first.status_code == 202
    again = await kb.add_text("Other title", "Descale the kettle every month.")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    uploaded = await kb.upload("copy.md", b"Descale the kettle every month.", "text/markdown")
    assert uploaded.status_code == 200 and uploaded.json()["id"] == first.json()["id"]
    elsewhere = await make_kb(client, kb.tenant)
    other = await elsewhere.add_text("Kettles", "Descale the kettle every month.")
    assert other.status_code == 202 and other.json()["id"] != first.json()["id"]
    assert await run_ingest_jobs(app) == 2  # one per knowledge base, none for the duplicates
    listed = await client.get(f"{kb.url}/documents", headers=kb.tenant.headers)
    assert [d["id"] for d in listed.json()["items"]] == [first.json()["id"]]


async def test_listing_is_paginated_and_filtered(
    client: httpx.AsyncClient, kb: KB, app: Any
) -> None:
    for n in range(3):
        assert (await kb.add_text(f"Doc {n}", f"Text number {n} about owls.")).status_code == 202
    await run_ingest_jobs(app)
    assert (await kb.upload("empty.txt", b"", "text/plain")).status_code == 202
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = await client.get(f"{kb.url}/documents", params=params, headers=kb.tenant.headers)
        assert page.status_code == 200
        seen += [d["id"] for d in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if not cursor:
            break
    assert len(seen) == 4 == len(set(seen))
    ready = await client.get(
        f"{kb.url}/documents", params={"status": "ready"}, headers=kb.tenant.headers
    )
    assert len(ready.json()["items"]) == 3
    bad = await client.get(
        f"{kb.url}/documents", params={"cursor": "!!"}, headers=kb.tenant.headers
    )
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


async def test_an_upload_may_exceed_the_api_body_limit(
    client: httpx.AsyncClient, app: Any, kb: KB
) -> None:
    api_limit = app.state.runtime.settings.api.max_body_bytes
    text = b"agentdeck stores large handbooks. " * (api_limit // 30)
    assert len(text) > api_limit
    resp = await kb.upload("handbook.txt", text, "text/plain")
    assert resp.status_code == 202, resp.text
    other = await client.post(
        "/api/v1/knowledge-bases", content=b"x" * (api_limit + 1), headers=kb.tenant.headers
    )
    assert other.status_code == 413  # other routes keep the API's limit


async def test_size_and_type_limits(
    client: httpx.AsyncClient, kb: KB, knowledge: KnowledgeRegistry
) -> None:
    knowledge.settings.max_upload_bytes = 1000
    big = await kb.upload("big.txt", b"word " * 400, "text/plain")
    assert big.status_code == 413, big.text
    assert big.headers["content-type"] == "application/problem+json"
    assert big.json()["field"] == "file"
    long_text = await kb.add_text("Long", "word " * 400)
    assert long_text.status_code == 413 and long_text.json()["field"] == "text"

    refused = [
        ("tool.exe", b"MZ\x90\x00", "application/octet-stream"),
        ("photo.png", b"\x89PNG", "image/png"),
        ("notes.txt", b"hello", "image/jpeg"),
        ("report.pdf", b"%PDF-1.4", "text/html"),
        ("noext", b"hello", "application/octet-stream"),
    ]
    for name, data, mime in refused:
        resp = await kb.upload(name, data, mime)
        assert resp.status_code == 415, (name, mime, resp.text)
        assert resp.json()["field"] == "file"

    knowledge.settings.allowed_formats = ["txt", "md"]
    pdf = await kb.upload("manual.pdf", make_pdf(["x"]), "application/pdf")
    assert pdf.status_code == 415 and "not allowed" in pdf.json()["detail"]

    headers = kb.tenant.headers
    no_file = await client.post(
        f"{kb.url}/documents", data={"title": "x"}, files={"other": ("a.txt", b"x")},
        headers=headers,
    )  # fmt: skip
    assert no_file.status_code == 422 and no_file.json()["field"] == "file"
    both = await client.post(
        f"{kb.url}/documents", json={"text": "x", "url": "http://a.example"}, headers=headers
    )
    assert both.status_code == 422 and both.headers["content-type"] == "application/problem+json"
    untitled = await client.post(f"{kb.url}/documents", json={"text": "x"}, headers=headers)
    assert untitled.status_code == 422
    raw = await client.post(
        f"{kb.url}/documents", content=b"hello", headers={**headers, "content-type": "text/plain"}
    )
    assert raw.status_code == 415 and raw.json()["field"] == "body"
    bad_meta = await kb.upload("a.txt", b"hello", "text/plain", metadata="[1]")
    assert bad_meta.status_code == 422 and bad_meta.json()["field"] == "metadata"


async def test_url_document_is_fetched_once_and_refreshed_in_place(
    client: httpx.AsyncClient, kb: KB, app: Any, knowledge: KnowledgeRegistry
) -> None:
    pages = {
        "/garden": (200, "text/html; charset=utf-8", HTML),
        "/moved": (302, "text/plain", b"/garden"),
        "/gone": (404, "text/plain", b"no"),
        "/photo": (200, "image/png", b"\x89PNG"),
    }
    with PageServer(pages) as server:
        headers = kb.tenant.headers
        resp = await client.post(
            f"{kb.url}/documents", json={"url": f"{server.base}/moved"}, headers=headers
        )
        assert resp.status_code == 202, resp.text
        doc = resp.json()
        assert doc["title"] == "Garden notes" and doc["source_url"] == f"{server.base}/garden"
        await run_ingest_jobs(app)
        hits = await kb.search("prune roses")
        assert hits[0]["document_id"] == doc["id"] and hits[0]["source_url"] == doc["source_url"]

        same = await client.post(
            f"{kb.url}/documents", json={"url": f"{server.base}/garden"}, headers=headers
        )
        assert same.status_code == 200 and same.json()["id"] == doc["id"]

        gone = await client.post(
            f"{kb.url}/documents", json={"url": f"{server.base}/gone"}, headers=headers
        )
        assert gone.status_code == 422 and gone.json()["field"] == "url"
        assert "404" in gone.json()["detail"]
        photo = await client.post(
            f"{kb.url}/documents", json={"url": f"{server.base}/photo"}, headers=headers
        )
        assert photo.status_code == 415 and photo.json()["field"] == "url"
        ftp = await client.post(
            f"{kb.url}/documents", json={"url": "ftp://x.example/a"}, headers=headers
        )
        assert ftp.status_code == 422 and ftp.json()["field"] == "url"

        knowledge.settings.allow_private_urls = False
        private = await client.post(
            f"{kb.url}/documents", json={"url": f"{server.base}/garden"}, headers=headers
        )
        assert private.status_code == 422 and private.json()["field"] == "url"
        assert "private" in private.json()["detail"]


async def test_add_document_content_for_crawlers(
    client: httpx.AsyncClient, kb: KB, app: Any
) -> None:
    sessionmaker = app.state.runtime.sessionmaker
    source_id = uuid.uuid4()
    url = "https://docs.example/page"
    async with transaction(sessionmaker) as session:
        row = await kb_by_id(session, uuid.UUID(kb.id))
        assert row is not None
        first = await service.add_document_content(
            session, row, title="Page", data=b"<p>Version one of the page.</p>",
            filename="page.html", mime_type="text/html", source_url=url, source_id=source_id,
            metadata={"section": "docs"},
        )  # fmt: skip
    async with transaction(sessionmaker) as session:
        row = await kb_by_id(session, uuid.UUID(kb.id))
        assert row is not None
        unchanged = await service.add_document_content(
            session, row, title="Page", data=b"<p>Version one of the page.</p>",
            filename="page.html", mime_type="text/html", source_url=url, source_id=source_id,
        )  # fmt: skip
        unchanged_id, unchanged_version = unchanged.id, unchanged.version
        changed = await service.add_document_content(
            session, row, title="Page v2", data=b"<p>Version two, with owls.</p>",
            filename="page.html", mime_type="text/html", source_url=url, source_id=source_id,
        )  # fmt: skip
        first_id, changed_id = first.id, changed.id
    assert unchanged_id == first_id and unchanged_version == 1
    assert changed_id == first_id
    await run_ingest_jobs(app)  # version 1's job finds a newer version and does nothing
    doc = await kb.document(str(first_id))
    assert doc["version"] == 2 and doc["status"] == "ready" and doc["title"] == "Page v2"
    assert doc["source_id"] == str(source_id) and doc["metadata"] == {"section": "docs"}
    hits = await kb.search("owls", mode="fulltext", filters={"section": "docs"})
    assert [h["document_id"] for h in hits] == [str(first_id)]
    assert hits[0]["source_url"] == url


class _FailingDeletes:
    """The real store, except that deleting fails as a broken disk or server would."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def delete_document(self, kb_id: str, doc_id: str) -> bool:
        import sqlite3

        raise sqlite3.OperationalError("disk I/O error")


async def test_a_failing_vector_store_answers_503_and_keeps_the_document(
    client: httpx.AsyncClient, app: Any, kb: KB, knowledge: KnowledgeRegistry
) -> None:
    doc = (await kb.add_text("Note", "Vectors that refuse to go away.")).json()
    await run_ingest_jobs(app)
    assert (await kb.document(doc["id"]))["status"] == "ready"
    dims = list(knowledge._stores)
    real = {dim: knowledge._stores[dim] for dim in dims}
    try:
        for dim in dims:
            knowledge._stores[dim] = _FailingDeletes(real[dim])  # type: ignore[assignment]
        resp = await client.delete(f"{kb.url}/documents/{doc['id']}", headers=kb.tenant.headers)
        assert resp.status_code == 503, resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert resp.json()["type"].endswith("vector-store-unavailable")
        gone = await client.delete(kb.url, headers=kb.tenant.headers)
        assert gone.status_code == 503
    finally:
        knowledge._stores.update(real)
    assert (await kb.document(doc["id"]))["status"] == "ready"  # nothing was deleted
    hits = await kb.search("vectors refuse", mode="fulltext")
    assert hits and hits[0]["document_id"] == doc["id"]
