"""Retrieval quality on the labelled set (tests/rag/data/recall): hybrid >= vector-only.

Always checked with the deterministic hashing embedder; also with the local MiniLM and the
static model2vec model where they are installed (skipped otherwise; nothing is downloaded).
`benchmarks/rag.py recall` prints the same numbers.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from agentdeck.rag import Embedder, HashingEmbedder, LocalMiniLM, Model2VecStatic
from agentdeck.rag.stores.sqlite_vec import SqliteVecStore
from agentdeck.rag.tokenizer import minilm_model_dir
from tests.rag.recall_set import load_recall_set, recall_at_k


def test_the_set_is_labelled_consistently() -> None:
    recall_set = load_recall_set()
    sections = {
        (d.doc_id, line[3:].strip())
        for d in recall_set.documents
        for line in d.data.decode().splitlines()
        if line.startswith("## ")
    }
    assert len(recall_set.documents) >= 10 and len(sections) >= 100
    assert len(recall_set.questions) >= 50
    assert {(q.doc_id, q.heading) for q in recall_set.questions} <= sections
    assert sum(q.kind == "keyword" for q in recall_set.questions) >= 10
    assert {q.kind for q in recall_set.questions} == {"paraphrase", "keyword"}


async def measure(embedder: Embedder, tmp_path: Path) -> dict[str, float]:
    store = SqliteVecStore(tmp_path / "recall.db", embedder.dim)
    await store.ensure_schema()
    try:
        return dict(await recall_at_k(store, embedder, load_recall_set(), k=5))
    finally:
        await store.close()


async def test_hybrid_at_least_as_good_as_vector_with_hashing(tmp_path: Path) -> None:
    scores = await measure(HashingEmbedder(384), tmp_path)
    assert scores["hybrid"] >= scores["vector"]
    assert scores["fulltext/keyword"] >= 0.8  # keyword questions are full text's strength


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)


@pytest.mark.skipif(
    not _installed("sentence_transformers") or minilm_model_dir() is None,
    reason="the `embeddings` extra (MiniLM) is not installed",
)
async def test_hybrid_at_least_as_good_as_vector_with_minilm(tmp_path: Path) -> None:
    scores = await measure(LocalMiniLM(), tmp_path)
    assert scores["hybrid"] >= scores["vector"] >= 0.7


async def test_hybrid_at_least_as_good_as_vector_with_static_model(tmp_path: Path) -> None:
    model = Model2VecStatic()
    if not _installed("model2vec") or not (model.model_dir / "model.safetensors").exists():
        pytest.skip("model2vec or the distilled static model is not installed")
    scores = await measure(model, tmp_path)
    assert scores["hybrid"] >= scores["vector"]
