"""Conformance suite for `VectorStore` implementations.

Subclass `StoreConformance` with a `store` fixture yielding a store of dimension `DIM` whose
schema exists. Every test uses fresh kb ids, so implementations may share one database.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import pytest

from agentdeck.rag.embeddings import HashingEmbedder
from agentdeck.rag.errors import StoreError
from agentdeck.rag.stores.base import VectorStore
from agentdeck.rag.types import (
    Chunk,
    DocumentInfo,
    EmbeddedChunk,
    Filters,
    Metadata,
    SearchMode,
)

DIM = 64
embedder = HashingEmbedder(DIM)

TEXTS = {
    "rivers": "Rivers carry sediment from mountains to the sea and shape wide valleys.",
    "volcano": "A volcano erupts when magma rises through cracks in the crust.",
    "bread": "Knead the dough, let it rise overnight and bake the bread at high heat.",
    "chess": "In chess the knight moves in an L shape and can jump over pieces.",
}


def kb() -> str:
    return f"kb-{uuid.uuid4().hex[:8]}"


def vec(text: str) -> list[float]:
    return embedder.embed_sync([text])[0]


def chunks(
    texts: Sequence[str], heading: str = "Intro", page: int | None = 1
) -> list[EmbeddedChunk]:
    out, offset = [], 0
    for position, text in enumerate(texts):
        chunk = Chunk(text, position, ["Guide", heading], page, offset, offset + len(text), 20)
        out.append(EmbeddedChunk(chunk, vec(text)))
        offset += len(text) + 2
    return out


async def put(
    store: VectorStore, kb_id: str, doc_id: str, texts: Sequence[str], version: str = "v1",
    metadata: Metadata | None = None,
) -> bool:  # fmt: skip
    info = DocumentInfo(doc_id, version, title=f"Title {doc_id}", metadata=metadata or {})
    return await store.upsert(kb_id, info, chunks(texts))


class StoreConformance:
    async def test_upsert_then_search_returns_full_hits(self, store: VectorStore) -> None:
        k = kb()
        assert await put(
            store, k, "d1", [TEXTS["rivers"], TEXTS["volcano"]], metadata={"lang": "en"}
        )
        hits = await store.search([k], vec(TEXTS["volcano"]), "", top_k=1, mode="vector")
        assert len(hits) == 1
        hit = hits[0]
        assert (hit.kb_id, hit.document_id, hit.title) == (k, "d1", "Title d1")
        assert hit.text == TEXTS["volcano"] and hit.position == 1
        assert hit.heading_path == ["Guide", "Intro"] and hit.page == 1
        assert hit.start == len(TEXTS["rivers"]) + 2 and hit.end - hit.start == len(hit.text)
        assert hit.metadata == {"lang": "en"}
        assert hit.score == pytest.approx(1.0, abs=1e-4)

    async def test_same_version_is_a_no_op_and_new_version_replaces(
        self, store: VectorStore
    ) -> None:
        k = kb()
        assert await put(store, k, "d1", [TEXTS["bread"]])
        assert not await put(store, k, "d1", [TEXTS["bread"]])
        hits = await store.search([k], vec(TEXTS["bread"]), "bread", top_k=10, mode="hybrid")
        assert len(hits) == 1
        assert await put(store, k, "d1", [TEXTS["chess"]], version="v2")
        assert await store.document_version(k, "d1") == "v2"
        assert await store.search([k], None, "bread", top_k=10, mode="fulltext") == []
        hits = await store.search([k], None, "knight", top_k=10, mode="fulltext")
        assert [h.text for h in hits] == [TEXTS["chess"]]

    async def test_delete_document(self, store: VectorStore) -> None:
        k = kb()
        await put(store, k, "d1", [TEXTS["rivers"]])
        await put(store, k, "d2", [TEXTS["volcano"]])
        assert await store.delete_document(k, "d1")
        assert not await store.delete_document(k, "d1")
        assert await store.document_version(k, "d1") is None
        hits = await store.search([k], vec(TEXTS["rivers"]), "rivers", top_k=10, mode="hybrid")
        assert {h.document_id for h in hits} == {"d2"}

    async def test_vector_search_orders_by_similarity(self, store: VectorStore) -> None:
        k = kb()
        await put(store, k, "d1", list(TEXTS.values()))
        hits = await store.search([k], vec("the knight jumps in chess"), "", top_k=4, mode="vector")
        assert hits[0].text == TEXTS["chess"]
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert len(hits) == 4

    async def test_fulltext_search_stems_and_ranks(self, store: VectorStore) -> None:
        k = kb()
        await put(store, k, "d1", list(TEXTS.values()))
        hits = await store.search([k], None, "which river valleys?", top_k=3, mode="fulltext")
        assert [h.text for h in hits] == [TEXTS["rivers"]]
        assert hits[0].score > 0
        assert await store.search([k], None, "submarine", top_k=3, mode="fulltext") == []
        assert await store.search([k], None, "the of ?!", top_k=3, mode="fulltext") == []

    async def test_hybrid_fuses_both_rankings(self, store: VectorStore) -> None:
        k = kb()
        await put(store, k, "d1", list(TEXTS.values()))
        # The vector points at bread, the words at the volcano: both must come first.
        hits = await store.search([k], vec(TEXTS["bread"]), "magma crust", top_k=2, mode="hybrid")
        assert {h.text for h in hits} == {TEXTS["bread"], TEXTS["volcano"]}
        both = await store.search([k], vec(TEXTS["chess"]), "knight", top_k=4, mode="hybrid")
        assert both[0].text == TEXTS["chess"]
        assert both[0].score == pytest.approx(2 / 61)

    async def test_metadata_filters(self, store: VectorStore) -> None:
        k = kb()
        await put(
            store, k, "en", [TEXTS["rivers"]], metadata={"lang": "en", "year": 2024, "public": True}
        )
        await put(
            store,
            k,
            "de",
            [TEXTS["volcano"]],
            metadata={"lang": "de", "year": 2023, "public": False},
        )
        await put(store, k, "fr", [TEXTS["bread"]], metadata={"lang": "fr", "year": 2024})
        q = vec(TEXTS["rivers"])

        async def docs(filters: Filters, mode: SearchMode = "vector") -> set[str]:
            hits = await store.search(
                [k], q, "rivers magma bread", top_k=10, mode=mode, filters=filters
            )
            return {h.document_id for h in hits}

        assert await docs({"lang": "de"}) == {"de"}
        assert await docs({"lang": ["de", "fr"]}) == {"de", "fr"}
        assert await docs({"year": 2024}) == {"en", "fr"}
        assert await docs({"year": 2024, "lang": "fr"}, "hybrid") == {"fr"}
        assert await docs({"public": True}, "fulltext") == {"en"}
        assert await docs({"lang": "xx"}, "hybrid") == set()
        with pytest.raises(StoreError):
            await docs({"bad key'": 1})

    async def test_min_score(self, store: VectorStore) -> None:
        k = kb()
        await put(store, k, "d1", list(TEXTS.values()))
        hits = await store.search(
            [k], vec(TEXTS["bread"]), "", top_k=4, mode="vector", min_score=0.99
        )
        assert [h.text for h in hits] == [TEXTS["bread"]]
        fused = await store.search(
            [k], vec(TEXTS["bread"]), "bread", top_k=4, mode="hybrid", min_score=1.5 / 61
        )
        assert [h.text for h in fused] == [TEXTS["bread"]]

    async def test_tenants_are_separated_by_kb_id(self, store: VectorStore) -> None:
        a, b = kb(), kb()
        await put(store, a, "same", [TEXTS["rivers"]])
        await put(store, b, "same", [TEXTS["chess"]])
        q = vec(TEXTS["chess"])
        only_a = await store.search([a], q, "knight chess", top_k=10, mode="hybrid")
        assert {h.text for h in only_a} == {TEXTS["rivers"]}
        assert await store.search([a], None, "knight", top_k=10, mode="fulltext") == []
        both = await store.search([a, b], q, "", top_k=10, mode="vector")
        assert {h.kb_id for h in both} == {a, b}
        assert await store.delete_document(a, "same")
        assert [h.kb_id for h in await store.search([b], q, "", top_k=5, mode="vector")] == [b]
        assert await store.search([], q, "knight", top_k=5) == []

    async def test_rejects_wrong_vectors(self, store: VectorStore) -> None:
        k = kb()
        with pytest.raises(StoreError):
            await store.search([k], [1.0, 0.0], "x", mode="vector")
        with pytest.raises(StoreError):
            await store.search([k], None, "x", mode="hybrid")
        bad = [EmbeddedChunk(chunks(["x"])[0].chunk, [1.0] * (DIM + 1))]
        with pytest.raises(StoreError):
            await store.upsert(k, DocumentInfo("d", "v"), bad)
        assert await store.document_version(k, "d") is None


class TunedStoreConformance:
    """Behaviour that shows only past the stores' size thresholds, checked on a store built
    with tiny ones (`tuned_store`: a term in 5+ chunks is common, filtered vector searches over
    more than 4 chunks use the approximate index with few candidates)."""

    async def test_common_terms_act_as_stop_words(self, tuned_store: VectorStore) -> None:
        k = kb()
        texts = [f"The system logs event number {i} in plain words." for i in range(12)]
        texts[7] = "The system saw a zebra crossing the road."
        await put(tuned_store, k, "d1", texts)
        if hasattr(tuned_store, "analyze"):
            await tuned_store.analyze()  # PostgreSQL reads term frequencies from its statistics
        # "system" is in every chunk: it does not widen the query to all of them.
        hits = await tuned_store.search([k], None, "system zebra", top_k=5, mode="fulltext")
        assert [h.text for h in hits] == [texts[7]]
        # Only common terms: all of them are required, and only the first `text_budget` (8)
        # chunks holding them are ranked.
        common = await tuned_store.search([k], None, "system logs", top_k=20, mode="fulltext")
        assert len(common) == 8 and all("logs" in h.text for h in common)

    async def test_filtered_vector_search_past_the_exact_threshold(
        self, tuned_store: VectorStore
    ) -> None:
        k = kb()
        words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota",
                 "kappa"]  # fmt: skip
        for lang, offset in (("en", 0), ("de", 10), ("fr", 20)):
            texts = [
                f"{lang} {words[i]} {words[(i * 3) % 10]} item {offset + i}" for i in range(10)
            ]
            await put(tuned_store, k, f"doc-{lang}", texts, metadata={"lang": lang})
        target = "de gamma eta item 12"
        for mode in ("vector", "hybrid"):
            hits = await tuned_store.search(
                [k], vec(target), "gamma", top_k=5, mode=mode, filters={"lang": ["de", "fr"]}
            )
            assert len(hits) == 5
            assert {h.metadata["lang"] for h in hits} <= {"de", "fr"}
            assert hits[0].text == target
        only_en = await tuned_store.search(
            [k], vec(target), "", top_k=20, mode="vector", filters={"lang": "en"}
        )
        assert len(only_en) == 10 and {h.document_id for h in only_en} == {"doc-en"}

    async def test_small_kb_beside_a_big_one(self, tuned_store: VectorStore) -> None:
        big, small = kb(), kb()
        await put(tuned_store, big, "d", [f"shared words about volcano {i}" for i in range(300)])
        await put(tuned_store, small, "d", [TEXTS["volcano"], TEXTS["rivers"], TEXTS["bread"]])
        q = vec("shared words about volcano 7")
        for mode in ("vector", "hybrid"):
            hits = await tuned_store.search([small], q, "volcano", top_k=10, mode=mode)
            assert len(hits) == 3 and {h.kb_id for h in hits} == {small}
        text = await tuned_store.search([small], None, "volcano words", top_k=10, mode="fulltext")
        assert [h.text for h in text] == [TEXTS["volcano"]]
        both = await tuned_store.search([small, big], q, "", top_k=5, mode="vector")
        assert both[0].text == "shared words about volcano 7" and both[0].kb_id == big

    async def test_many_kbs_sharing_index_partitions_stay_apart(
        self, tuned_store: VectorStore
    ) -> None:
        """40 kbs (more than PostgreSQL's 16 hash partitions, so several share one) with
        near-identical chunks: every search sees only the kbs it names."""
        kbs = [kb() for _ in range(40)]
        for i, k in enumerate(kbs):
            await put(tuned_store, k, "d", [f"shared volcano notes number {i}", TEXTS["bread"]])
        q = vec("shared volcano notes number 3")
        for i, k in enumerate(kbs):
            for mode in ("vector", "fulltext", "hybrid"):
                hits = await tuned_store.search([k], q, "volcano notes", top_k=5, mode=mode)
                assert hits and {h.kb_id for h in hits} == {k}
                assert hits[0].text == f"shared volcano notes number {i}"
        pair = await tuned_store.search(kbs[5:7], q, "volcano", top_k=10, mode="hybrid")
        assert {h.kb_id for h in pair} == set(kbs[5:7]) and len(pair) == 4
