from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentdeck.engine import MemoryJournal

from .journal_conformance import JournalConformance


class TestMemoryJournal(JournalConformance):
    @pytest.fixture
    async def journal(self) -> AsyncIterator[MemoryJournal]:  # type: ignore[override]
        yield MemoryJournal()
