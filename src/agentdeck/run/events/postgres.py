"""PostgreSQL ``LISTEN/NOTIFY`` as a `Channels` transport, and the workers' job wake-ups.

One raw asyncpg connection, outside SQLAlchemy's pool (a pooled connection would lose its
LISTENs when returned); a keep-alive query notices dead peers.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import URL, make_url

from agentdeck.run.events.channels import Channels, OnMessage


def asyncpg_dsn(url: str | URL) -> str:
    """A SQLAlchemy ``postgresql+asyncpg://`` URL as a plain DSN for `asyncpg.connect`."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class PgChannels(Channels):
    """LISTEN/NOTIFY on one raw asyncpg connection; a keep-alive query notices dead peers."""

    name = "postgresql"
    limit = 7900  # NOTIFY payloads must stay under 8000 bytes
    keepalive_s = 10.0

    def __init__(self, dsn: str, on_message: OnMessage) -> None:
        super().__init__(on_message)
        self._dsn = dsn
        self._conn: Any = None
        self._lock = asyncio.Lock()  # asyncpg runs one operation at a time per connection
        self._lost = asyncio.Event()

    async def _connect(self) -> None:
        import asyncpg  # type: ignore[import-untyped, unused-ignore]

        self._lost = asyncio.Event()
        self._conn = await asyncpg.connect(self._dsn, timeout=10)
        self._conn.add_termination_listener(lambda _conn: self._lost.set())

    def _on_notify(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self._deliver(channel, payload)

    async def _listen(self, channel: str) -> None:
        async with self._lock:
            await self._conn.add_listener(channel, self._on_notify)

    async def _unlisten(self, channel: str) -> None:
        async with self._lock:
            await self._conn.remove_listener(channel, self._on_notify)

    async def _publish(self, channel: str, payload: str) -> None:
        async with self._lock:
            await self._conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def _pump(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.keepalive_s):
                    await self._lost.wait()
            if self._lost.is_set() or self._conn.is_closed():
                raise ConnectionError("the LISTEN connection was closed")
            async with self._lock:
                await self._conn.execute("SELECT 1", timeout=5)

    async def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await conn.close(timeout=2)
            except Exception:
                conn.terminate()


JOBS_CHANNEL = "agentdeck_jobs"
"""`service.enqueue_execution` NOTIFYs it inside the run's transaction (delivered on commit)."""


def job_wakeups(db_url: str, wake: Callable[[], None]) -> PgChannels | None:
    """A LISTEN connection calling ``wake`` on every job NOTIFY; None unless PostgreSQL."""
    if not db_url.startswith("postgresql"):
        return None
    channels = PgChannels(asyncpg_dsn(db_url), lambda _channel, _payload: wake())
    channels.listen(JOBS_CHANNEL)
    return channels
