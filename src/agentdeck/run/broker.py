"""Moved to `agentdeck.run.events.bus`; kept only until the Temporal engine's imports move."""

from __future__ import annotations

from agentdeck.run.events.bus import Broker, StreamItem

__all__ = ["Broker", "StreamItem"]
