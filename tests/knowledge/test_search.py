"""Search: modes, filters, scores, several knowledge bases, search_in_space, and a provider's
embedding model through the gateway (usage recorded)."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from agentdeck.errors import NotFound
from agentdeck.kit import netguard
from agentdeck.knowledge import service
from tests.knowledge.support import KB, make_kb, run_ingest_jobs

DOCS = {
    "Kettles": "Descale the kettle every month with white vinegar and rinse it twice.",
    "Roses": "Prune roses in late winter just above an outward facing bud.",
    "Bread": "The baker proves the sourdough overnight in a cool larder.",
}


async def _filled(client: httpx.AsyncClient, app: Any, **fields: Any) -> tuple[KB, dict[str, str]]:
    kb = await make_kb(client, **fields)
    ids = {}
    for n, (title, text) in enumerate(DOCS.items()):
        resp = await kb.add_text(title, text, metadata={"topic": title.lower(), "n": n})
        ids[title] = resp.json()["id"]
    await run_ingest_jobs(app)
    return kb, ids


async def test_modes_filters_and_scores(client: httpx.AsyncClient, app: Any) -> None:
    kb, ids = await _filled(client, app)
    for mode in ("vector", "fulltext", "hybrid"):
        hits = await kb.search("descale the kettle with vinegar", mode=mode, top_k=2)
        assert hits and hits[0]["document_id"] == ids["Kettles"], (mode, hits)
        assert hits[0]["document_title"] == "Kettles" and hits[0]["kb_id"] == kb.id
        assert {"text", "score", "start", "end", "page", "heading"} <= set(hits[0])
        assert len(hits) <= 2
    only_bread = await kb.search("kettle roses bread", filters={"topic": "bread"})
    assert {h["document_id"] for h in only_bread} == {ids["Bread"]}
    any_of = await kb.search("kettle roses bread", filters={"n": [0, 1]}, top_k=10)
    assert {h["document_id"] for h in any_of} == {ids["Kettles"], ids["Roses"]}
    strict = await kb.search("descale kettle", mode="vector", min_score=0.99)
    assert strict == []
    nothing = await kb.search("zeppelin", mode="fulltext")
    assert nothing == []


async def test_bad_search_requests(client: httpx.AsyncClient, kb: KB) -> None:
    headers = kb.tenant.headers
    cases = [
        ({"query": ""}, "query"),
        ({"query": "x", "mode": "magic"}, "mode"),
        ({"query": "x", "top_k": 0}, "top_k"),
        ({"query": "x", "filters": {"bad key!": "x"}}, "filters"),
        ({"query": "x", "filters": {"k": {"nested": 1}}}, "filters.k"),
    ]
    for body, field in cases:
        resp = await client.post(f"{kb.url}/search", json=body, headers=headers)
        assert resp.status_code == 422, (body, resp.text)
        assert resp.json()["field"].startswith(field), (body, resp.json())


async def test_several_knowledge_bases_at_once(client: httpx.AsyncClient, app: Any) -> None:
    first, first_ids = await _filled(client, app)
    second = await make_kb(client, first.tenant, embedding_model="local-static")
    other = (await second.add_text("Kettle care", "Never descale a kettle while it is hot.")).json()
    await run_ingest_jobs(app)
    body = {"query": "descale kettle", "knowledge_base_ids": [first.id, second.id], "top_k": 5}
    resp = await client.post(
        "/api/v1/knowledge-bases/search", json=body, headers=first.tenant.headers
    )
    assert resp.status_code == 200, resp.text
    found = {h["document_id"] for h in resp.json()["items"]}
    assert {first_ids["Kettles"], other["id"]} <= found
    assert {h["kb_id"] for h in resp.json()["items"]} == {first.id, second.id}

    stranger = await make_kb(client)
    mixed = {**body, "knowledge_base_ids": [first.id, stranger.id]}
    refused = await client.post(
        "/api/v1/knowledge-bases/search", json=mixed, headers=first.tenant.headers
    )
    assert refused.status_code == 404 and refused.json()["field"] == "knowledge_base_ids"
    assert stranger.id in refused.json()["detail"]


async def test_search_in_space_by_id_or_name(client: httpx.AsyncClient, app: Any) -> None:
    kb, ids = await _filled(client, app)
    other = await make_kb(client)
    runtime = app.state.runtime
    org_id = uuid.UUID(kb.tenant.org_id)
    space_id = uuid.UUID(kb.space)
    async with runtime.sessionmaker() as session:
        by_name = await service.search_in_space(
            runtime, session, org_id=org_id, space_id=space_id,
            knowledge_bases=[kb.body["name"]], query="prune roses", top_k=1,
        )  # fmt: skip
        by_id = await service.search_in_space(
            runtime, session, org_id=org_id, space_id=space_id, knowledge_bases=[kb.id],
            query="sourdough", mode="fulltext",
        )  # fmt: skip
        with pytest.raises(NotFound) as missing:
            await service.search_in_space(
                runtime, session, org_id=org_id, space_id=space_id,
                knowledge_bases=["nope"], query="x",
            )  # fmt: skip
        with pytest.raises(NotFound):
            await service.search_in_space(
                runtime, session, org_id=org_id, space_id=space_id,
                knowledge_bases=[other.id], query="x",
            )  # fmt: skip
    assert [i.document_id for i in by_name] == [uuid.UUID(ids["Roses"])]
    assert by_name[0].document_title == "Roses" and by_name[0].metadata["topic"] == "roses"
    assert by_id[0].document_id == uuid.UUID(ids["Bread"])
    assert "nope" in missing.value.detail


class _EmbeddingServer:
    """An OpenAI-format /v1/embeddings endpoint on 127.0.0.1: 8-dim bag-of-letters vectors."""

    def __init__(self) -> None:
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.requests += 1
                data = [
                    {"index": i, "embedding": [text.lower().count(c) + 0.1 for c in "aeiourst"]}
                    for i, text in enumerate(body["input"])
                ]
                raw = json.dumps({"data": data, "usage": {"prompt_tokens": 7}}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def loopback_allowed() -> Iterator[None]:
    """The operator allows the local embedding server (AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS)."""
    with netguard.using(netguard.NetworkPolicy.parse(["127.0.0.1"])):
        yield


@pytest.mark.usefixtures("loopback_allowed")
async def test_provider_embeddings_go_through_the_gateway(
    client: httpx.AsyncClient, app: Any
) -> None:
    server = _EmbeddingServer()
    try:
        kb = await make_kb(client)
        headers = kb.tenant.headers
        provider = await client.post(
            "/api/v1/providers",
            json={"name": "lab", "kind": "openai_compatible", "base_url": server.base,
                  "api_key": "sk-test", "models": ["embed-8"]},
            headers=headers,
        )  # fmt: skip
        assert provider.status_code == 201, provider.text
        changed = await client.patch(
            kb.url, json={"embedding_model": "lab/embed-8"}, headers=headers
        )
        assert changed.status_code == 200 and changed.json()["embedding_dim"] is None
        doc = (await kb.add_text("Vowels", "Strawberries taste sweet in summer.")).json()
        await run_ingest_jobs(app)
        ready = await kb.document(doc["id"])
        assert ready["status"] == "ready", ready
        assert (await client.get(kb.url, headers=headers)).json()["embedding_dim"] == 8
        hits = await kb.search("strawberries summer", mode="hybrid")
        assert hits[0]["document_id"] == doc["id"]
        assert server.requests >= 2  # the document, then the query
        usage = await client.get("/api/v1/usage/records", params={"limit": 50}, headers=headers)
        assert usage.status_code == 200, usage.text
        embeds = [r for r in usage.json()["items"] if r["kind"] == "embed"]
        assert len(embeds) >= 2 and all(r["model"] == "embed-8" for r in embeds)
    finally:
        server.stop()
