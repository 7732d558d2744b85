"""Both vector stores pass the same conformance suite."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from agentdeck.rag.stores.base import VectorStore
from agentdeck.rag.stores.pgvector import PgVectorStore
from agentdeck.rag.stores.sqlite_vec import SqliteVecStore
from tests.rag.store_conformance import (
    DIM,
    TEXTS,
    StoreConformance,
    TunedStoreConformance,
    put,
    vec,
)


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


@pytest.fixture(params=["sqlite_vec", "pgvector"])
async def tuned_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VectorStore]:
    """A store of its own (fresh tables) with tiny size thresholds."""
    if request.param == "sqlite_vec":
        instance: VectorStore = SqliteVecStore(
            tmp_path / "tuned.db", DIM, common_df=5, text_budget=8, exact_rows=4,
            candidates=4, oversample=1,
        )  # fmt: skip
    else:
        dsn: str = request.getfixturevalue("pg_dsn")
        prefix = f"t{uuid.uuid4().hex[:8]}_"
        instance = PgVectorStore(dsn, DIM, prefix=prefix, common_df=5, text_budget=8)
    await instance.ensure_schema()
    yield instance
    await instance.close()


class TestTunedVectorStores(TunedStoreConformance):
    """The threshold-dependent paths (stop-word terms, approximate filtered search)."""


async def test_sqlite_store_refuses_another_dimension(tmp_path: Path) -> None:
    from agentdeck.rag.errors import StoreError

    first = SqliteVecStore(tmp_path / "x.db", 8)
    await first.ensure_schema()
    await first.close()
    other = SqliteVecStore(tmp_path / "x.db", 16)
    with pytest.raises(StoreError):
        await other.ensure_schema()
    await other.close()


async def test_sqlite_bit_index_follows_other_writers(tmp_path: Path) -> None:
    """Two store objects on one file (an API process and a worker): appends and deletions by
    one are seen by the other's in-process vector index on its next search."""
    reader, writer = SqliteVecStore(tmp_path / "s.db", DIM), SqliteVecStore(tmp_path / "s.db", DIM)
    await reader.ensure_schema()
    await writer.ensure_schema()
    await put(writer, "kb", "d1", [TEXTS["rivers"], TEXTS["bread"]])
    q = vec(TEXTS["chess"])
    assert len(await reader.search(["kb"], q, "", top_k=5, mode="vector")) == 2
    await put(writer, "kb", "d2", [TEXTS["chess"]])
    hits = await reader.search(["kb"], q, "", top_k=5, mode="vector")
    assert hits[0].text == TEXTS["chess"] and len(hits) == 3
    assert await writer.delete_document("kb", "d2")
    await put(writer, "kb", "d1", [TEXTS["volcano"]], version="v2")
    hits = await reader.search(["kb"], q, "", top_k=5, mode="vector")
    assert [h.text for h in hits] == [TEXTS["volcano"]]
    await reader.close()
    await writer.close()


async def test_sqlite_store_of_the_first_layout_is_rebuilt(tmp_path: Path) -> None:
    """A file written before the kb column existed in the FTS index still searches right."""
    from agentdeck.rag._sqlite import connect

    conn = connect(tmp_path / "old.db")
    conn.executescript(f"""
        CREATE TABLE rag_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO rag_meta VALUES ('dim', '{DIM}');
        CREATE TABLE rag_documents (kb_id TEXT NOT NULL, doc_id TEXT NOT NULL,
            version TEXT NOT NULL, title TEXT NOT NULL, metadata TEXT NOT NULL,
            PRIMARY KEY (kb_id, doc_id));
        CREATE TABLE rag_chunks (id INTEGER PRIMARY KEY, kb_id TEXT NOT NULL,
            doc_id TEXT NOT NULL, position INTEGER NOT NULL, text TEXT NOT NULL,
            heading TEXT NOT NULL, page INTEGER, start_offset INTEGER NOT NULL,
            end_offset INTEGER NOT NULL, metadata TEXT NOT NULL, embedding BLOB NOT NULL);
        CREATE VIRTUAL TABLE rag_chunk_bits USING vec0(kb_id TEXT PARTITION KEY, bits BIT[{DIM}]);
        CREATE VIRTUAL TABLE rag_chunk_fts USING fts5(text, tokenize='porter unicode61');
        INSERT INTO rag_documents VALUES ('a', 'd', 'v1', 'A', '{{}}');
        INSERT INTO rag_documents VALUES ('b', 'd', 'v1', 'B', '{{}}');
    """)
    for chunk_id, kb_id, text in ((1, "a", TEXTS["chess"]), (2, "b", TEXTS["rivers"])):
        blob = np.asarray(vec(text), dtype=np.float32).tobytes()
        conn.execute(
            "INSERT INTO rag_chunks VALUES (?, ?, 'd', 0, ?, '[\"H\"]', NULL, 0, ?, '{}', ?)",
            (chunk_id, kb_id, text, len(text), blob),
        )
        conn.execute("INSERT INTO rag_chunk_fts(rowid, text) VALUES (?, ?)", (chunk_id, text))
    conn.close()
    store = SqliteVecStore(tmp_path / "old.db", DIM)
    await store.ensure_schema()
    assert [h.kb_id for h in await store.search(["a"], None, "knight", mode="fulltext")] == ["a"]
    assert await store.search(["b"], None, "knight", mode="fulltext") == []
    hits = await store.search(["a", "b"], vec(TEXTS["rivers"]), "rivers", mode="hybrid")
    assert hits[0].kb_id == "b" and hits[0].heading_path == ["H"]
    await store.close()


async def test_sqlite_in_memory_store_uses_one_connection() -> None:
    store = SqliteVecStore(":memory:", DIM)
    await store.ensure_schema()
    await put(store, "kb", "d", [TEXTS["chess"], TEXTS["bread"]])
    hits = await store.search(["kb"], vec(TEXTS["chess"]), "knight", top_k=2, mode="hybrid")
    assert hits[0].text == TEXTS["chess"] and hits[0].score == pytest.approx(2 / 61)
    await store.close()
