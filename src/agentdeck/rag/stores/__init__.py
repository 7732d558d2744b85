"""Vector stores: one protocol (`VectorStore`), a SQLite and a PostgreSQL implementation.

Import the implementations from their modules (`stores.sqlite_vec`, `stores.pgvector`) so an
installation without one driver can still use the other.
"""

from __future__ import annotations

from agentdeck.rag.stores.base import VectorStore

__all__ = ["VectorStore"]
