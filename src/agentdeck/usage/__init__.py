"""LLM usage: one record per gateway call, written by :class:`DbUsageSink`, read as sums."""

from __future__ import annotations
