"""Monthly spending limits per organisation and per space, checked before every LLM call."""

from __future__ import annotations
