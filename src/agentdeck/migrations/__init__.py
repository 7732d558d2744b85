"""Alembic migrations, runnable on SQLite and PostgreSQL, and the helpers that apply them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

_HERE = Path(__file__).parent


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at these migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_to_head(url: str) -> None:
    """Apply every pending migration (blocking; call from a thread inside an event loop)."""
    command.upgrade(alembic_config(url), "head")


async def upgrade_to_head_async(url: str) -> None:
    """Apply every pending migration without blocking the event loop."""
    await asyncio.to_thread(upgrade_to_head, url)


def head_revision() -> str | None:
    """The newest revision these migrations define."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def is_current(engine: AsyncEngine) -> bool:
    """True when the database is migrated to the newest revision."""

    def _current(conn: Connection) -> str | None:
        return MigrationContext.configure(conn).get_current_revision()

    async with engine.connect() as conn:
        current = await conn.run_sync(_current)
    return current == head_revision()
