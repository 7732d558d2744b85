"""The run journal: where a run's steps and events are written, and read back from.

Every durable event of a run executed by this process's worker gets its sequence number here
and is stored here, before anything publishes it (`SqlJournal.when_durable`); the engine sees
only the `agentdeck.engine.journal.Journal` port. Two stores keep the port on the `run_steps`
and `run_events` tables, with the same contract, codec and columns (`base`, `codec`):

- `sqlite.SqliteJournal`: raw `sqlite3` on the event loop, group commit per turn of the loop;
- `postgres.PgJournal`: raw asyncpg, group commit across runs (`postgres_writer`).

`open_journal` picks the one for the database. The Temporal engine keeps its own journal
(`agentdeck.temporal.journal`): several activities of a run write at once there.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.run.journal.base import SqlJournal
from agentdeck.run.journal.postgres import PgJournal
from agentdeck.run.journal.sqlite import SqliteJournal

__all__ = ["PgJournal", "SqlJournal", "SqliteJournal", "open_journal"]


def open_journal(sessionmaker: async_sessionmaker[AsyncSession], org_id: uuid.UUID) -> SqlJournal:
    """The journal of ``org_id``'s runs on the sessionmaker's database: `SqliteJournal` on
    SQLite, `PgJournal` on PostgreSQL. Raises ValueError for another database, or for an
    in-memory SQLite one."""
    dialect = sessionmaker.kw["bind"].dialect.name
    if dialect == "sqlite":
        return SqliteJournal(sessionmaker, org_id)
    if dialect == "postgresql":
        return PgJournal(sessionmaker, org_id)
    raise ValueError(f"no run journal for the {dialect} dialect")
