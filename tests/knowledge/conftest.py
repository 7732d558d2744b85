"""Knowledge fixtures: hashing embeddings (autouse) and a knowledge base of a new tenant."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from agentdeck.knowledge._registry import KnowledgeRegistry
from agentdeck.knowledge.settings import KnowledgeSettings
from tests.knowledge.support import KB, make_kb, use_hashing


@pytest.fixture(autouse=True)
def knowledge(app: Any) -> Iterator[KnowledgeRegistry]:
    registry = use_hashing(app)
    yield registry
    registry.embedder_factory = None
    registry.settings = KnowledgeSettings()


@pytest.fixture
async def kb(client: httpx.AsyncClient) -> KB:
    return await make_kb(client)
