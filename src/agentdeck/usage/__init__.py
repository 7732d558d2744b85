"""LLM usage: one record per gateway call, written by the gateway's :class:`UsageLedger`
(in batches, after the call), read as sums."""

from __future__ import annotations
