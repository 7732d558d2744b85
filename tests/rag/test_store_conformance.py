"""Both vector stores pass the same conformance suite."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agentdeck.rag.stores.base import VectorStore
from agentdeck.rag.stores.pgvector import PgVectorStore
from agentdeck.rag.stores.sqlite_vec import SqliteVecStore
from tests.rag.store_conformance import DIM, StoreConformance


@pytest.fixture(scope="session", params=["sqlite_vec", "pgvector"])
async def store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[VectorStore]:
    if request.param == "sqlite_vec":
        instance: VectorStore = SqliteVecStore(tmp_path_factory.mktemp("rag") / "rag.db", DIM)
    else:
        dsn: str = request.getfixturevalue("pg_dsn")
        instance = PgVectorStore(dsn, DIM)
    await instance.ensure_schema()
    await instance.ensure_schema()  # idempotent
    yield instance
    await instance.close()


class TestVectorStores(StoreConformance):
    """Runs every conformance test against SQLite (sqlite-vec) and PostgreSQL (pgvector)."""


async def test_sqlite_store_refuses_another_dimension(tmp_path: Path) -> None:
    from agentdeck.rag.errors import StoreError

    first = SqliteVecStore(tmp_path / "x.db", 8)
    await first.ensure_schema()
    await first.close()
    other = SqliteVecStore(tmp_path / "x.db", 16)
    with pytest.raises(StoreError):
        await other.ensure_schema()
    await other.close()
