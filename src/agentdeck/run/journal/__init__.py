"""The run journal: the engine's Journal port on the `run_steps` and `run_events` tables
(`base.SqlJournal`; its SQLite store in `sqlite`, its PostgreSQL writer in `postgres_writer`)."""

from __future__ import annotations
