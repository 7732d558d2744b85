"""The registry: stored configs to toolsets, references to tools, the engine's ToolPort."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from agentdeck.engine.errors import NodeError
from agentdeck.engine.ports import ToolPort, ToolSpec
from agentdeck.tools.base import ToolDefinition, ToolError, ToolsetConfig, ToolsetConfigError
from agentdeck.tools.registry import ToolRegistry, build_toolset, model_name


class FakeToolset:
    kind = "fake"

    def __init__(self, name: str, tools: list[str], crash: bool = False) -> None:
        self.name = name
        self.tools = [ToolDefinition(t, f"does {t}", {"type": "object"}) for t in tools]
        self.calls: list[tuple[str, dict[str, Any], str | None]] = []
        self.crash = crash

    async def list_tools(self) -> list[ToolDefinition]:
        return self.tools

    async def refresh(self) -> list[ToolDefinition]:
        return self.tools

    async def call(
        self, tool: str, arguments: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Any:
        if self.crash:
            raise KeyError("a bug")
        self.calls.append((tool, dict(arguments), idempotency_key))
        return {"tool": tool}

    async def aclose(self) -> None:
        return None


def _registry() -> tuple[ToolRegistry, FakeToolset]:
    crm = FakeToolset("crm", ["find", "update"])
    return ToolRegistry([FakeToolset("github", ["create_issue", "list_issues"]), crm]), crm


async def test_references_resolve_to_single_tools_and_whole_toolsets_once() -> None:
    registry, _ = _registry()
    tools = await registry.resolve(["github.create_issue", "crm", "crm.find"])
    assert [t.qualified_name for t in tools] == ["github.create_issue", "crm.find", "crm.update"]
    assert [t.model_name for t in tools] == ["github__create_issue", "crm__find", "crm__update"]


async def test_the_registry_is_a_tool_port() -> None:
    registry, crm = _registry()
    port: ToolPort = registry
    specs = await port.list_tools(["crm"])
    assert specs == [
        ToolSpec("crm__find", "does find", {"type": "object"}),
        ToolSpec("crm__update", "does update", {"type": "object"}),
    ]
    assert await port.call("crm__find", {"q": 1}, idempotency_key="r:n:0") == {"tool": "find"}
    assert await port.call("crm.update", {}, idempotency_key="r:n:1") == {"tool": "update"}
    assert crm.calls == [("find", {"q": 1}, "r:n:0"), ("update", {}, "r:n:1")]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("jira", "unknown toolset 'jira'"),
        ("jira.create", "unknown toolset 'jira'"),
        ("crm.delete", "the toolset 'crm' has no tool 'delete'"),
    ],
)
async def test_unknown_references_are_tool_errors_naming_them(ref: str, message: str) -> None:
    registry, _ = _registry()
    with pytest.raises(NodeError) as caught:
        await registry.list_tools([ref])
    assert caught.value.kind == "tool"
    assert caught.value.message == message


async def test_a_crashing_toolset_is_a_tool_error() -> None:
    registry = ToolRegistry([FakeToolset("bad", ["x"], crash=True)])
    with pytest.raises(ToolError) as caught:
        await registry.call("bad.x", {}, idempotency_key="k")
    assert caught.value.kind == "tool"
    assert caught.value.message == "bad.x: the tool failed unexpectedly (KeyError)"


def test_model_names_are_safe_for_providers() -> None:
    assert model_name("mcp-srv", "files/read.v2") == "mcp-srv__files_read_v2"
    long = model_name("t", "x" * 100)
    assert len(long) == 64
    assert long != model_name("t", "x" * 99)


@pytest.mark.parametrize(
    ("stored", "field"),
    [
        (ToolsetConfig("Bad Name", "builtin", {"integration": "http"}), "name"),
        (ToolsetConfig("a__b", "builtin", {"integration": "http"}), "name"),
        (ToolsetConfig("ok", "ftp", {}), "kind"),
        (ToolsetConfig("ok", "builtin", {"integration": "fax"}), "integration"),
        (ToolsetConfig("ok", "builtin", {"integration": "http", "base_url": "ftp:x"}), "base_url"),
        (ToolsetConfig("ok", "builtin", {"integration": "http", "timeout": 0}), "timeout"),
        (
            ToolsetConfig("ok", "builtin", {"integration": "http", "max_result_bytes": "1"}),
            "max_result_bytes",
        ),
        (ToolsetConfig("ok", "builtin", {"integration": "http", "headers": {"a b": 1}}), "headers"),
    ],
)
def test_bad_configs_name_the_field(stored: ToolsetConfig, field: str) -> None:
    with pytest.raises(ToolsetConfigError) as caught:
        build_toolset(stored)
    assert caught.value.field == field


async def test_builtin_schemas_come_from_the_argument_models() -> None:
    toolset = build_toolset(ToolsetConfig("web", "builtin", {"integration": "http"}))
    (tool,) = await toolset.list_tools()
    assert tool.name == "request"
    assert tool.input_schema["required"] == ["url"]
    assert tool.input_schema["properties"]["method"]["enum"] == [
        "GET",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "HEAD",
    ]
    assert tool.input_schema["additionalProperties"] is False
