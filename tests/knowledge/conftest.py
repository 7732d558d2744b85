"""Knowledge fixtures: hashing embeddings (autouse) and a knowledge base of a new tenant."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from agentdeck.knowledge.registry import KnowledgeRegistry
from agentdeck.knowledge.settings import KnowledgeSettings
from tests.knowledge.support import KB, hashing_factory, make_kb, run_ingest_jobs, use_hashing


@pytest.fixture(autouse=True)
async def knowledge(app: Any) -> AsyncIterator[KnowledgeRegistry]:
    registry = use_hashing(app)
    yield registry
    # Leave no ingestion job behind for the workers of other suites (which would embed with
    # the real local model).
    registry.embedder_factory = hashing_factory
    await run_ingest_jobs(app)
    registry.settings = KnowledgeSettings()  # the app's embedder stays the hashing seam


@pytest.fixture
async def kb(client: httpx.AsyncClient) -> KB:
    return await make_kb(client)
