"""An aiosqlite-shaped SQLite connection that runs each statement on the event loop thread.

Why: aiosqlite sends every call (cursor, execute, fetch, commit) to its own thread and back.
Each hop costs 0.1-0.5 ms, more on a busy 2-core machine, so a four-statement transaction
paid several milliseconds of pure waiting, which dominated run start latency. The statements
themselves take microseconds: the indexed lookups and small writes of this schema.

What keeps the loop free:
* the connection's own ``busy_timeout`` is 0, so SQLite never sleeps inside a call;
* a statement answered ``SQLITE_BUSY`` (the write lock is held, by this process or another)
  is retried after an ``asyncio.sleep`` with a growing delay, up to ``busy_timeout_s``.
  A statement that failed with BUSY changed nothing, so running it again is safe, and a
  COMMIT that met BUSY leaves its transaction open to be retried (SQLite's documented rule).

Write transactions of one process queue on a gate (one `asyncio.Lock` per database file)
before ``BEGIN IMMEDIATE``, in arrival order, instead of all polling SQLite's lock: with
hundreds of runs writing at once, polling waiters spent the CPU the holder needed. BUSY
retries remain for the lock held by other processes (and this process's journal thread).
A gate wait longer than ``busy_timeout_s`` fails like SQLite's own: "database is locked".

What it does not protect against: a single statement that itself runs for long (a scan of
a huge table) holds the loop for that long. This schema's queries are indexed; bulk work
(vector stores, ingestion) uses its own connections off the loop.

SQLAlchemy's aiosqlite dialect drives this object through ``async_creator``; only the parts
of the aiosqlite API that dialect uses exist here.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

# Write transactions here last well under a millisecond, so poll often: a BUSY wait costs
# the loop nothing, and a long first delay would add latency to every contended write.
_FIRST_DELAY_S = 0.0002
_MAX_DELAY_S = 0.002


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED))
    message = str(exc).lower()
    return "locked" in message or "busy" in message


class InlineCursor:
    """The aiosqlite cursor API over a `sqlite3.Cursor`, executed inline."""

    def __init__(self, connection: InlineConnection) -> None:
        self._conn = connection
        self._cursor = connection._open().cursor()

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        if sql == "BEGIN IMMEDIATE":
            await self._conn._enter_gate()
        if parameters is None:
            await self._conn._retry(lambda: self._cursor.execute(sql))
        else:
            await self._conn._retry(lambda: self._cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        rows = list(parameters)  # a generator could not be replayed after BUSY
        await self._conn._retry(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return await self._conn._retry(self._cursor.fetchone)

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        if size is None:
            return await self._conn._retry(self._cursor.fetchmany)
        return await self._conn._retry(lambda: self._cursor.fetchmany(size))

    async def fetchall(self) -> list[Any]:
        return await self._conn._retry(self._cursor.fetchall)

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def nextset(self) -> None:
        return None

    async def close(self) -> None:
        self._cursor.close()


class _InlineQueue:
    """SQLAlchemy's isolation-level setter queues ``(future, fn)`` on aiosqlite's
    private ``_tx`` queue; run it at once instead."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:
            future.set_exception(exc)


_GATES: dict[tuple[int, str], asyncio.Lock] = {}


def _gate(path: str) -> asyncio.Lock:
    """The write gate of ``path`` in this process (and event loop)."""
    key = (id(asyncio.get_running_loop()), path)
    gate = _GATES.get(key)
    if gate is None:
        gate = _GATES[key] = asyncio.Lock()
    return gate


class InlineConnection:
    """The aiosqlite connection API over a `sqlite3.Connection`, executed inline."""

    def __init__(self, raw: sqlite3.Connection, busy_timeout_s: float, path: str = "") -> None:
        self._raw: sqlite3.Connection | None = raw
        self._conn = raw  # aiosqlite's name, used by SQLAlchemy's isolation-level setter
        self._tx = _InlineQueue()
        self._busy_timeout_s = busy_timeout_s
        self._path = path
        self._held: asyncio.Lock | None = None

    async def _enter_gate(self) -> None:
        if self._held is not None or not self._path:
            return
        gate = _gate(self._path)
        try:
            async with asyncio.timeout(self._busy_timeout_s):
                await gate.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked") from None
        self._held = gate

    def _leave_gate(self) -> None:
        gate, self._held = self._held, None
        if gate is not None:
            gate.release()

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._raw

    def _open(self) -> sqlite3.Connection:
        if self._raw is None:
            raise ValueError("Connection closed")
        return self._raw

    async def _retry(self, call: Callable[[], T]) -> T:
        """Run ``call``; on BUSY, wait without blocking the loop and run it again."""
        self._open()
        try:
            return call()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc):
                raise
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._busy_timeout_s
        delay = _FIRST_DELAY_S
        while True:
            await asyncio.sleep(delay)
            try:
                return call()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or loop.time() + delay > deadline:
                    raise
            delay = min(delay * 2, _MAX_DELAY_S)

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._open().in_transaction

    def cursor(self) -> InlineCursor:
        return InlineCursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> InlineCursor:
        cursor = InlineCursor(self)
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        raw = self._open()
        try:
            await self._retry(raw.commit)
        finally:
            if not raw.in_transaction:
                self._leave_gate()

    async def rollback(self) -> None:
        raw = self._open()
        try:
            await self._retry(raw.rollback)
        finally:
            if not raw.in_transaction:
                self._leave_gate()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()
        self._leave_gate()

    def stop(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()
        self._leave_gate()


def inline_connect(path: str, busy_timeout_s: float) -> InlineConnection:
    """Open ``path`` for inline use: busy timeout 0 in SQLite, the wait happens in `_retry`."""
    raw = sqlite3.connect(path, timeout=0, check_same_thread=False)
    return InlineConnection(raw, busy_timeout_s, path)
