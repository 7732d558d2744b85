"""Database engine and sessions: SQLite (WAL, foreign keys, busy timeout) or PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import DateTime, event
from sqlalchemy.engine import Dialect, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.types import TypeDecorator

from agentdeck.kit._sqlite_inline import InlineConnection, inline_connect
from agentdeck.kit.tenancy import install_tenant_guard


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


def as_utc(value: dt.datetime) -> dt.datetime:
    """Treat a naive datetime as UTC; convert an aware one to UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, echo: bool = False, busy_timeout_ms: int = 10_000) -> AsyncEngine:
    """Create the async engine; on SQLite set WAL, foreign keys and a busy timeout."""
    if is_sqlite(url):
        path = make_url(url).database or ""
        inline = bool(path) and path != ":memory:" and not path.startswith("file:")
        if inline:
            # Statements run on the loop thread; BUSY waits are async sleeps (see module).
            busy_s = busy_timeout_ms / 1000

            async def connect() -> InlineConnection:
                return inline_connect(path, busy_s)

            # Writers queue on the write gate in order (`_sqlite_inline`); a connection waits
            # there, not in the pool, so the pool is not what bounds a burst of runs, and a
            # checkout waits as long as the backlog takes instead of failing after 30 s.
            engine = create_async_engine(
                url, echo=echo, async_creator=connect, pool_size=20, max_overflow=20,
                pool_timeout=300,
            )  # fmt: skip
            busy_timeout_ms = 0
        else:
            engine = create_async_engine(
                url, echo=echo, connect_args={"timeout": busy_timeout_ms / 1000}
            )

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # aiosqlite opens connections in autocommit-off mode; pragmas must run outside
            # a transaction, so use a raw cursor right after connecting.
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _begin_immediate(conn: Any) -> None:
            # BEGIN IMMEDIATE takes the write lock up front, so two writers wait on the
            # busy timeout instead of failing with "database is locked" on upgrade. A
            # transaction declared to only read (`read_only`) needs no lock in WAL mode.
            if conn.get_execution_options().get(_READ_ONLY):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_async_engine(url, echo=echo, pool_pre_ping=True)


_READ_ONLY = "agentdeck_read_only"


async def read_only(session: AsyncSession) -> None:
    """Declare the session's next transaction read-only (call before its first statement).
    On SQLite it then starts without the write lock (a plain ``BEGIN``), so it neither waits
    for this process's writers nor holds them up; it must not write. No effect elsewhere."""
    if not session.in_transaction():
        await session.connection(execution_options={_READ_ONLY: True})


def sync_engine_of(source: Any) -> Engine:
    """The database engine behind a sessionmaker, session, async engine or engine (the key
    of per-database, process-wide registries). Raises TypeError for anything else."""
    if isinstance(source, async_sessionmaker):
        source = source.kw["bind"]
    if isinstance(source, AsyncSession):
        source = source.get_bind()
    if isinstance(source, AsyncEngine):
        source = source.sync_engine
    if not isinstance(source, Engine):
        raise TypeError(f"cannot find the database engine of {source!r}")
    return source


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that never expire loaded rows on commit and always carry the tenant guard."""
    install_tenant_guard()
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


@asynccontextmanager
async def transaction(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """A session whose work commits on success and rolls back on error (task boundary)."""
    async with sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
