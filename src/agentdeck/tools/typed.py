"""Toolsets of typed tools: each tool's arguments are a pydantic model whose JSON Schema is
the tool's input schema, validated before the handler runs (the builtin adapters)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from agentdeck.tools.base import ToolDefinition, ToolError, cap_result
from agentdeck.tools.outbound import HttpCaller

A = TypeVar("A", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a handler gets besides its arguments: the toolset's HTTP caller, the tool's
    qualified name (for error messages) and the call's idempotency key."""

    http: HttpCaller
    tool: str
    idempotency_key: str | None


@dataclass(frozen=True, slots=True)
class TypedTool(Generic[A]):
    """A tool: its name, description, argument model and handler."""

    name: str
    description: str
    args: type[A]
    run: Callable[[A, CallContext], Awaitable[Any]]

    def definition(self) -> ToolDefinition:
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        return ToolDefinition(self.name, self.description, schema)


def _argument_problems(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        loc = ".".join(str(p) for p in error["loc"]) or "arguments"
        parts.append(f"{loc}: {error['msg']}")
    return "; ".join(parts)


class TypedToolset:
    """A toolset of :class:`TypedTool` sharing one :class:`HttpCaller`."""

    def __init__(self, name: str, kind: str, tools: Sequence[TypedTool[Any]], http: HttpCaller):
        self._name, self._kind, self.http = name, kind, http
        self._tools = {tool.name: tool for tool in tools}
        self._definitions = [tool.definition() for tool in tools]

    @property
    def name(self) -> str:
        return self._name

    @property
    def kind(self) -> str:
        return self._kind

    async def list_tools(self) -> list[ToolDefinition]:
        return list(self._definitions)

    async def refresh(self) -> list[ToolDefinition]:
        return list(self._definitions)

    async def call(
        self, tool: str, arguments: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Any:
        """Validate the arguments against the tool's model and run it; the result capped at
        the toolset's ``max_result_bytes``. Raises ToolError (``tool`` for an unknown tool,
        ``invalid_input`` naming the wrong fields, or the handler's own)."""
        qualified = f"{self._name}.{tool}"
        typed = self._tools.get(tool)
        if typed is None:
            raise ToolError("tool", f"the toolset {self._name!r} has no tool {tool!r}")
        try:
            args = typed.args.model_validate(dict(arguments))
        except ValidationError as exc:
            raise ToolError(
                "invalid_input", f"invalid arguments: {_argument_problems(exc)}", tool=qualified
            ) from None
        result = await typed.run(args, CallContext(self.http, qualified, idempotency_key))
        return cap_result(result, self.http.limits.max_result_bytes)

    async def aclose(self) -> None:
        await self.http.aclose()
