"""`VectorStore` on SQLite: sqlite-vec for vectors, FTS5 (porter stemming) for text.

Layout (``meta.layout`` = 2): `chunks` holds text, metadata and the float vector; an FTS5
table holds the text plus a kb token column, so the text index itself restricts a search to
its knowledge bases; `kb_state` counts writes per kb.

- Vector search takes candidates from an in-process binary index per kb (`BitIndex`: sign bits
  around the kb's mean, Hamming distance in numpy), refreshed from `kb_state` before each
  search, and rescores the best few hundred with sqlite-vec's exact float cosine: near-exact
  and a few ms at 100k chunks, ~56 bytes of memory per chunk. (sqlite-vec's vec0 KNN index
  costs grow with k: ~23 ms for the 1,280 candidates a good recall needs.) Metadata filters
  restrict the candidates to the filtered chunks, rescored exactly when at most `exact_rows`.
- Full-text search ranks with bm25, but only over the query's selective terms: a term found in
  at least `common_df` of the searched chunks acts as a stop word (its bm25 weight is tiny and
  ranking every chunk that holds it is what makes a naive query slow). A query of only common
  terms requires all of them instead, ranking only the first `text_budget` chunks that hold
  them all.

Connections are used from worker threads under a lock, so the event loop never blocks: one for
writes and vector search, one for full-text ranking (hybrid runs both rankings in parallel). A store
file of the older layout (no kb column in FTS) is rebuilt in place by `ensure_schema`.
"""

# SQL text is built only from the validated table prefix and placeholders; values are bound.
# ruff: noqa: S608

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from agentdeck.rag._sqlite import connect
from agentdeck.rag.errors import StoreError
from agentdeck.rag.stores._bitindex import BitIndex
from agentdeck.rag.stores.base import RankedStore, check_filters
from agentdeck.rag.types import DocumentInfo, EmbeddedChunk, Filters, SearchHit

T = TypeVar("T")
_LAYOUT = "2"


def _blob(vector: Sequence[float]) -> bytes:
    return np.asarray(vector, dtype=np.float32).tobytes()


def kb_token(kb_id: str) -> str:
    """The FTS token standing for a kb id: letters and digits only, ending in a digit so the
    porter stemmer leaves it alone."""
    digest = hashlib.blake2b(kb_id.encode(), digest_size=8).digest()
    return f"kb{int.from_bytes(digest, 'big')}"


def _filter_sql(filters: Filters | None, alias: str = "c") -> tuple[str, list[Any]]:
    """``AND ...`` clauses over `alias.metadata` with their parameters (keys are bound too)."""
    sql, params = "", list[Any]()
    for key, values in check_filters(filters):
        marks = ", ".join("?" for _ in values)
        sql += f" AND json_extract({alias}.metadata, ?) IN ({marks})"
        params.append(f'$."{key}"')
        params.extend(int(v) if isinstance(v, bool) else v for v in values)
    return sql, params


def _fts_text(heading_path: Sequence[str], text: str) -> str:
    return " ".join(heading_path) + "\n" + text


class SqliteVecStore(RankedStore):
    """SQLite + sqlite-vec + FTS5 store in one database file (or ``":memory:"``).

    Tuning (optional): vector search rescores max(`oversample` x wanted, `candidates`)
    bit-index candidates per kb; filtered vector searches over at most `exact_rows` chunks
    rescore them all; a term in at least `common_df`
    searched chunks is treated as a stop word by full-text search, whose OR query ranks at
    most about `text_budget` chunks.
    """

    def __init__(
        self,
        path: str | Path,
        dim: int,
        *,
        prefix: str = "rag_",
        oversample: int = 16,
        candidates: int = 640,
        exact_rows: int = 2000,
        common_df: int = 1000,
        text_budget: int = 2000,
    ) -> None:
        if not prefix.replace("_", "").isalnum():
            raise StoreError("The table prefix must be alphanumeric.")
        self.path = path
        self.dim = dim
        self.oversample = oversample
        self.candidates = candidates
        self._indexes: dict[str, BitIndex] = {}
        self.exact_rows = exact_rows
        self.common_df = common_df
        self.text_budget = text_budget
        self._p = prefix
        self._conn: sqlite3.Connection | None = None
        self._lock = asyncio.Lock()
        # A second connection for full-text ranking, so hybrid search runs its two rankings
        # in parallel threads (WAL readers do not block each other). Not for ":memory:",
        # where a second connection would open another, empty database.
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = asyncio.Lock() if str(path) != ":memory:" else self._lock

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        async with self._lock:
            if self._conn is None:
                self._conn = await asyncio.to_thread(connect, self.path)
            return await asyncio.to_thread(work, self._conn)

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`_run` on the reader connection (the main one for ``":memory:"``)."""
        if self._reader_lock is self._lock:
            return await self._run(work)
        async with self._reader_lock:
            if self._reader is None:
                self._reader = await asyncio.to_thread(connect, self.path)
            return await asyncio.to_thread(work, self._reader)

    async def ensure_schema(self) -> None:
        """See `VectorStore.ensure_schema`. Raises `StoreError` if the file holds another dim.

        Rebuilds the FTS index of a store written by the previous layout."""
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
                CREATE TABLE IF NOT EXISTS {p}kb_state (kb_id TEXT PRIMARY KEY,
                    changes INTEGER NOT NULL, deletions INTEGER NOT NULL);
            """)
            conn.execute(f"INSERT OR IGNORE INTO {p}meta VALUES ('dim', ?)", (str(self.dim),))
            (stored,) = conn.execute(f"SELECT value FROM {p}meta WHERE key='dim'").fetchone()
            if int(stored) != self.dim:
                raise StoreError(f"The store holds {stored}-dim vectors, not {self.dim}.")
            layout = conn.execute(f"SELECT value FROM {p}meta WHERE key='layout'").fetchone()
            if layout is None or layout[0] != _LAYOUT:
                self._build_fts(conn)

        await self._run(create)

    def _build_fts(self, conn: sqlite3.Connection) -> None:
        """(Re)create the FTS index with its kb column and fill it from `chunks`."""
        p = self._p
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(f"DROP TABLE IF EXISTS {p}chunk_fts")
            conn.execute(f"DROP TABLE IF EXISTS {p}chunk_bits")  # layout 1's vec0 index
            conn.execute(
                f"CREATE VIRTUAL TABLE {p}chunk_fts "
                "USING fts5(text, kb, tokenize='porter unicode61')"
            )
            # Rank by bm25 over the text column only; the kb column just restricts.
            conn.execute(f"INSERT INTO {p}chunk_fts({p}chunk_fts, rank) VALUES ('rank', ?)",
                         ("bm25(1.0, 0.0)",))  # fmt: skip
            rows = conn.execute(f"SELECT id, kb_id, heading, text FROM {p}chunks")
            conn.executemany(
                f"INSERT INTO {p}chunk_fts(rowid, text, kb) VALUES (?, ?, ?)",
                ((i, _fts_text(json.loads(h), t), kb_token(k)) for i, k, h, t in rows),
            )
            conn.execute(f"INSERT OR REPLACE INTO {p}meta VALUES ('layout', ?)", (_LAYOUT,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

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
        conn.executemany(f"DELETE FROM {p}chunk_fts WHERE rowid=?", ids)
        self._changed(conn, kb_id, deleted=bool(ids))
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
                self._delete(conn, kb_id, document.doc_id)  # also counts the write in kb_state
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
        p, token = self._p, kb_token(kb_id)
        (next_id,) = conn.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {p}chunks").fetchone()
        rows, texts = [], []
        for offset, item in enumerate(chunks):
            c, blob, chunk_id = item.chunk, _blob(item.vector), next_id + offset
            heading = json.dumps(c.heading_path)
            rows.append(
                (chunk_id, kb_id, doc_id, c.position, c.text, heading, c.page, c.start, c.end,
                 metadata, blob)
            )  # fmt: skip
            texts.append((chunk_id, _fts_text(c.heading_path, c.text), token))
        conn.executemany(f"INSERT INTO {p}chunks VALUES ({', '.join('?' * 11)})", rows)
        conn.executemany(f"INSERT INTO {p}chunk_fts(rowid, text, kb) VALUES (?, ?, ?)", texts)

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

    def _changed(self, conn: sqlite3.Connection, kb_id: str, *, deleted: bool) -> None:
        """Count a write to `kb_id`, so every process's bit index of it refreshes."""
        conn.execute(
            f"INSERT INTO {self._p}kb_state VALUES (?, 1, ?) ON CONFLICT (kb_id) DO UPDATE "
            "SET changes = changes + 1, deletions = deletions + excluded.deletions",
            (kb_id, int(deleted)),
        )

    def _bit_indexes(self, conn: sqlite3.Connection, kb_ids: Sequence[str]) -> list[BitIndex]:
        """The up-to-date bit indexes of `kb_ids`: appends are read incrementally; a deletion,
        or a kb grown to twice the rows its mean was taken from, reloads the kb."""
        p, kbs = self._p, ", ".join("?" * len(kb_ids))
        states = {
            str(kb): (int(changes), int(deletions))
            for kb, changes, deletions in conn.execute(
                f"SELECT kb_id, changes, deletions FROM {p}kb_state WHERE kb_id IN ({kbs})",
                list(kb_ids),
            )
        }
        out = []
        for kb_id in kb_ids:
            changes, deletions = states.get(kb_id, (0, 0))
            index = self._indexes.get(kb_id)
            if index is None:
                index = self._indexes[kb_id] = BitIndex(self.dim)
            if (index.changes, index.deletions) != (changes, deletions):
                if index.deletions != deletions:
                    index.reset()
                select = (
                    f"SELECT id, embedding FROM {p}chunks WHERE kb_id = ? AND id > ? ORDER BY id"
                )
                index.add(conn.execute(select, (kb_id, index.max_id)))
                if len(index) >= 2 * index.mean_rows:  # re-centre on the grown kb
                    index.reset()
                    index.add(conn.execute(select, (kb_id, 0)))
                index.changes, index.deletions = changes, deletions
            out.append(index)
        return out

    async def _vector_ranking(
        self, kb_ids: Sequence[str], vector: Sequence[float], limit: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        query = np.asarray(vector, dtype=np.float32)
        p, kbs = self._p, ", ".join("?" * len(kb_ids))
        where, params = _filter_sql(filters, "d")

        def rank(conn: sqlite3.Connection) -> list[tuple[int, float]]:
            conn.execute("BEGIN")  # one snapshot for the index refresh and the rescoring
            try:
                allowed: np.ndarray | None = None
                if filters:
                    allowed = np.fromiter(
                        (row[0] for row in conn.execute(
                            f"SELECT c.id FROM {p}documents d JOIN {p}chunks c ON c.kb_id = "
                            f"d.kb_id AND c.doc_id = d.doc_id WHERE d.kb_id IN ({kbs}){where}",
                            [*kb_ids, *params],
                        )),
                        dtype=np.int64,
                    )  # fmt: skip
                if allowed is not None and allowed.shape[0] <= self.exact_rows:
                    candidates = allowed  # few: rescore them all, exactly
                else:
                    k = max(limit * self.oversample, self.candidates)
                    candidates = np.concatenate(
                        [ix.candidates(query, k, allowed) for ix in self._bit_indexes(conn, kb_ids)]
                    )
                if not candidates.shape[0]:
                    return []
                rows = conn.execute(
                    f"SELECT id, 1 - vec_distance_cosine(embedding, ?) AS score FROM {p}chunks "
                    f"WHERE id IN (SELECT value FROM json_each(?)) AND kb_id IN ({kbs}) "
                    "ORDER BY score DESC, id LIMIT ?",
                    [query.tobytes(), json.dumps(candidates.tolist()), *kb_ids, limit],
                )
                return [(int(i), float(s)) for i, s in rows]
            finally:
                conn.execute("COMMIT")

        return await self._run(rank)

    def _text_query(
        self, conn: sqlite3.Connection, scope: str, terms: list[str]
    ) -> tuple[str, bool] | None:
        """The FTS5 query for `terms` within `scope`, common terms dropped (see the module),
        and whether it has only common terms (then only `text_budget` matches are ranked)."""
        p, cap = self._p, self.common_df
        counts = ", ".join(
            f"(SELECT count(*) FROM (SELECT 1 FROM {p}chunk_fts WHERE {p}chunk_fts MATCH ? "
            "LIMIT ?))"
            for _ in terms
        )
        params: list[Any] = []
        for term in terms:
            params += [f'{scope} AND text : "{term}"', cap]
        dfs = conn.execute(f"SELECT {counts}", params).fetchone()
        present = sorted((int(df), term) for df, term in zip(dfs, terms, strict=True) if df)
        if not present:
            return None
        selective = [(df, term) for df, term in present if df < cap]
        if not selective:
            quoted = [f'"{term}"' for _, term in present]
            return f"{scope} AND text : ({' AND '.join(quoted)})", True
        chosen: list[str] = []
        total = 0
        for df, term in selective:
            if chosen and total + df > self.text_budget:
                break
            chosen.append(f'"{term}"')
            total += df
        return f"{scope} AND text : ({' OR '.join(chosen)})", False

    async def _text_ranking(
        self, kb_ids: Sequence[str], terms: list[str], limit: int, filters: Filters | None
    ) -> list[tuple[int, float]]:
        p, kbs = self._p, ", ".join("?" * len(kb_ids))
        where, params = _filter_sql(filters)
        scope = f"kb : ({' OR '.join(kb_token(k) for k in kb_ids)})"

        def rank(conn: sqlite3.Connection) -> list[tuple[int, float]]:
            query = self._text_query(conn, scope, terms)
            if query is None:
                return []
            match, common_only = query
            # Materialise the FTS matches first: joined directly, SQLite probes the FTS index
            # once per chunk row. The kb check on `chunks` backs up the kb token. Without
            # ORDER BY rank, bm25 runs only for the rows read (the first `text_budget`).
            if common_only:
                inner, inner_limit = " LIMIT ?", [self.text_budget]
            elif where:
                inner, inner_limit = "", []
            else:
                inner, inner_limit = " ORDER BY rank LIMIT ?", [limit]
            rows = conn.execute(
                f"WITH m AS MATERIALIZED (SELECT rowid AS id, -rank AS score FROM {p}chunk_fts "
                f"WHERE {p}chunk_fts MATCH ?{inner}) "
                f"SELECT c.id, m.score FROM m JOIN {p}chunks c ON c.id = m.id "
                f"WHERE c.kb_id IN ({kbs}){where} ORDER BY m.score DESC, c.id LIMIT ?",
                [match, *inner_limit, *kb_ids, *params, limit],
            )
            return [(int(i), float(s)) for i, s in rows]

        return await self._read(rank)

    async def _hits(
        self, scored: Sequence[tuple[int, float]], kb_ids: Sequence[str]
    ) -> list[SearchHit]:
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
        async with self._reader_lock:
            if self._reader is not None:
                reader, self._reader = self._reader, None
                await asyncio.to_thread(reader.close)
