"""Real worker processes: one is SIGKILLed during an agent loop with tools, right after a
tool call finished; another resumes the run and no finished tool call is repeated.

The agent's model creates an issue, then lists issues; the GitHub-shaped server holds the
first listing, and the worker making it is killed. Its issue creation was recorded before
the model saw it, so the resumed step answers it from the record: exactly one issue is
created. The listing, unfinished at the kill, is made again with the same key. Runs on
SQLite (a fresh file) and on PostgreSQL when AGENTDECK_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from agentdeck.app import build_runtime
from agentdeck.auth.service import AuthService
from agentdeck.config import Settings
from agentdeck.credential import service as credentials
from agentdeck.credential.schemas import CredentialCreate
from agentdeck.kit.db import transaction
from agentdeck.run import service
from agentdeck.tool import service as toolsets
from agentdeck.tool.schemas import ToolsetCreate
from tests.factories import PASSWORD, create_agent_row, unique_email
from tests.run.conftest import principal_for
from tests.run.test_crash_recovery import _lease_holder, _until
from tests.tool.support import SECRET, GitHub
from tests.tools.servers import Recorded, Reply, loopback_allowed, serving

_PROC = Path(__file__).with_name("_tool_worker_proc.py")
_ROOT = Path(__file__).parents[2]
_LEASE_S, _POLL_S = 3.0, 0.5


def _spawn(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AGENTDECK_DB__URL": settings.resolved_db_url,
        "AGENTDECK_DATA_DIR": str(settings.data_dir),
        "AGENTDECK_ENV": "test",
        "AGENTDECK_WORKER__LEASE_S": str(_LEASE_S),
        "AGENTDECK_WORKER__POLL_S": str(_POLL_S),
        "AGENTDECK_LLM__WARM_LOCAL_MODEL": "false",
        "AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS": '["127.0.0.1"]',
        "PYTHONPATH": str(_ROOT),
    }
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, str(_PROC)], env=env, stdout=handle, stderr=subprocess.STDOUT
    )


def _holding_github() -> GitHub:
    """GitHub whose first issue listing never answers (the worker making it is killed)."""
    github = GitHub()
    listings: list[Recorded] = []

    @github.api.route("GET", "/repos/{owner}/{repo}/issues")
    async def listing(req: Recorded) -> Reply:
        listings.append(req)
        if len(listings) == 1:
            await asyncio.Event().wait()
        return Reply(200, github.issues)

    github.api._routes.insert(0, github.api._routes.pop())  # before the default listing
    return github


async def _setup(runtime: Any, github_url: str) -> tuple[Any, Any]:
    async with transaction(runtime.sessionmaker) as session:
        signup = await AuthService(session, runtime).signup(
            email=unique_email("toolcrash"), password=PASSWORD, name="C", org_name=None,
            invite_token=None,
        )  # fmt: skip
    tenant = SimpleNamespace(org_id=str(signup.org.id), user_id=str(signup.user.id))
    principal = await principal_for(runtime, tenant)  # type: ignore[arg-type]
    space = next(iter(principal.scope.space_roles))
    async with transaction(runtime.sessionmaker) as session:
        cred = await credentials.create(
            session, principal, runtime.cipher,
            CredentialCreate(name="gh", kind="bearer", token=SECRET),
        )  # fmt: skip
        access = toolsets.CredentialAccess(
            runtime.sessionmaker, runtime.cipher, principal.scope, runtime.http()
        )
        body = ToolsetCreate(
            space_id=space, name="github", kind="builtin",
            config={"integration": "github", "base_url": github_url}, credential_id=cred.id,
        )  # fmt: skip
        await toolsets.create(session, principal, access, body)
    spec = {"name": "crashy", "nodes": [
        {"id": "ag", "type": "agent", "prompt": "file it",
         "tools": ["github.create_issue", "github.list_issues"]},
    ]}  # fmt: skip
    app = SimpleNamespace(state=SimpleNamespace(runtime=runtime))
    agent = await create_agent_row(app, tenant.org_id, space, spec)
    return principal, agent


async def test_sigkill_during_agent_loop_never_repeats_a_finished_tool_call(
    server_db: Settings, tmp_path: Path
) -> None:
    runtime = build_runtime(server_db)
    github = _holding_github()
    try:
        with loopback_allowed():
            async with serving(github.api) as github_url:
                principal, agent = await _setup(runtime, github_url)
                log = tmp_path / "workers.log"
                workers = {p.pid: p for p in (_spawn(server_db, log), _spawn(server_db, log))}
                try:
                    await _until(
                        lambda: log.read_text().count("worker.started") == 2, 60, "workers"
                    )
                    async with transaction(runtime.sessionmaker) as session:
                        run = await service.create_run(session, principal, agent_id=agent["id"])

                    def gets() -> list[Recorded]:
                        return [r for r in github.requests if r.method == "GET"]

                    await _until(lambda: len(gets()) == 1, 30, "the listing in flight")
                    holder = workers[await _lease_holder(runtime, run.id)]
                    holder.send_signal(signal.SIGKILL)
                    holder.wait(5)
                    done = await service.wait_for_run(runtime, run.id, timeout_s=60)
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
        posts = [r for r in github.requests if r.method == "POST"]
        assert len(github.issues) == 1 and len(posts) == 1  # never called again
        assert posts[0].headers["idempotency-key"] == f"{run.id}:ag:0"
        assert [r.headers["idempotency-key"] for r in gets()] == [f"{run.id}:ag:1"] * 2
        created, listed = (json.loads(r) for r in json.loads(done.output))
        assert created["number"] == 1 and [i["number"] for i in listed] == [1]
        async with runtime.sessionmaker() as session:
            steps = await service.list_steps(session, principal, run.id)
        assert [(s.attempt, s.status) for s in steps if s.node_id == "ag"] == [
            (1, "running"),
            (2, "completed"),
        ]
        assert SECRET not in log.read_text()
    finally:
        await runtime.engine.dispose()
