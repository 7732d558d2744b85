"""Errors raised by the engine. All carry enough detail for a client to act on."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

ErrorKind = Literal[
    "timeout",
    "network",
    "http_4xx",
    "http_5xx",
    "rate_limit",
    "llm",
    "tool",
    "retrieval",
    "subagent",
    "invalid_output",
    "invalid_input",
    "template",
    "forbidden",
    "max_steps",
    "cancelled",
    "internal",
]
"""Stable error kinds. Retry policies select on them (`retry_on`)."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in an agent definition: where (`loc`, e.g. `nodes[2].needs`) and what."""

    loc: str
    msg: str
    node: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The `{loc, msg}` shape (plus `node` when known) used in API error bodies."""
        out = {"loc": self.loc, "msg": self.msg}
        if self.node is not None:
            out["node"] = self.node
        return out


class EngineError(Exception):
    """Base class of every error the engine raises on purpose."""


class SpecError(EngineError):
    """An agent definition could not be parsed or is semantically invalid."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        summary = "; ".join(f"{p.loc}: {p.msg}" for p in problems[:5])
        super().__init__(f"invalid agent definition: {summary}")

    def to_list(self) -> list[dict[str, str]]:
        """Problems as `{loc, msg, node?}` dicts."""
        return [p.as_dict() for p in self.problems]


class TemplateError(EngineError):
    """A template failed to compile or render; names the offending expression."""

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__(f"template {expression!r}: {reason}")


class ResumeError(EngineError):
    """A resume value was given but there is nothing to resume, or it fails the schema."""


class NodeError(EngineError):
    """A node failed. `kind` decides whether the retry policy applies."""

    def __init__(self, kind: ErrorKind, message: str, *, detail: Any = None) -> None:
        self.kind: ErrorKind = kind
        self.message = message
        self.detail = detail
        super().__init__(f"{kind}: {message}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form stored in the journal."""
        out: dict[str, Any] = {"kind": self.kind, "message": self.message}
        if self.detail is not None:
            out["detail"] = self.detail
        return out


class Interrupt(EngineError):
    """Raised by a node that needs a human answer; the run becomes `interrupted`."""

    def __init__(self, payload: dict[str, Any]) -> None:
        self.payload = payload
        super().__init__(f"interrupted at {payload.get('node')}")
