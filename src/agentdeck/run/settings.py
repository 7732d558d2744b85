"""Run and worker tuning, read from the environment like the rest of the settings.

They live here (not in `agentdeck.config`) because this package owns them; both groups use
the platform's ``AGENTDECK_`` prefix and nested names, so moving them into `Settings` later
changes nothing for operators.

Environment variables (defaults in brackets):

* ``AGENTDECK_WORKER__LEASE_S`` [10]: a claimed job's lease, renewed every lease/3 by
  heartbeat. When a worker dies, its run is free again at most ``lease_s`` after the kill and
  another worker takes it at its next claim (``poll_s``, or at once on a NOTIFY):
  ``lease_s + poll_s`` (11 s by default) bounds how long a crashed run waits. Keep it at
  least ~3 heartbeats above the database's worst write latency.
* ``AGENTDECK_WORKER__POLL_S`` [1]: idle polling; on PostgreSQL workers also LISTEN on
  ``agentdeck_jobs`` and wake at once, polling only catches expired leases and retries.
* ``AGENTDECK_WORKER__CONCURRENCY`` [1000]: runs in flight per worker process (they wait on
  models and tools); ``AGENTDECK_WORKER__CPU_JOBS`` [2]: ingestion and crawl jobs at once,
  whose parsing and embedding run in bounded pools; ``AGENTDECK_WORKER__GRACE_S`` [10].
* ``AGENTDECK_RUNS__PUBSUB`` [auto]: how events reach other processes live: ``redis`` (needs
  ``AGENTDECK_LLM__REDIS_URL``), ``postgres`` (NOTIFY), ``off`` (the journal is polled), or
  ``auto``: Redis when ``AGENTDECK_LLM__REDIS_URL`` is set, else PostgreSQL NOTIFY on
  PostgreSQL, else off. Used by API processes without a worker and by worker processes; an
  API with an embedded worker keeps events in memory.
* ``AGENTDECK_RUNS__JOURNAL_FLUSH`` [step]: on PostgreSQL, when the journal waits for the
  WAL flush: ``step``: at each step's outcome (a step survives even a crash of the database
  server), ``run``: only at a run's end or interrupt (a step survives a worker crash, as on
  SQLite in WAL mode; a database server crash may lose the last ~0.6 s of step writes, whose
  steps then run again with the same idempotency key). No effect on SQLite.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from agentdeck.config import ConfigError, Settings
from agentdeck.kit.netguard import NetworkPolicy


class RunSettings(BaseSettings):
    """``AGENTDECK_RUNS__*``."""

    model_config = SettingsConfigDict(env_prefix="AGENTDECK_RUNS__", extra="ignore")

    allow_private_network: bool = Field(
        False,
        description="Let every outbound call (http nodes, documents, crawls, providers) reach "
        "any private/loopback address (tests, on-prem); prefer "
        "AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS, which allows only the hosts it names.",
    )
    requeue_delay_s: float = Field(
        30.0,
        gt=0,
        description="When a run waiting for its thread's earlier run is retried anyway (the "
        "earlier run's end makes it due at once; this is the safety net).",
    )
    quota_runs_in_flight: int = Field(
        0, ge=0, description="Most runs pending or running per org (0: no limit): 429 above."
    )
    quota_runs_per_minute: int = Field(
        0, ge=0, description="Most runs an org creates per minute (0: no limit): 429 above."
    )
    watch_s: float = Field(
        0.25,
        gt=0,
        description="How often a process re-reads, in one query, the runs its clients follow "
        "whose events nothing relays to it (SQLite with several processes, a relay down), and "
        "the cancel flags of the runs it executes; never while everything arrives live.",
    )
    max_concurrency: int = Field(16, ge=1, description="Nodes of one run in flight at once.")
    pubsub: Literal["auto", "off", "postgres", "redis"] = Field(
        "auto", description="Relay of live events between processes (see the module doc)."
    )
    journal_flush: Literal["step", "run"] = Field(
        "step", description="PostgreSQL: wait for the WAL flush per step or per run end."
    )


class WorkerSettings(BaseSettings):
    """``AGENTDECK_WORKER__*``: the job worker's lease, polling and concurrency."""

    model_config = SettingsConfigDict(env_prefix="AGENTDECK_WORKER__", extra="ignore")

    lease_s: float = Field(
        10.0,
        gt=0,
        description="Job lease; renewed every lease_s / 3. A dead worker's run is "
        "resumed elsewhere within lease_s + poll_s.",
    )
    poll_s: float = Field(1.0, gt=0, description="Idle polling interval (wake-ups are instant).")
    concurrency: int = Field(
        1000,
        ge=1,
        description="Jobs (runs) executing at once per worker. Runs mostly wait on models "
        "and tools, so one process holds many; CPU-heavy kinds have their own limits.",
    )
    cpu_jobs: int = Field(
        2, ge=1, description="Ingestion and crawl jobs at once per worker (CPU-heavy)."
    )
    grace_s: float = Field(10.0, ge=0, description="On SIGTERM, time to finish before release.")


def network_policy(settings: Settings) -> NetworkPolicy:
    """The process's one outbound network policy: the hosts of
    ``settings.network.allowed_private_hosts``, or everything when
    ``AGENTDECK_RUNS__ALLOW_PRIVATE_NETWORK`` is set. Raises ConfigError for a malformed
    allow-list entry (start-up fails, naming it)."""
    try:
        return NetworkPolicy.parse(
            settings.network.allowed_private_hosts,
            allow_all=RunSettings().allow_private_network,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
