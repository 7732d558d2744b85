"""The registry: toolsets built from stored configs, tool references resolved, calls routed.

A reference is ``"<toolset>.<tool>"`` (one tool) or ``"<toolset>"`` (all its tools).
:class:`ToolRegistry` implements the engine's ``ToolPort``: ``list_tools`` gives the specs a
model is shown, ``call`` runs one tool by its qualified name or by the name the model saw.
Model providers accept only ``[a-zA-Z0-9_-]{1,64}`` as a tool name, so the spec of
``github.create_issue`` is named ``github__create_issue`` (:func:`model_name`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from agentdeck.engine.ports import ToolSpec
from agentdeck.tools.base import (
    ToolDefinition,
    ToolError,
    Toolset,
    ToolsetConfig,
    ToolsetConfigError,
)
from agentdeck.tools.builtin import INTEGRATIONS
from agentdeck.tools.mcp import build_mcp
from agentdeck.tools.openapi import build_openapi

log = structlog.get_logger(__name__)

SLUG = re.compile(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*")
"""A toolset name: lower case, digits, single ``-`` or ``_`` between parts (so ``__``
separates the toolset from the tool in a model-facing name), at most 64 characters."""
_MODEL_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")
_MODEL_NAME_MAX = 64


@dataclass(frozen=True, slots=True)
class RegistryOptions:
    """Operator settings the registry honours: ``allow_stdio`` lets ``mcp`` toolsets start
    local processes (stdio transport); refused otherwise."""

    allow_stdio: bool = False


def check_slug(name: str) -> str:
    """``name`` when it is a valid toolset name; ToolsetConfigError(``name``) otherwise."""
    if len(name) > 64 or not SLUG.fullmatch(name):
        raise ToolsetConfigError(
            "name", "must be a slug: lower-case letters and digits, parts joined by - or _"
        )
    return name


def build_toolset(stored: ToolsetConfig, options: RegistryOptions | None = None) -> Toolset:
    """The toolset of a stored config. Nothing is contacted yet.

    Raises ToolsetConfigError naming the config key that is wrong (an unknown kind or
    integration, a bad URL or limit, a stdio MCP server without the operator's permission).
    """
    check_slug(stored.name)
    options = options or RegistryOptions()
    if stored.kind == "builtin":
        integration = stored.config.get("integration")
        builder = INTEGRATIONS.get(integration) if isinstance(integration, str) else None
        if builder is None:
            raise ToolsetConfigError(
                "integration", f"must be one of {', '.join(sorted(INTEGRATIONS))}"
            )
        return builder(stored)
    if stored.kind == "openapi":
        return build_openapi(stored)
    if stored.kind == "mcp":
        return build_mcp(stored, allow_stdio=options.allow_stdio)
    raise ToolsetConfigError("kind", "must be builtin, openapi or mcp")


def model_name(toolset: str, tool: str) -> str:
    """The name a model is shown for ``toolset.tool``: ``toolset__tool`` with characters
    providers refuse replaced by ``_``; a long one is cut and keeps a short hash."""
    name = f"{toolset}__{_MODEL_UNSAFE.sub('_', tool)}"
    if len(name) <= _MODEL_NAME_MAX:
        return name
    digest = hashlib.sha256(f"{toolset}.{tool}".encode()).hexdigest()[:8]
    return f"{name[: _MODEL_NAME_MAX - 9]}_{digest}"


ToolCallable = Callable[[Mapping[str, Any], str | None], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ResolvedTool:
    """One tool of a reference: where it lives, what it is, and how to call it
    (``await tool.call(arguments, idempotency_key)``)."""

    toolset: str
    definition: ToolDefinition
    call: ToolCallable

    @property
    def qualified_name(self) -> str:
        return f"{self.toolset}.{self.definition.name}"

    @property
    def model_name(self) -> str:
        return model_name(self.toolset, self.definition.name)

    def spec(self) -> ToolSpec:
        """The engine's ToolSpec, named by :attr:`model_name`."""
        return ToolSpec(self.model_name, self.definition.description, self.definition.input_schema)


def _bind(toolset: Toolset, tool: str) -> ToolCallable:
    async def call(arguments: Mapping[str, Any], idempotency_key: str | None) -> Any:
        return await guarded_call(toolset, tool, arguments, idempotency_key)

    return call


async def guarded_call(
    toolset: Toolset, tool: str, arguments: Mapping[str, Any], idempotency_key: str | None
) -> Any:
    """``toolset.call`` where any failure is a ToolError: a toolset bug (an exception that
    is not one) is logged and answered as ``ToolError(kind="tool")``, never raised as is."""
    try:
        return await toolset.call(tool, arguments, idempotency_key=idempotency_key)
    except ToolError:
        raise
    except Exception as exc:
        log.exception("tools.call_crashed", toolset=toolset.name, tool=tool)
        raise ToolError(
            "tool",
            f"the tool failed unexpectedly ({type(exc).__name__})",
            tool=f"{toolset.name}.{tool}",
        ) from exc


class ToolRegistry:
    """The toolsets a run may use, by name; the engine's ``ToolPort``.

    Build one per run (or per request) from the space's stored toolsets with
    :meth:`from_configs`; ``aclose`` it afterwards (MCP sessions, HTTP connections).
    """

    def __init__(self, toolsets: Iterable[Toolset] = ()) -> None:
        self._toolsets: dict[str, Toolset] = {}
        for toolset in toolsets:
            self.add(toolset)

    @classmethod
    def from_configs(
        cls, configs: Iterable[ToolsetConfig], options: RegistryOptions | None = None
    ) -> ToolRegistry:
        """A registry of the stored toolsets (ToolsetConfigError for a bad one)."""
        return cls(build_toolset(config, options) for config in configs)

    def add(self, toolset: Toolset) -> None:
        """Register ``toolset``; ValueError when its name is taken."""
        if toolset.name in self._toolsets:
            raise ValueError(f"a toolset named {toolset.name!r} is already registered")
        self._toolsets[toolset.name] = toolset

    def toolset(self, name: str) -> Toolset:
        """The toolset called ``name``; ToolError(kind="tool") naming it when unknown."""
        toolset = self._toolsets.get(name)
        if toolset is None:
            raise ToolError("tool", f"unknown toolset {name!r}")
        return toolset

    @property
    def names(self) -> list[str]:
        return list(self._toolsets)

    async def resolve(self, refs: Sequence[str]) -> list[ResolvedTool]:
        """The tools of the references, in order, each once.

        Raises ToolError(kind="tool") naming an unknown toolset or tool, and the toolset's
        own ToolError when its tool list cannot be fetched (an MCP server that is down).
        """
        out: dict[str, ResolvedTool] = {}
        for ref in refs:
            toolset_name, _, tool = ref.partition(".")
            toolset = self.toolset(toolset_name)
            definitions = await toolset.list_tools()
            if tool:
                chosen = [d for d in definitions if d.name == tool]
                if not chosen:
                    raise ToolError("tool", f"the toolset {toolset_name!r} has no tool {tool!r}")
            else:
                chosen = definitions
            for definition in chosen:
                resolved = ResolvedTool(toolset.name, definition, _bind(toolset, definition.name))
                out.setdefault(resolved.qualified_name, resolved)
        return list(out.values())

    async def find(self, name: str) -> ResolvedTool:
        """One tool by its qualified name (``toolset.tool``) or its model name
        (``toolset__tool``); ToolError(kind="tool") when there is none."""
        if "." in name.partition("__")[0]:
            return (await self.resolve([name]))[0]
        toolset_name, sep, _ = name.partition("__")
        if not sep:
            raise ToolError("tool", f"unknown tool {name!r}: name it as <toolset>.<tool>")
        for tool in await self.resolve([toolset_name]):
            if tool.model_name == name:
                return tool
        raise ToolError("tool", f"the toolset {toolset_name!r} has no tool {name!r}")

    async def list_tools(self, names: Sequence[str]) -> list[ToolSpec]:
        """ToolPort: the specs of the referenced tools (whole toolsets expanded), named as
        the model will call them. Raises ToolError(kind="tool") for an unknown one."""
        return [tool.spec() for tool in await self.resolve(names)]

    async def call(self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str) -> Any:
        """ToolPort: run the tool (qualified or model name) with the idempotency key
        forwarded; its JSON result. Every failure is a ToolError (a NodeError)."""
        tool = await self.find(name)
        return await tool.call(arguments, idempotency_key)

    async def refresh(self, name: str) -> list[ToolDefinition]:
        """Fetch the toolset's tool list again (MCP); the new list."""
        return await self.toolset(name).refresh()

    async def aclose(self) -> None:
        """Close every toolset (errors are logged, not raised)."""
        for toolset in self._toolsets.values():
            try:
                await toolset.aclose()
            except Exception:
                log.exception("tools.close_failed", toolset=toolset.name)
