"""The SQLite side of `SqlJournal`: short write transactions without an event-loop stall.

Why not SQLAlchemy's aiosqlite path: it costs ~1.7 ms per transaction here (one thread hop
per cursor call, plus the pool's reset), which alone is 4x the per-step budget. Instead each
database file gets two plain `sqlite3` connections:

* a *fast* one used on the event loop thread with ``busy_timeout=0``: a journal write is
  ``BEGIN IMMEDIATE; one statement; COMMIT`` (~40 us in WAL with synchronous=NORMAL). If the
  write lock is held by anyone else, BEGIN fails at once instead of blocking the loop;
* a *slow* one owned by a single worker thread with the normal busy timeout, which takes
  over any write or read that meets a lock.

Reads (`load`, `events`) also use the fast connection: in WAL mode they never wait.

The fast connection never checkpoints on commit (``wal_autocheckpoint=0``) so no fsync happens
on the loop; the worker thread runs a passive checkpoint every `_CHECKPOINT_EVERY` commits.
Rows are written in exactly the format SQLAlchemy uses for these columns (hex UUIDs, naive
UTC ``YYYY-MM-DD HH:MM:SS.ffffff`` timestamps, JSON text), so the ORM reads them unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import sqlite3
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
Txn = Callable[[sqlite3.Connection], T]

_CHECKPOINT_EVERY = 500
_STORES: dict[str, _SqliteStore] = {}
_STORES_LOCK = threading.Lock()


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite+aiosqlite:///PATH`` URL; raises ValueError for in-memory ones."""
    path = url.split(":///", 1)[1] if ":///" in url else ""
    path = path.split("?", 1)[0]
    if not path or path == ":memory:":
        raise ValueError("SqlJournal needs a file-backed SQLite database")
    return path


def stamp(value: dt.datetime | None = None) -> str:
    """A timestamp as SQLAlchemy stores UTC datetimes on SQLite."""
    value = (value or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(" ", timespec="microseconds")


def parse_stamp(value: str | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def loads(value: str | float | None) -> Any:
    """Decode a JSON column; numeric JSON text comes back as a number (column affinity)."""
    if value is None or isinstance(value, int | float):
        return value
    return json.loads(value)


def _connect(path: str, busy_ms: int, autocheckpoint: int) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    conn.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
    return conn


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    message = str(exc).lower()
    return "locked" in message or "busy" in message


class _SqliteStore:
    """The two connections and the worker thread of one database file (per process)."""

    def __init__(self, path: str, busy_ms: int) -> None:
        self.fast = _connect(path, 0, 0)
        self.slow = _connect(path, busy_ms, 1000)
        self.fast_lock = threading.Lock()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="journal-sqlite")
        self.commits = 0
        weakref.finalize(self, self.executor.shutdown, wait=False)

    @staticmethod
    def _txn(conn: sqlite3.Connection, fn: Txn[T]) -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def write(self, fn: Txn[T]) -> T:
        """Run ``fn`` in one immediate transaction; never blocks the loop on a lock."""
        if self.fast_lock.acquire(blocking=False):
            try:
                result = self._txn(self.fast, fn)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            else:
                self._after_commit()
                return result
            finally:
                self.fast_lock.release()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._txn, self.slow, fn)

    async def read(self, fn: Txn[T]) -> T:
        """Run a read. WAL readers never wait for writers, so it normally runs right here;
        the rare busy answer (WAL recovery by another process) moves it to the worker."""
        if self.fast_lock.acquire(blocking=False):
            try:
                return fn(self.fast)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            finally:
                self.fast_lock.release()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, self.slow)

    def _after_commit(self) -> None:
        self.commits += 1
        if self.commits % _CHECKPOINT_EVERY == 0:
            self.executor.submit(self._checkpoint)

    def _checkpoint(self) -> None:
        # Best effort: a busy checkpoint is simply redone by the next one.
        with contextlib.suppress(sqlite3.Error):
            self.slow.execute("PRAGMA wal_checkpoint(PASSIVE)")


def store_for(url: str, busy_ms: int = 10_000) -> _SqliteStore:
    """The process-wide store of a database file."""
    path = sqlite_path(url)
    with _STORES_LOCK:
        store = _STORES.get(path)
        if store is None:
            store = _STORES[path] = _SqliteStore(path, busy_ms)
        return store
