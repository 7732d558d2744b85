"""Builtin toolsets: thin adapters on httpx (``httpx2``) with typed arguments.

A builtin toolset's config names its ``integration``; :data:`INTEGRATIONS` maps each name
to the function that builds it from a :class:`~agentdeck.tools.base.ToolsetConfig`.
"""

from __future__ import annotations

from collections.abc import Callable

from agentdeck.tools.base import ToolsetConfig
from agentdeck.tools.builtin.http import build_http
from agentdeck.tools.builtin.webhook import build_webhook
from agentdeck.tools.typed import TypedToolset

INTEGRATIONS: dict[str, Callable[[ToolsetConfig], TypedToolset]] = {
    "http": build_http,
    "webhook": build_webhook,
}

__all__ = ["INTEGRATIONS"]
