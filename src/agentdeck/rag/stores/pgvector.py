"""`VectorStore` on PostgreSQL: pgvector (HNSW, cosine) for vectors, tsvector (GIN) for text.

Talks to PostgreSQL through an asyncpg pool of its own (no ORM). Vectors travel in pgvector's
binary format, chunks are written with COPY. Hybrid search runs its vector and text queries
concurrently on two pooled connections.

- Vector search walks the HNSW index with pgvector's iterative scan (session settings of the
  pool's connections, so a search is one statement), which keeps going until `top_k` rows pass
  the kb and metadata filters; when the scan gives up before that (a tiny kb in a big table),
  the search is repeated exactly over the filtered rows.
- Full-text search ranks with `ts_rank_cd`, but only over the query's selective lexemes:
  those the planner statistics (`pg_stats` of the tsv and kb_id columns, kept by autovacuum's
  ANALYZE) put in at least `common_df` chunks of the searched kbs act as stop words, since
  ranking every chunk that holds a common word is what makes a naive query slow. A query of
  only common lexemes requires all of them, ranking only the first `text_budget` chunks that
  hold them all.
"""

# SQL text is built only from the validated table prefix and placeholders; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import json
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
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


_STATS_TTL = 60.0


@dataclass
class _Table:
    """Planner statistics of one chunks table (or partition): its row count, the share of its
    rows holding each common lexeme and the share of its rows in each common kb."""

    rows: float
    lexemes: dict[str, float]
    kbs: dict[str, float]


@dataclass
class _Stats:
    at: float
    tables: list[_Table]


class PgVectorStore(RankedStore):
    """pgvector + full-text store. `dsn` is a libpq URL (``postgresql+asyncpg://`` accepted).

    Tuning (optional): a lexeme in at least `common_df` chunks is a stop word for full-text
    search, whose OR query ranks at most about `text_budget` chunks. A new chunks table is
    hash-partitioned by kb id into `partitions` tables (1: not partitioned), each with its own
    HNSW and GIN index, so a search reads only the indexes of its kbs' partitions (an existing
    table keeps its layout). `ef_search`: the HNSW candidate list (recall against speed).
    """

    def __init__(
        self,
        dsn: str,
        dim: int,
        *,
        prefix: str = "rag_",
        min_size: int = 1,
        max_size: int = 4,
        common_df: int = 500,
        text_budget: int = 1000,
        partitions: int = 16,
        ef_search: int = 200,
    ) -> None:
        if not prefix.replace("_", "").isalnum():
            raise StoreError("The table prefix must be alphanumeric.")
        if not 1 <= partitions <= 1024:
            raise StoreError("partitions must be between 1 and 1024.")
        self.dsn = dsn.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.dim = dim
        self.common_df = common_df
        self.text_budget = text_budget
        self.partitions = partitions
        self.ef_search = ef_search
        self._p = prefix
        self._sizes = (min_size, max_size)
        self._pool: asyncpg.Pool | None = None
        self._stats = _Stats(-_STATS_TTL, [])
        self._lexemes: dict[str, list[str]] = {}

    async def _get_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            # The codec needs the type: create the extension before any pooled connection.
            conn = await asyncpg.connect(self.dsn)
            try:
                await conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            finally:
                await conn.close()
            self._pool = await asyncpg.create_pool(
                self.dsn,
                min_size=self._sizes[0],
                max_size=self._sizes[1],
                init=_register_vector,
                # Session defaults (they survive the pool's RESET ALL between uses).
                server_settings={
                    "hnsw.iterative_scan": "relaxed_order",
                    "hnsw.ef_search": str(self.ef_search),
                    # Plan every search for its own values: a generic plan cannot tell a
                    # rare lexeme from a common one or prune partitions at plan time.
                    "plan_cache_mode": "force_custom_plan",
                },
            )
        return self._pool

    async def ensure_schema(self) -> None:
        """See `VectorStore.ensure_schema`; also creates the HNSW and GIN indexes."""
        p, n = self._p, self.partitions
        partitioned = "PARTITION BY HASH (kb_id)" if n > 1 else ""
        pool = await self._get_pool()
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"{p}schema")
            new = await conn.fetchval("SELECT to_regclass($1) IS NULL", f"{p}chunks")
            await conn.execute(f"""
                CREATE TABLE IF NOT EXISTS {p}documents (
                    kb_id text NOT NULL, doc_id text NOT NULL, version text NOT NULL,
                    title text NOT NULL, metadata jsonb NOT NULL, PRIMARY KEY (kb_id, doc_id));
                CREATE TABLE IF NOT EXISTS {p}chunks (
                    id bigserial, kb_id text NOT NULL, doc_id text NOT NULL,
                    position integer NOT NULL, text text NOT NULL, heading text[] NOT NULL,
                    heading_text text NOT NULL, page integer, start_offset integer NOT NULL,
                    end_offset integer NOT NULL, metadata jsonb NOT NULL,
                    embedding vector({self.dim}) NOT NULL,
                    tsv tsvector GENERATED ALWAYS AS
                        (to_tsvector('english'::regconfig, heading_text || ' ' || text)) STORED,
                    PRIMARY KEY (kb_id, id),
                    FOREIGN KEY (kb_id, doc_id) REFERENCES {p}documents ON DELETE CASCADE)
                    {partitioned};
                CREATE INDEX IF NOT EXISTS {p}chunks_doc ON {p}chunks (kb_id, doc_id);
                CREATE INDEX IF NOT EXISTS {p}chunks_id ON {p}chunks (id);
                CREATE INDEX IF NOT EXISTS {p}chunks_tsv ON {p}chunks USING gin (tsv);
                CREATE INDEX IF NOT EXISTS {p}chunks_meta
                    ON {p}chunks USING gin (metadata jsonb_path_ops);
            """)
            if new and n > 1:
                for i in range(n):
                    await conn.execute(
                        f"CREATE TABLE {p}chunks_{i} PARTITION OF {p}chunks "
                        f"FOR VALUES WITH (MODULUS {n}, REMAINDER {i})"
                    )
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

    async def analyze(self, *, vacuum: bool = False) -> None:
        """Refresh the planner statistics (autovacuum does this after large changes); the
        full-text search reads its term frequencies from them. `vacuum` also vacuums, as
        autovacuum does after a bulk load (sets the visibility map, settles the indexes)."""
        pool = await self._get_pool()
        await pool.execute(f"{'VACUUM ' if vacuum else ''}ANALYZE {self._p}chunks")
        self._stats = _Stats(-_STATS_TTL, [])

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
        sql = (
            f"SELECT c.id, 1 - (c.embedding <=> $1) AS score FROM {self._p}chunks c "
            f"WHERE c.kb_id = ANY($2::text[]){where} ORDER BY c.embedding <=> $1 LIMIT $3"
        )
        args = (vector, list(kb_ids), limit, *params)
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            if limit <= self.ef_search:
                rows = await conn.fetch(sql, *args)
            else:
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL hnsw.ef_search = {min(limit, 1000)}")
                    rows = await conn.fetch(sql, *args)
            if len(rows) < limit:
                # The index scan stopped early (hnsw.max_scan_tuples) or the filtered rows
                # are fewer than `limit`: an exact scan over the filtered rows is cheap then.
                async with conn.transaction():
                    await conn.execute("SET LOCAL enable_indexscan = off")
                    rows = await conn.fetch(sql, *args)
        scored = [(int(r["id"]), float(r["score"])) for r in rows]
        return sorted(scored, key=lambda pair: (-pair[1], pair[0]))

    async def _term_stats(self, conn: asyncpg.Connection) -> _Stats:
        """Statistics of the chunks table's partitions (or of the table), cached a minute."""
        if time.monotonic() - self._stats.at < _STATS_TTL:
            return self._stats
        records = await conn.fetch(
            "SELECT c.reltuples AS n, t.most_common_elems::text::text[] AS elems,"
            " t.most_common_elem_freqs AS ef, k.most_common_vals::text::text[] AS kbs,"
            " k.most_common_freqs AS kf FROM pg_class c JOIN pg_namespace s ON s.oid ="
            " c.relnamespace LEFT JOIN pg_stats t ON t.schemaname = s.nspname AND t.tablename ="
            " c.relname AND t.attname = 'tsv' AND NOT t.inherited LEFT JOIN pg_stats k ON"
            " k.schemaname = s.nspname AND k.tablename = c.relname AND k.attname = 'kb_id' AND"
            " NOT k.inherited WHERE c.relkind = 'r' AND (c.oid = to_regclass($1) OR c.oid IN"
            " (SELECT inhrelid FROM pg_inherits WHERE inhparent = to_regclass($1)))",
            f"{self._p}chunks",
        )
        tables = [
            _Table(
                max(float(r["n"]), 0.0),
                dict(zip(r["elems"], r["ef"], strict=False)),
                dict(zip(r["kbs"], r["kf"], strict=False)),
            )
            for r in records
            if r["elems"] is not None and r["kbs"] is not None
        ]
        self._stats = _Stats(time.monotonic(), tables)
        return self._stats

    async def _text_query(
        self, conn: asyncpg.Connection, kb_ids: Sequence[str], terms: list[str]
    ) -> tuple[str, bool] | None:
        """The tsquery text for `terms`, common lexemes dropped (see the module), and whether
        it has only common lexemes (then only `text_budget` matches are ranked).

        A lexeme's count in the searched kbs is estimated, per partition, as its share of the
        partition's chunks times the kbs' chunks there; kbs too small to be among the
        statistics' common values count as empty, so nothing is dropped for them."""
        missing = [t for t in terms if t not in self._lexemes]
        if missing:
            if len(self._lexemes) > 50_000:
                self._lexemes.clear()
            for record in await conn.fetch(
                "SELECT t, array(SELECT lexeme FROM unnest(to_tsvector('english', t))) AS l "
                "FROM unnest($1::text[]) AS t",
                missing,
            ):
                self._lexemes[record["t"]] = list(record["l"])
        lexemes = list(dict.fromkeys(x for t in terms for x in self._lexemes[t]))
        if not lexemes:
            return None
        stats = await self._term_stats(conn)
        shares = [(t, t.rows * sum(t.kbs.get(k, 0.0) for k in kb_ids)) for t in stats.tables]
        by_df = sorted(
            (sum(t.lexemes.get(x, 0.0) * rows for t, rows in shares if rows), x) for x in lexemes
        )
        selective = [(df, x) for df, x in by_df if df < self.common_df]
        quoted = [(df, "'" + x.replace("'", "''") + "'") for df, x in (selective or by_df)]
        if not selective:
            return " & ".join(q for _, q in quoted), True
        chosen: list[str] = []
        total = 0.0
        for df, q in quoted:
            if chosen and total + df > self.text_budget:
                break
            chosen.append(q)
            total += df
        return " | ".join(chosen), False

    async def _text_ranking(
        self, kb_ids: Sequence[str], terms: list[str], limit: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        where, params = _filter_sql(filters, 4)
        pool = await self._get_pool()
        async with pool.acquire() as conn:
            query = await self._text_query(conn, kb_ids, terms)
            if query is None:
                return []
            text, common_only = query
            # Only common lexemes: rank the first `text_budget` chunks holding them all.
            cap = f" LIMIT {int(self.text_budget)}" if common_only else ""
            rows = await conn.fetch(
                f"SELECT c.id, ts_rank_cd(c.tsv, q) AS score FROM (SELECT c.id, c.tsv "
                f"FROM {self._p}chunks c WHERE c.tsv @@ to_tsquery('simple', $1) AND "
                f"c.kb_id = ANY($2::text[]){where}{cap}) c, to_tsquery('simple', $1) q "
                "ORDER BY score DESC, c.id LIMIT $3",
                text, list(kb_ids), limit, *params,
            )  # fmt: skip
        return [(int(r["id"]), float(r["score"])) for r in rows]

    async def _hits(
        self, scored: Sequence[tuple[int, float]], kb_ids: Sequence[str]
    ) -> list[SearchHit]:
        pool = await self._get_pool()
        rows = await pool.fetch(
            f"SELECT c.id, c.kb_id, c.doc_id, d.title, c.text, c.position, c.heading, c.page,"
            f" c.start_offset, c.end_offset, d.metadata FROM {self._p}chunks c "
            f"JOIN {self._p}documents d USING (kb_id, doc_id) WHERE c.id = ANY($1::bigint[]) "
            "AND c.kb_id = ANY($2::text[])",  # prunes the partitions
            [i for i, _ in scored],
            list(kb_ids),
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
