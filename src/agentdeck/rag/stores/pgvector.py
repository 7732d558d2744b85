"""`VectorStore` on PostgreSQL: pgvector (HNSW, cosine) for vectors, tsvector (GIN) for text.

Talks to PostgreSQL through an asyncpg pool of its own (no ORM). Vectors travel in pgvector's
binary format, chunks are written with COPY. Filtered vector search uses pgvector's iterative
HNSW scan so a selective kb or metadata filter still returns `top_k` rows.
"""

# SQL text is built only from the validated table prefix and placeholders; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import json
import struct
from collections.abc import Sequence
from typing import Any

import asyncpg
import numpy as np

from agentdeck.rag.errors import StoreError
from agentdeck.rag.stores.base import RankedStore, check_filters
from agentdeck.rag.types import DocumentInfo, EmbeddedChunk, Filters, SearchHit

_COLUMNS = (
    "kb_id", "doc_id", "position", "text", "heading", "heading_text", "page",
    "start_offset", "end_offset", "metadata", "embedding",
)  # fmt: skip


def _encode_vector(vector: Sequence[float]) -> bytes:
    array = np.asarray(vector, dtype=">f4")
    return struct.pack(">HH", array.shape[0], 0) + array.tobytes()


def _decode_vector(data: bytes) -> list[float]:
    (dim, _) = struct.unpack_from(">HH", data)
    values: list[float] = np.frombuffer(data, dtype=">f4", count=dim, offset=4).tolist()
    return values


async def _register_vector(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "vector", encoder=_encode_vector, decoder=_decode_vector, schema="public", format="binary"
    )


def _filter_sql(filters: Filters | None, first: int) -> tuple[str, list[str]]:
    """``AND ...`` jsonb-containment clauses over `c.metadata`, parameters from ``$first``."""
    sql, params = "", []
    for key, values in check_filters(filters):
        ors = []
        for value in values:
            params.append(json.dumps({key: value}))
            ors.append(f"c.metadata @> ${first + len(params) - 1}::jsonb")
        sql += f" AND ({' OR '.join(ors)})"
    return sql, params


class PgVectorStore(RankedStore):
    """pgvector + full-text store. `dsn` is a libpq URL (``postgresql+asyncpg://`` accepted)."""

    def __init__(
        self, dsn: str, dim: int, *, prefix: str = "rag_", min_size: int = 1, max_size: int = 4
    ) -> None:
        if not prefix.replace("_", "").isalnum():
            raise StoreError("The table prefix must be alphanumeric.")
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.dim = dim
        self._p = prefix
        self._sizes = (min_size, max_size)
        self._pool: asyncpg.Pool | None = None

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            # The codec needs the type: create the extension before any pooled connection.
            conn = await asyncpg.connect(self.dsn)
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            finally:
                await conn.close()
            self._pool = await asyncpg.create_pool(
                self.dsn, min_size=self._sizes[0], max_size=self._sizes[1], init=_register_vector
            )
        return self._pool

    async def ensure_schema(self) -> None:
        """See `VectorStore.ensure_schema`; also creates the HNSW and GIN indexes."""
        p = self._p
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{p}schema")
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {p}documents (
                    kb_id text NOT NULL, doc_id text NOT NULL, version text NOT NULL,
                    title text NOT NULL, metadata jsonb NOT NULL, PRIMARY KEY (kb_id, doc_id));
                CREATE TABLE IF NOT EXISTS {p}chunks (
                    id bigserial PRIMARY KEY, kb_id text NOT NULL, doc_id text NOT NULL,
                    position integer NOT NULL, text text NOT NULL, heading text[] NOT NULL,
                    heading_text text NOT NULL, page integer, start_offset integer NOT NULL,
                    end_offset integer NOT NULL, metadata jsonb NOT NULL,
                    embedding vector({self.dim}) NOT NULL,
                    tsv tsvector GENERATED ALWAYS AS
                        (to_tsvector('english'::regconfig, heading_text || ' ' || text)) STORED,
                    FOREIGN KEY (kb_id, doc_id) REFERENCES {p}documents ON DELETE CASCADE);
                CREATE INDEX IF NOT EXISTS {p}chunks_doc ON {p}chunks (kb_id, doc_id);
                CREATE INDEX IF NOT EXISTS {p}chunks_tsv ON {p}chunks USING gin (tsv);
                CREATE INDEX IF NOT EXISTS {p}chunks_meta
                    ON {p}chunks USING gin (metadata jsonb_path_ops);
            """)
        await self.create_vector_index()

    async def create_vector_index(self) -> None:
        """Build the HNSW index (m=16, ef_construction=64) if missing. Slow on large tables:
        bulk loads are faster with `drop_vector_index` first."""
        pool = await self._get_pool()
        await pool.execute(
            f"CREATE INDEX IF NOT EXISTS {self._p}chunks_hnsw ON {self._p}chunks "
            "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        )

    async def drop_vector_index(self) -> None:
        """Drop the HNSW index (vector search then scans exactly)."""
        pool = await self._get_pool()
        await pool.execute(f"DROP INDEX IF EXISTS {self._p}chunks_hnsw")

    async def document_version(self, kb_id: str, doc_id: str) -> str | None:
        """See `VectorStore.document_version`."""
        pool = await self._get_pool()
        version = await pool.fetchval(
            f"SELECT version FROM {self._p}documents WHERE kb_id=$1 AND doc_id=$2", kb_id, doc_id
        )
        return None if version is None else str(version)

    async def upsert(
        self, kb_id: str, document: DocumentInfo, chunks: Sequence[EmbeddedChunk]
    ) -> bool:
        """See `VectorStore.upsert`. Concurrent upserts of one document are serialised."""
        for item in chunks:
            if len(item.vector) != self.dim:
                raise StoreError(f"A chunk vector has {len(item.vector)} dims, not {self.dim}.")
        p, metadata = self._p, json.dumps(dict(document.metadata), sort_keys=True)
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext($1))", f"{p}{kb_id}/{document.doc_id}"
            )
            stored = await conn.fetchval(
                f"SELECT version FROM {p}documents WHERE kb_id=$1 AND doc_id=$2",
                kb_id, document.doc_id,
            )  # fmt: skip
            if stored == document.version:
                return False
            await conn.execute(
                f"DELETE FROM {p}documents WHERE kb_id=$1 AND doc_id=$2", kb_id, document.doc_id
            )
            await conn.execute(
                f"INSERT INTO {p}documents VALUES ($1, $2, $3, $4, $5::jsonb)",
                kb_id, document.doc_id, document.version, document.title, metadata,
            )  # fmt: skip
            records = [
                (kb_id, document.doc_id, c.position, c.text, list(c.heading_path),
                 " ".join(c.heading_path), c.page, c.start, c.end, metadata, item.vector)
                for item in chunks
                for c in (item.chunk,)
            ]  # fmt: skip
            await conn.copy_records_to_table(f"{p}chunks", records=records, columns=_COLUMNS)
        return True

    async def delete_document(self, kb_id: str, doc_id: str) -> bool:
        """See `VectorStore.delete_document`."""
        pool = await self._get_pool()
        status = await pool.execute(
            f"DELETE FROM {self._p}documents WHERE kb_id=$1 AND doc_id=$2", kb_id, doc_id
        )
        return bool(status != "DELETE 0")

    async def _vector_ranking(
        self, kb_ids: Sequence[str], vector: Sequence[float], limit: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        where, params = _filter_sql(filters, 4)
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SET LOCAL hnsw.iterative_scan = relaxed_order")
            await conn.execute(f"SET LOCAL hnsw.ef_search = {min(max(limit * 2, 40), 1000)}")
            rows = await conn.fetch(
                f"SELECT c.id, 1 - (c.embedding <=> $1) AS score FROM {self._p}chunks c "
                f"WHERE c.kb_id = ANY($2::text[]){where} ORDER BY c.embedding <=> $1 LIMIT $3",
                vector, list(kb_ids), limit, *params,
            )  # fmt: skip
        scored = [(int(r["id"]), float(r["score"])) for r in rows]
        return sorted(scored, key=lambda pair: (-pair[1], pair[0]))

    async def _text_ranking(
        self, kb_ids: Sequence[str], terms: list[str], limit: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        where, params = _filter_sql(filters, 4)
        pool = await self._get_pool()
        rows = await pool.fetch(
            f"SELECT c.id, ts_rank_cd(c.tsv, q) AS score "
            f"FROM {self._p}chunks c, to_tsquery('english', $1) q "
            f"WHERE c.tsv @@ q AND c.kb_id = ANY($2::text[]){where} "
            "ORDER BY score DESC, c.id LIMIT $3",
            " | ".join(terms), list(kb_ids), limit, *params,
        )  # fmt: skip
        return [(int(r["id"]), float(r["score"])) for r in rows]

    async def _hits(self, scored: Sequence[tuple[int, float]]) -> list[SearchHit]:
        pool = await self._get_pool()
        rows = await pool.fetch(
            f"SELECT c.id, c.kb_id, c.doc_id, d.title, c.text, c.position, c.heading, c.page,"
            f" c.start_offset, c.end_offset, d.metadata FROM {self._p}chunks c "
            f"JOIN {self._p}documents d USING (kb_id, doc_id) WHERE c.id = ANY($1::bigint[])",
            [i for i, _ in scored],
        )
        by_id: dict[int, Any] = {int(r["id"]): r for r in rows}
        return [
            SearchHit(
                kb_id=r["kb_id"],
                document_id=r["doc_id"],
                title=r["title"],
                text=r["text"],
                score=score,
                position=r["position"],
                heading_path=list(r["heading"]),
                page=r["page"],
                start=r["start_offset"],
                end=r["end_offset"],
                metadata=json.loads(r["metadata"]),
            )
            for chunk_id, score in scored
            if (r := by_id.get(chunk_id)) is not None
        ]

    async def close(self) -> None:
        """See `VectorStore.close`."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()
