"""A served agentdeck (API and in-process worker) on SQLite and PostgreSQL whose models are
a scripted `Brain`, embedding by feature hashing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from agentdeck.app import create_app
from agentdeck.config import LLMSettings, Settings
from tests.memory.brain import Brain
from tests.offline_model import use_offline_models
from tests.tools.servers import serving


@dataclass
class Served:
    url: str
    brain: Brain


@pytest.fixture
async def served(server_db: Settings) -> AsyncIterator[Served]:
    settings = server_db.model_copy(update={"llm": LLMSettings(warm_local_model=False)})
    app = use_offline_models(create_app(settings, start_worker=True, configure_logs=False))
    brain = Brain()
    app.state.runtime.llm_model_factory = brain.factory
    async with serving(app) as url:
        yield Served(url, brain)
