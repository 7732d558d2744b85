"""The process-wide objects of one agentdeck process, built once at start-up.

No FastAPI here: services, jobs and the CLI receive the runtime as a plain object (endpoints
get it by dependency, `api.RuntimeDep`).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from agentdeck.config import Settings
from agentdeck.kit import netguard
from agentdeck.kit.crypto import Cipher
from agentdeck.llm import Gateway
from agentdeck.llm.providers import ModelFactory
from agentdeck.run.settings import network_policy


@dataclass
class Runtime:
    """Process-wide objects the API needs, built once by ``create_app``."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    cipher: Cipher
    jwt_secret: str
    http_client: httpx2.AsyncClient | None = None
    # The LLM gateway (built on first use by agentdeck.gateway.service.get_gateway) and, in
    # tests, the pydantic-ai model factory it uses instead of real providers.
    gateway: Gateway | None = None
    llm_model_factory: ModelFactory | None = None

    def __post_init__(self) -> None:
        # The one outbound network policy of the process, from its settings.
        netguard.configure(network_policy(self.settings))

    def http(self) -> httpx2.AsyncClient:
        """The shared outbound HTTP client (created on first use; tests may replace it).
        Every request obeys the network policy (`kit.netguard.GuardedTransport`)."""
        if self.http_client is None:
            self.http_client = netguard.guarded_client(timeout=30.0, follow_redirects=False)
        return self.http_client
