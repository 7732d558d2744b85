"""`VectorStore` on SQLite: sqlite-vec for vectors, FTS5 (porter stemming) for text.

Vector search without metadata filters takes candidates from a bit-quantized vec0 index
(partitioned by kb id; Hamming distance is cheap) and rescores them with exact float cosine,
which is fast at 100k chunks and near-exact. With filters it scans the filtered rows exactly.
One connection, used from a worker thread under a lock, so the event loop never blocks.
"""

# SQL text is built only from the validated table prefix and placeholders; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from agentdeck.rag._sqlite import connect
from agentdeck.rag.errors import StoreError
from agentdeck.rag.stores.base import RankedStore, check_filters
from agentdeck.rag.types import DocumentInfo, EmbeddedChunk, Filters, SearchHit

T = TypeVar("T")
_OVERSAMPLE = 8


def _blob(vector: Sequence[float]) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def _filter_sql(filters: Filters | None) -> tuple[str, list[Any]]:
    """``AND ...`` clauses over `c.metadata` with their parameters (keys are bound too)."""
    sql, params = "", list[Any]()
    for key, values in check_filters(filters):
        marks = ", ".join("?" for _ in values)
        sql += f" AND json_extract(c.metadata, ?) IN ({marks})"
        params.append(f'$."{key}"')
        params.extend(int(v) if isinstance(v, bool) else v for v in values)
    return sql, params


class SqliteVecStore(RankedStore):
    """SQLite + sqlite-vec + FTS5 store in one database file (or ``":memory:"``)."""

    def __init__(self, path: str | Path, dim: int, *, prefix: str = "rag_") -> None:
        if not prefix.replace("_", "").isalnum():
            raise StoreError("The table prefix must be alphanumeric.")
        self.path = path
        self.dim = dim
        self._p = prefix
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            if self._conn is None:
                self._conn = await asyncio.to_thread(connect, self.path)
            return await asyncio.to_thread(work, self._conn)

    async def ensure_schema(self) -> None:
        """See `VectorStore.ensure_schema`. Raises `StoreError` if the file holds another dim."""
        p = self._p

        def create(conn: sqlite3.Connection) -> None:
            conn.executescript(f"""
                CREATE TABLE IF NOT EXISTS {p}meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE IF NOT EXISTS {p}documents (
                    kb_id TEXT NOT NULL, doc_id TEXT NOT NULL, version TEXT NOT NULL,
                    title TEXT NOT NULL, metadata TEXT NOT NULL, PRIMARY KEY (kb_id, doc_id));
                CREATE TABLE IF NOT EXISTS {p}chunks (
                    id INTEGER PRIMARY KEY, kb_id TEXT NOT NULL, doc_id TEXT NOT NULL,
                    position INTEGER NOT NULL, text TEXT NOT NULL, heading TEXT NOT NULL,
                    page INTEGER, start_offset INTEGER NOT NULL, end_offset INTEGER NOT NULL,
                    metadata TEXT NOT NULL, embedding BLOB NOT NULL);
                CREATE INDEX IF NOT EXISTS {p}chunks_doc ON {p}chunks (kb_id, doc_id);
                CREATE VIRTUAL TABLE IF NOT EXISTS {p}chunk_bits
                    USING vec0(kb_id TEXT PARTITION KEY, bits BIT[{self.dim}]);
                CREATE VIRTUAL TABLE IF NOT EXISTS {p}chunk_fts
                    USING fts5(text, tokenize='porter unicode61');
            """)
            conn.execute(f"INSERT OR IGNORE INTO {p}meta VALUES ('dim', ?)", (str(self.dim),))
            (stored,) = conn.execute(f"SELECT value FROM {p}meta WHERE key='dim'").fetchone()
            if int(stored) != self.dim:
                raise StoreError(f"The store holds {stored}-dim vectors, not {self.dim}.")

        await self._run(create)

    async def document_version(self, kb_id: str, doc_id: str) -> str | None:
        """See `VectorStore.document_version`."""

        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                f"SELECT version FROM {self._p}documents WHERE kb_id=? AND doc_id=?",
                (kb_id, doc_id),
            ).fetchone()
            return str(row[0]) if row else None

        return await self._run(read)

    def _delete(self, conn: sqlite3.Connection, kb_id: str, doc_id: str) -> int:
        p = self._p
        ids = [
            (row[0],)
            for row in conn.execute(
                f"SELECT id FROM {p}chunks WHERE kb_id=? AND doc_id=?", (kb_id, doc_id)
            )
        ]
        conn.executemany(f"DELETE FROM {p}chunk_bits WHERE rowid=?", ids)
        conn.executemany(f"DELETE FROM {p}chunk_fts WHERE rowid=?", ids)
        conn.execute(f"DELETE FROM {p}chunks WHERE kb_id=? AND doc_id=?", (kb_id, doc_id))
        return conn.execute(
            f"DELETE FROM {p}documents WHERE kb_id=? AND doc_id=?", (kb_id, doc_id)
        ).rowcount

    async def upsert(
        self, kb_id: str, document: DocumentInfo, chunks: Sequence[EmbeddedChunk]
    ) -> bool:
        """See `VectorStore.upsert`."""
        for item in chunks:
            if len(item.vector) != self.dim:
                raise StoreError(f"A chunk vector has {len(item.vector)} dims, not {self.dim}.")
        p = self._p
        metadata = json.dumps(dict(document.metadata), sort_keys=True)

        def write(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    f"SELECT version FROM {p}documents WHERE kb_id=? AND doc_id=?",
                    (kb_id, document.doc_id),
                ).fetchone()
                if row and row[0] == document.version:
                    conn.execute("ROLLBACK")
                    return False
                self._delete(conn, kb_id, document.doc_id)
                conn.execute(
                    f"INSERT INTO {p}documents VALUES (?, ?, ?, ?, ?)",
                    (kb_id, document.doc_id, document.version, document.title, metadata),
                )
                self._insert_chunks(conn, kb_id, document.doc_id, metadata, chunks)
                conn.execute("COMMIT")
                return True
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        return await self._run(write)

    def _insert_chunks(
        self,
        conn: sqlite3.Connection,
        kb_id: str,
        doc_id: str,
        metadata: str,
        chunks: Sequence[EmbeddedChunk],
    ) -> None:
        p = self._p
        (next_id,) = conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {p}chunks").fetchone()
        rows, bits, texts = [], [], []
        for offset, item in enumerate(chunks):
            c, blob, chunk_id = item.chunk, _blob(item.vector), next_id + offset
            heading = json.dumps(c.heading_path)
            rows.append(
                (chunk_id, kb_id, doc_id, c.position, c.text, heading, c.page, c.start, c.end,
                 metadata, blob)
            )  # fmt: skip
            bits.append((chunk_id, kb_id, blob))
            texts.append((chunk_id, " ".join(c.heading_path) + "\n" + c.text))
        conn.executemany(f"INSERT INTO {p}chunks VALUES ({', '.join('?' * 11)})", rows)
        conn.executemany(
            f"INSERT INTO {p}chunk_bits(rowid, kb_id, bits) "
            "VALUES (?, ?, vec_quantize_binary(vec_f32(?)))",
            bits,
        )
        conn.executemany(f"INSERT INTO {p}chunk_fts(rowid, text) VALUES (?, ?)", texts)

    async def delete_document(self, kb_id: str, doc_id: str) -> bool:
        """See `VectorStore.delete_document`."""

        def delete(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                found = self._delete(conn, kb_id, doc_id) > 0
                conn.execute("COMMIT")
                return found
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        return await self._run(delete)

    async def _vector_ranking(
        self, kb_ids: Sequence[str], vector: Sequence[float], limit: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        p, blob, kbs = self._p, _blob(vector), ", ".join("?" * len(kb_ids))
        where, params = _filter_sql(filters)

        def exact(conn: sqlite3.Connection) -> list[tuple[int, float]]:
            rows = conn.execute(
                f"SELECT c.id, 1 - vec_distance_cosine(c.embedding, ?) AS score "
                f"FROM {p}chunks c WHERE c.kb_id IN ({kbs}){where} "
                "ORDER BY score DESC, c.id LIMIT ?",
                [blob, *kb_ids, *params, limit],
            )
            return [(int(i), float(s)) for i, s in rows]

        def quantized(conn: sqlite3.Connection) -> list[tuple[int, float]]:
            candidates = conn.execute(
                f"SELECT rowid FROM {p}chunk_bits WHERE bits MATCH vec_quantize_binary(vec_f32(?))"
                f" AND k = ? AND kb_id IN ({kbs})",
                [blob, limit * _OVERSAMPLE, *kb_ids],
            ).fetchall()
            if not candidates:
                return []
            marks = ", ".join("?" * len(candidates))
            rows = conn.execute(
                f"SELECT id, 1 - vec_distance_cosine(embedding, ?) AS score FROM {p}chunks "
                f"WHERE id IN ({marks}) ORDER BY score DESC, id LIMIT ?",
                [blob, *(c[0] for c in candidates), limit],
            )
            return [(int(i), float(s)) for i, s in rows]

        return await self._run(exact if filters else quantized)

    async def _text_ranking(
        self, kb_ids: Sequence[str], terms: list[str], limit: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        p, kbs = self._p, ", ".join("?" * len(kb_ids))
        where, params = _filter_sql(filters)
        match = " OR ".join(f'"{t}"' for t in terms)

        def rank(conn: sqlite3.Connection) -> list[tuple[int, float]]:
            # Materialise the FTS matches first: joined directly, SQLite probes the FTS index
            # once per chunk row (minutes at 100k chunks).
            rows = conn.execute(
                f"WITH m AS MATERIALIZED (SELECT rowid AS id, -rank AS score FROM {p}chunk_fts "
                f"WHERE {p}chunk_fts MATCH ?) SELECT c.id, m.score FROM m "
                f"JOIN {p}chunks c ON c.id = m.id WHERE c.kb_id IN ({kbs}){where} "
                "ORDER BY m.score DESC, c.id LIMIT ?",
                [match, *kb_ids, *params, limit],
            )
            return [(int(i), float(s)) for i, s in rows]

        return await self._run(rank)

    async def _hits(self, scored: Sequence[tuple[int, float]]) -> list[SearchHit]:
        p, marks = self._p, ", ".join("?" * len(scored))

        def read(conn: sqlite3.Connection) -> dict[int, tuple[Any, ...]]:
            rows = conn.execute(
                f"SELECT c.id, c.kb_id, c.doc_id, d.title, c.text, c.position, c.heading, c.page,"
                f" c.start_offset, c.end_offset, d.metadata FROM {p}chunks c "
                f"JOIN {p}documents d ON d.kb_id = c.kb_id AND d.doc_id = c.doc_id "
                f"WHERE c.id IN ({marks})",
                [i for i, _ in scored],
            )
            return {int(row[0]): tuple(row) for row in rows}

        rows = await self._run(read)
        return [
            SearchHit(
                kb_id=r[1],
                document_id=r[2],
                title=r[3],
                text=r[4],
                score=score,
                position=r[5],
                heading_path=json.loads(r[6]),
                page=r[7],
                start=r[8],
                end=r[9],
                metadata=json.loads(r[10]),
            )
            for chunk_id, score in scored
            if (r := rows.get(chunk_id)) is not None
        ]

    async def close(self) -> None:
        """See `VectorStore.close`."""
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                await asyncio.to_thread(conn.close)
