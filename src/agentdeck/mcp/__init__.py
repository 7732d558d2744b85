"""agentdeck as an MCP server (/mcp): the caller's agents and knowledge search as tools."""
