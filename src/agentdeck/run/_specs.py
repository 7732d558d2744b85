"""Parsed agent versions, kept per process. A version never changes once written (and goes
only with its agent), so a run of a known version is created and started without reading or
parsing it again. Callers check access to the agent first: the cache is keyed by agent id."""

from __future__ import annotations

import uuid

from agentdeck.engine import AgentSpec

_SPECS: dict[tuple[uuid.UUID, int], AgentSpec] = {}
_MAX = 1024


def cached(agent_id: uuid.UUID, version: int) -> AgentSpec | None:
    return _SPECS.get((agent_id, version))


def keep(agent_id: uuid.UUID, version: int, spec: AgentSpec) -> None:
    if len(_SPECS) >= _MAX:
        _SPECS.clear()
    _SPECS[(agent_id, version)] = spec
