"""Prompts with immutable versions, declared variables and labels (a space-owned feature)."""
