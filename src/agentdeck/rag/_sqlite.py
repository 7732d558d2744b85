"""The one place that decides which SQLite driver the RAG store uses.

sqlite-vec is a loadable extension. Some Python builds (pyenv without
``--enable-loadable-sqlite-extensions``, as on our machines) ship a `sqlite3` module that
cannot load extensions; there `pysqlite3-binary` (a newer SQLite, extensions allowed) is used
instead. A Python whose `sqlite3` can load extensions keeps the standard module.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from types import ModuleType
from typing import cast

from agentdeck.rag.errors import StoreError


def sqlite_module() -> ModuleType:
    """The DB-API module to use: stdlib `sqlite3` if it can load extensions, else pysqlite3."""
    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        import pysqlite3.dbapi2 as pysqlite3
    except ImportError as exc:
        raise StoreError(
            "This Python's sqlite3 cannot load extensions; install pysqlite3-binary."
        ) from exc
    return cast(ModuleType, pysqlite3)


def connect(path: str | Path) -> sqlite3.Connection:
    """Open `path` (or ``":memory:"``) with sqlite-vec loaded, WAL, synchronous=NORMAL and
    memory-mapped reads.

    The connection may be used from any thread (callers serialise access). Raises
    `StoreError` when no available driver can load sqlite-vec.
    """
    import sqlite_vec

    module = sqlite_module()
    conn = cast(
        sqlite3.Connection,
        module.connect(str(path), check_same_thread=False, isolation_level=None),
    )
    try:
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
    except Exception as exc:
        conn.close()
        raise StoreError(f"sqlite-vec could not be loaded: {exc}") from exc
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA mmap_size=1073741824")  # reads without a syscall per page
    conn.execute("PRAGMA foreign_keys=ON")
    return conn
