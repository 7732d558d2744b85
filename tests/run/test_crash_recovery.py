"""Real worker processes: SIGKILL one mid-run, another resumes from the journal.

A 5-step agent calls a counting HTTP server on 127.0.0.1. The third call is slow; the
worker is killed while it is in flight. The next worker (after the 1.5 s lease expires)
finishes the run: steps 1, 2, 4 and 5 were called exactly once, step 3 twice with the same
Idempotency-Key. Runs on SQLite (a fresh file) and on PostgreSQL when
AGENTDECK_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from agentdeck.app import build_runtime
from agentdeck.auth.service import AuthService
from agentdeck.config import AuthSettings, DatabaseSettings, Settings
from agentdeck.kit.db import transaction
from agentdeck.migrations import upgrade_to_head_async
from agentdeck.run import service
from tests.engine.conftest import LocalServer
from tests.factories import PASSWORD, create_agent_row, unique_email
from tests.run.conftest import principal_for

_PROC = Path(__file__).with_name("_worker_proc.py")
_ROOT = Path(__file__).parents[2]


def _urls() -> list[Any]:
    pg = os.environ.get("AGENTDECK_TEST_DATABASE_URL")
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param(pg, id="postgresql", marks=pytest.mark.skipif(not pg, reason="no PostgreSQL")),
    ]


@pytest.fixture(params=_urls())
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Settings]:
    url = request.param
    if url == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'crash.db'}"
        await upgrade_to_head_async(url)
    settings = Settings(
        env="test",
        data_dir=tmp_path,
        db=DatabaseSettings(url=url),
        auth=AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024),
    )
    yield settings


def _spawn(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AGENTDECK_DB__URL": settings.resolved_db_url,
        "AGENTDECK_DATA_DIR": str(settings.data_dir),
        "AGENTDECK_ENV": "test",
        "AGENTDECK_WORKER__LEASE_S": "1.5",
        "AGENTDECK_WORKER__POLL_S": "0.1",
        "AGENTDECK_RUNS__ALLOW_PRIVATE_NETWORK": "true",
        "PYTHONPATH": str(_ROOT),
    }
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, str(_PROC)], env=env, stdout=handle, stderr=subprocess.STDOUT
    )


async def _until(check: Any, limit_s: float, what: str) -> None:
    for _ in range(int(limit_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def test_sigkill_mid_run_resumes_without_redoing_steps(
    db: Settings, local_server: LocalServer, tmp_path: Path
) -> None:
    runtime = build_runtime(db)
    try:
        async with transaction(runtime.sessionmaker) as session:
            signup = await AuthService(session, runtime).signup(
                email=unique_email("crash"), password=PASSWORD, name="C", org_name=None,
                invite_token=None,
            )  # fmt: skip
        tenant = SimpleNamespace(org_id=str(signup.org.id), user_id=str(signup.user.id))
        principal = await principal_for(runtime, tenant)  # type: ignore[arg-type]
        space = next(s for s, _ in principal.scope.space_roles.items())
        nodes = [
            {"id": f"s{i}", "type": "http", "method": "POST", "url": f"{local_server.url}/s{i}"}
            | ({"needs": [f"s{i - 1}"]} if i > 1 else {})
            for i in range(1, 6)
        ]
        agent = await create_agent_row(
            SimpleNamespace(state=SimpleNamespace(runtime=runtime)), tenant.org_id, space,
            {"name": "crash", "nodes": nodes},
        )  # fmt: skip
        local_server.log.delay_first["/s3"] = 3.0
        log = tmp_path / "workers.log"
        first = _spawn(db, log)
        try:
            async with transaction(runtime.sessionmaker) as session:
                run = await service.create_run(session, principal, agent_id=agent["id"])
            await _until(lambda: local_server.log.count("/s3") == 1, 30, "step s3 in flight")
            first.send_signal(signal.SIGKILL)
            first.wait(5)
            second = _spawn(db, log)
            try:
                done = await service.wait_for_run(runtime, run.id, timeout_s=40)
            finally:
                second.terminate()
                second.wait(15)
        finally:
            if first.poll() is None:
                first.kill()
        assert done.status == "completed", (done.error, log.read_text()[-3000:])
        counts = {f"/s{i}": local_server.log.count(f"/s{i}") for i in range(1, 6)}
        assert counts == {"/s1": 1, "/s2": 1, "/s3": 2, "/s4": 1, "/s5": 1}
        keys = local_server.log.keys("/s3")
        assert keys == [f"{run.id}:s3", f"{run.id}:s3"]
        async with runtime.sessionmaker() as session:
            steps = await service.list_steps(session, principal, run.id)
        s3 = [(s.attempt, s.status) for s in steps if s.node_id == "s3"]
        assert s3 == [(1, "running"), (2, "completed")]
        assert uuid.UUID(str(done.id)) == run.id
    finally:
        await runtime.engine.dispose()
