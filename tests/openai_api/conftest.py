"""The app served by uvicorn on a loopback port (shared with the langgraph-sdk suite)."""

from __future__ import annotations

from tests.langgraph.conftest import base_url

__all__ = ["base_url"]
