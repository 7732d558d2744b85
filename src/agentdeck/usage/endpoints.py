"""/usage endpoints."""

from __future__ import annotations

from agentdeck.api import new_router

router = new_router("/usage", tags=["usage"])
