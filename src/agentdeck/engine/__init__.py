"""The durable run engine: definitions, templates, a pure scheduler, the loop and nodes.

Pure of the web, the ORM and features: it reaches the world only through `ports` and the
`journal` port.
"""

from __future__ import annotations

from agentdeck.engine.errors import (
    EngineError,
    Interrupt,
    NodeError,
    Problem,
    ResumeError,
    SpecError,
    TemplateError,
)
from agentdeck.engine.journal import Journal, StepRecord, StepStatus, Usage
from agentdeck.engine.journal_memory import MemoryJournal
from agentdeck.engine.loop import Engine, Resume, RunResult
from agentdeck.engine.nodes import NodeContext, NodeResult, Ports
from agentdeck.engine.planner import Plan, RunState, plan
from agentdeck.engine.spec import AgentSpec
from agentdeck.engine.validate import parse_spec, validate

__all__ = [
    "AgentSpec",
    "Engine",
    "EngineError",
    "Interrupt",
    "Journal",
    "MemoryJournal",
    "NodeContext",
    "NodeError",
    "NodeResult",
    "Plan",
    "Ports",
    "Problem",
    "Resume",
    "ResumeError",
    "RunResult",
    "RunState",
    "SpecError",
    "StepRecord",
    "StepStatus",
    "TemplateError",
    "Usage",
    "parse_spec",
    "plan",
    "validate",
]
