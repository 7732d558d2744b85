"""The on-loop SQLite connection: a held write lock is waited for without blocking the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from agentdeck.kit._sqlite_inline import InlineConnection, inline_connect
from agentdeck.kit.db import create_engine, create_sessionmaker, transaction


async def test_busy_write_waits_on_the_loop_then_succeeds(tmp_path: Path) -> None:
    db = tmp_path / "busy.db"
    engine = create_engine(f"sqlite+aiosqlite:///{db}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another connection (or process) holds the write lock
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    async def release_later() -> None:
        await asyncio.sleep(0.15)
        blocker.execute("INSERT INTO t VALUES (1)")
        blocker.execute("COMMIT")

    tick_task = asyncio.create_task(ticker())
    release = asyncio.create_task(release_later())
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        tick_task.cancel()
        await release
        blocker.close()
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT n FROM t ORDER BY n"))).scalars().all()
    await engine.dispose()
    assert rows == [1, 2]
    assert ticks >= 20  # the loop kept running while the write waited for the lock


async def test_busy_gives_up_after_the_timeout(tmp_path: Path) -> None:
    db = tmp_path / "timeout.db"
    conn = inline_connect(str(db), busy_timeout_s=0.05)
    await conn.execute("CREATE TABLE t (n INTEGER)")
    await conn.commit()
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await conn.execute("BEGIN IMMEDIATE")
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
        await conn.close()


async def test_closed_connection_refuses_work(tmp_path: Path) -> None:
    conn: InlineConnection = inline_connect(str(tmp_path / "c.db"), busy_timeout_s=1)
    cursor = await conn.execute("SELECT 1")
    assert await cursor.fetchall() == [(1,)]
    await conn.close()
    with pytest.raises(ValueError, match="closed"):
        await conn.execute("SELECT 1")
