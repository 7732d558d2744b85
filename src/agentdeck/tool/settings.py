"""Operator settings of toolsets (``AGENTDECK_TOOLS__...``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ToolSettings(BaseSettings):
    """``allow_stdio``: let ``mcp`` toolsets start local processes (the stdio transport).
    Off by default: a toolset is configured by space editors, a process runs as the server."""

    model_config = SettingsConfigDict(env_prefix="AGENTDECK_TOOLS__", extra="ignore")

    allow_stdio: bool = Field(
        False, description="Allow mcp toolsets with the stdio transport (they run processes)."
    )
