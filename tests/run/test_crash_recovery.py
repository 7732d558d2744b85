"""Real worker processes: SIGKILL one mid-run, another resumes from the journal.

Two workers run. A 5-step agent calls a counting HTTP server on 127.0.0.1. The third call is
slow; the worker holding the run is killed while it is in flight. The other worker (once the
lease expires) resumes within 15 s of the kill and finishes the run: steps 1, 2, 4 and 5
were called exactly once, step 3 twice with the same Idempotency-Key. Runs on SQLite (a
fresh file) and on PostgreSQL when AGENTDECK_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select

from agentdeck.app import build_runtime
from agentdeck.auth.service import AuthService
from agentdeck.config import Settings
from agentdeck.kit.db import transaction
from agentdeck.models import Job
from agentdeck.run import service
from agentdeck.run.settings import WorkerSettings
from tests.engine.conftest import LocalServer
from tests.factories import PASSWORD, create_agent_row, unique_email
from tests.run.conftest import principal_for

_PROC = Path(__file__).with_name("_worker_proc.py")
_ROOT = Path(__file__).parents[2]
_RESUME_WITHIN_S = 15.0
# Shorter than the defaults for speed; the defaults' bound is checked below.
_LEASE_S, _POLL_S = 3.0, 0.5


def test_default_lease_and_poll_resume_a_crashed_run_within_15_s() -> None:
    """A killed worker's lease ends at most lease_s after the kill (the last heartbeat
    renewed it to now + lease_s); another worker claims it at its next poll."""
    defaults = WorkerSettings.model_fields
    lease, poll = defaults["lease_s"].default, defaults["poll_s"].default
    assert lease + poll <= _RESUME_WITHIN_S
    assert lease + poll >= _LEASE_S + _POLL_S


def _spawn(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AGENTDECK_DB__URL": settings.resolved_db_url,
        "AGENTDECK_DATA_DIR": str(settings.data_dir),
        "AGENTDECK_ENV": "test",
        "AGENTDECK_WORKER__LEASE_S": str(_LEASE_S),
        "AGENTDECK_WORKER__POLL_S": str(_POLL_S),
        "AGENTDECK_LLM__WARM_LOCAL_MODEL": "false",  # a loading model would hold the GIL
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


async def _lease_holder(runtime: Any, run_id: uuid.UUID) -> int:
    """The pid of the worker holding the run's job (worker ids are host:pid:random)."""
    async with runtime.sessionmaker() as session:
        owner = await session.scalar(
            select(Job.lease_owner).where(Job.dedupe_key == f"run:{run_id}:1")
        )
    assert owner is not None
    return int(owner.split(":")[-2])


async def test_sigkill_mid_run_resumes_without_redoing_steps(
    server_db: Settings, local_server: LocalServer, tmp_path: Path
) -> None:
    runtime = build_runtime(server_db)
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
        local_server.log.delay_first["/s3"] = 3 * _LEASE_S
        log = tmp_path / "workers.log"
        workers = {p.pid: p for p in (_spawn(server_db, log), _spawn(server_db, log))}
        try:
            await _until(lambda: log.read_text().count("worker.started") == 2, 60, "workers")
            async with transaction(runtime.sessionmaker) as session:
                run = await service.create_run(session, principal, agent_id=agent["id"])
            await _until(lambda: local_server.log.count("/s3") == 1, 30, "step s3 in flight")
            holder = workers[await _lease_holder(runtime, run.id)]
            holder.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            holder.wait(5)
            await _until(lambda: local_server.log.count("/s3") == 2, 30, "step s3 resumed")
            resumed_after = time.monotonic() - killed_at
            done = await service.wait_for_run(runtime, run.id, timeout_s=40)
        finally:
            for proc in workers.values():
                if proc.poll() is None:
                    proc.terminate()
            for proc in workers.values():
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        assert done.status == "completed", (done.error, log.read_text()[-3000:])
        assert resumed_after <= _RESUME_WITHIN_S, resumed_after
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
