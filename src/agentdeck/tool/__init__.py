"""Toolsets of a space (builtin, openapi, mcp) on top of the `tools` library."""
