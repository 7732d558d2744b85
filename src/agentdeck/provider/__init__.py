"""LLM providers per organisation: credentials encrypted at rest, connectivity tests."""

from __future__ import annotations
