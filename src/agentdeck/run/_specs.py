"""Parsed agent versions, kept per process. A version never changes once written (and goes
only with its agent), so a run of a known version is created and started without reading or
parsing it again. Callers check access to the agent first: the cache is keyed by agent id."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from agentdeck.engine import AgentSpec

_SPECS: dict[tuple[uuid.UUID, int], AgentSpec] = {}
_MAX = 1024


async def load(
    agent_id: uuid.UUID, version: int, read: Callable[[], Awaitable[dict[str, Any] | None]]
) -> AgentSpec | None:
    """The version, parsed: from the cache, else ``read()`` (its stored spec, None when it
    does not exist) parsed and kept. Raises pydantic's ValidationError for an invalid one."""
    key = (agent_id, version)
    spec = _SPECS.get(key)
    if spec is None:
        raw = await read()
        if raw is None:
            return None
        spec = AgentSpec.model_validate(raw)
        if len(_SPECS) >= _MAX:
            _SPECS.clear()
        _SPECS[key] = spec
    return spec
