"""Worker fixtures: the app's runtime and reading a job back."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from agentdeck.models import Job
from agentdeck.runtime import Runtime


@pytest.fixture
def runtime(app: object) -> Runtime:
    rt: Runtime = app.state.runtime  # type: ignore[attr-defined]
    return rt


async def job_row(runtime: Runtime, job_id: uuid.UUID) -> Job:
    async with runtime.sessionmaker() as session:
        return (await session.execute(select(Job).where(Job.id == job_id))).scalar_one()
