"""Builtin toolsets: thin adapters on httpx (``httpx2``) with typed arguments.

A builtin toolset's config names its ``integration``; :data:`INTEGRATIONS` maps each name
to the function that builds it from a :class:`~agentdeck.tools.base.ToolsetConfig`.
"""

from __future__ import annotations

from collections.abc import Callable

from agentdeck.tools.base import ToolsetConfig
from agentdeck.tools.builtin.github import build_github
from agentdeck.tools.builtin.gmail import build_gmail
from agentdeck.tools.builtin.http import build_http
from agentdeck.tools.builtin.jira import build_jira
from agentdeck.tools.builtin.slack import build_slack
from agentdeck.tools.builtin.webhook import build_webhook
from agentdeck.tools.typed import TypedToolset

INTEGRATIONS: dict[str, Callable[[ToolsetConfig], TypedToolset]] = {
    "http": build_http,
    "webhook": build_webhook,
    "slack": build_slack,
    "github": build_github,
    "jira": build_jira,
    "gmail": build_gmail,
}

__all__ = ["INTEGRATIONS"]
