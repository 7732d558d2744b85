"""The LangGraph store API (/store): items by namespace and key, in the caller's space."""
