"""End to end: ingest the labelled corpus, retrieve with citations, skip unchanged files."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from agentdeck.rag import (
    ChunkOptions,
    HashingEmbedder,
    SearchHit,
    StoreError,
    cited,
    format_context,
    ingest_document,
    number_hits,
    retrieve,
)
from agentdeck.rag.retrieval import strip_unknown_markers
from agentdeck.rag.stores.sqlite_vec import SqliteVecStore

CORPUS = json.loads((Path(__file__).parent / "data" / "towns.json").read_text())
embedder = HashingEmbedder(128)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteVecStore]:
    instance = SqliteVecStore(tmp_path / "kb.db", 128)
    await instance.ensure_schema()
    for doc in CORPUS["documents"][:10]:
        result = await ingest_document(
            instance, embedder, "kb", doc["doc_id"], doc["markdown"].encode(),
            filename=f"{doc['doc_id']}.md", title=doc["title"], metadata={"region": "north"},
        )  # fmt: skip
        assert not result.skipped and result.chunks == 4
    yield instance
    await instance.close()


async def test_retrieve_finds_the_labelled_section(store: SqliteVecStore) -> None:
    found = 0
    for query in CORPUS["queries"][:30]:
        hits = await retrieve(store, embedder, ["kb"], query["query"], top_k=5)
        assert hits[0].document_id == query["doc_id"]  # the town's name decides
        found += (query["doc_id"], query["heading"]) in [
            (h.document_id, h.heading_path[-1]) for h in hits
        ]
    assert found / 30 >= 0.85  # a lexical hashing embedder; the benchmark measures MiniLM


async def test_retrieve_modes_filters_and_empty_query(store: SqliteVecStore) -> None:
    query = CORPUS["queries"][4]["query"]
    text_only = await retrieve(store, embedder, ["kb"], query, mode="fulltext", top_k=3)
    assert text_only and text_only[0].document_id == CORPUS["queries"][4]["doc_id"]
    assert await retrieve(store, embedder, ["kb"], query, filters={"region": "south"}) == []
    assert await retrieve(store, embedder, ["other-kb"], query) == []
    assert await retrieve(store, embedder, ["kb"], "   ") == []


async def test_unchanged_documents_are_not_re_embedded(store: SqliteVecStore) -> None:
    doc = CORPUS["documents"][0]

    class Counting(HashingEmbedder):
        calls = 0

        async def embed(self, texts: Sequence[str]) -> list[list[float]]:
            Counting.calls += 1
            return await super().embed(texts)

    counting = Counting(128)
    again = await ingest_document(store, counting, "kb", doc["doc_id"], doc["markdown"].encode(),
                                  filename="a.md")  # fmt: skip
    assert again.skipped and Counting.calls == 0
    changed = await ingest_document(
        store, counting, "kb", doc["doc_id"], doc["markdown"].encode() + b"\nNew line.",
        filename="a.md", options=ChunkOptions(max_tokens=100, overlap=10),
    )  # fmt: skip
    assert not changed.skipped and Counting.calls == 1
    with pytest.raises(StoreError):
        await ingest_document(store, HashingEmbedder(32), "kb", "x", b"text", filename="a.txt")


def hit(doc: str, page: int | None, heading: list[str], text: str) -> SearchHit:
    return SearchHit("kb", doc, doc.title(), text, 1.0, 0, heading, page, 0, len(text))


def test_citations_round_trip() -> None:
    citations = number_hits(
        [hit("handbook", 3, ["Safety", "Fire"], " Exits are green. "), hit("faq", None, [], "Yes.")]
    )
    context = format_context(citations)
    assert context == "[1] Handbook, p. 3, Safety > Fire\nExits are green.\n\n[2] Faq\nYes."
    answer = "Exits are green [1]. Drills too [2, 1] and [7]."
    assert [c.number for c in cited(answer, citations)] == [1, 2]
    assert (
        strip_unknown_markers(answer, citations) == "Exits are green [1]. Drills too [2, 1] and ."
    )
    assert format_context(citations, max_chars=10).startswith("[1]")
    assert "[2]" not in format_context(citations, max_chars=10)


async def test_ingest_documents_batches_across_documents(tmp_path: Path) -> None:
    from agentdeck.rag import SourceDocument, ingest_documents

    class Counting(HashingEmbedder):
        sizes: list[int] = []

        async def embed(self, texts: Sequence[str]) -> list[list[float]]:
            Counting.sizes.append(len(texts))
            return await super().embed(texts)

    target = SqliteVecStore(tmp_path / "many.db", 128)
    await target.ensure_schema()
    sources = [
        SourceDocument(d["doc_id"], d["markdown"].encode(), "t.md", title=d["title"])
        for d in CORPUS["documents"][:20]
    ]
    results = await ingest_documents(target, Counting(128), "kb", sources, batch_size=32)
    assert [r.chunks for r in results] == [4] * 20 and Counting.sizes == [32, 32, 16]
    hits = await retrieve(target, embedder, ["kb"], CORPUS["queries"][30]["query"], top_k=1)
    assert hits[0].document_id == CORPUS["queries"][30]["doc_id"]
    again = await ingest_documents(target, Counting(128), "kb", sources)
    assert all(r.skipped for r in again) and Counting.sizes == [32, 32, 16]
    await target.close()
