"""The tools library: toolsets (builtin adapters, OpenAPI operations, MCP servers), the
registry that builds them from stored configs and implements the engine's ``ToolPort``.

Pure: no web framework, no tables, no features; secrets arrive as callables.
"""
