"""Run and worker tuning, read from the environment like the rest of the settings.

They live here (not in `agentdeck.config`) because this package owns them; both groups use
the platform's ``AGENTDECK_`` prefix and nested names, so moving them into `Settings` later
changes nothing for operators.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RunSettings(BaseSettings):
    """``AGENTDECK_RUNS__*``."""

    model_config = SettingsConfigDict(env_prefix="AGENTDECK_RUNS__", extra="ignore")

    max_per_org: int = Field(10, ge=0, description="Runs executing at once per org; 0: no limit.")
    allow_private_network: bool = Field(
        False, description="Let `http` nodes call private/loopback addresses (tests, on-prem)."
    )
    requeue_delay_s: float = Field(0.5, gt=0, description="Retry delay of a run held back.")
    cancel_poll_s: float = Field(0.5, gt=0, description="How often a running run checks cancel.")
    max_concurrency: int = Field(16, ge=1, description="Nodes of one run in flight at once.")


class WorkerSettings(BaseSettings):
    """``AGENTDECK_WORKER__*``: the job worker's lease, polling and concurrency."""

    model_config = SettingsConfigDict(env_prefix="AGENTDECK_WORKER__", extra="ignore")

    lease_s: float = Field(30.0, gt=0, description="Job lease; renewed every lease_s / 3.")
    poll_s: float = Field(1.0, gt=0, description="Idle polling interval (wake-ups are instant).")
    concurrency: int = Field(8, ge=1, description="Jobs (runs) executing at once per worker.")
    grace_s: float = Field(10.0, ge=0, description="On SIGTERM, time to finish before release.")
