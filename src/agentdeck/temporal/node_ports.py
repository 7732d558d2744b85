"""The ports a node activity executes with: the same adapters `run.tasks` wires for a run."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from agentdeck.engine import NodeError, Ports
from agentdeck.kit.db import transaction
from agentdeck.memory.run_memory import RunMemory
from agentdeck.prompt.resolver import SpacePrompts
from agentdeck.run.llm_port import load_llm_port
from agentdeck.run.ports import ChildRuns, SpaceKnowledge, SpaceTools
from agentdeck.run.services import LLMContext, RunServices
from agentdeck.run.tasks import LazyOrgLLM
from agentdeck.temporal._types import RunMeta


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


@asynccontextmanager
async def ports_for(
    sessionmaker: async_sessionmaker[AsyncSession],
    services: RunServices,
    run_id: str,
    meta: RunMeta,
) -> AsyncIterator[Ports]:
    """The run's ports for one node attempt; its tool connections close afterwards."""
    org, space = uuid.UUID(meta.org_id), uuid.UUID(meta.space_id)
    user, key = _uuid(meta.user_id), _uuid(meta.api_key_id)
    run = uuid.UUID(run_id)
    llm_ctx = LLMContext(
        org_id=org,
        space_id=space,
        run_id=run,
        agent_id=uuid.UUID(meta.agent_id),
        user_id=user,
        api_key_id=key,
    )
    if services.llm_factory is None and services.cipher is not None and user is not None:
        llm: object = LazyOrgLLM(sessionmaker, services, llm_ctx)  # loaded on the first call
    else:
        try:
            async with transaction(sessionmaker) as session:
                llm = await load_llm_port(session, services, llm_ctx)
        except NodeError:  # no model configuration: only the nodes calling a model fail
            llm = None
    tools = SpaceTools(
        sessionmaker,
        services.cipher,
        org_id=org,
        space_id=space,
        run_id=run,
        user_id=user,
        api_key_id=key,
    )
    try:
        yield Ports(
            llm=llm,  # type: ignore[arg-type]
            tools=tools,
            retrieval=SpaceKnowledge(sessionmaker, org_id=org, space_id=space),
            subagents=ChildRuns(sessionmaker),
            prompts=SpacePrompts(sessionmaker, org_id=org, space_id=space, user_id=user),
            memory=RunMemory(
                sessionmaker,
                org_id=org,
                space_id=space,
                thread_id=_uuid(meta.thread_id),
                user_id=user,
                api_key_id=key,
                end_user=meta.end_user,
            ),
            http=services.http(),
            allow_private_network=services.settings.allow_private_network,
        )
    finally:
        await tools.aclose()
