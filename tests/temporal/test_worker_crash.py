"""Two real `agentdeck worker` processes on Temporal: SIGKILL the one running a node.

A 5-step agent calls a counting HTTP server on 127.0.0.1; the third call is slow. The worker
whose activity is making it (Temporal names it: the pending activity's last worker) is
killed; the server notices the lost heartbeat and the other worker runs the attempt again
with the same idempotency key and finishes the run: steps 1, 2, 4 and 5 were called exactly
once, step 3 twice. The same inside an agent loop the workflow drives: the worker making
the supervisor's second model turn is killed, and only that one call is made again.
SQLite (a fresh file) and PostgreSQL when AGENTDECK_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
from pydantic_ai import models
from temporalio.client import Client

from agentdeck.app import build_runtime
from agentdeck.auth.service import AuthService
from agentdeck.config import Settings
from agentdeck.kit.db import transaction
from agentdeck.run import service
from agentdeck.temporal.worker import attach
from examples import scripted_model
from tests.engine.conftest import LocalServer
from tests.examples.conftest import _read, make_deck
from tests.factories import PASSWORD, create_agent_row, unique_email
from tests.run.conftest import principal_for
from tests.temporal.conftest import serve, temporal_settings
from tests.tools.servers import loopback_allowed, serving

_PROC = Path(__file__).parents[1] / "run" / "_worker_proc.py"
_ROOT = Path(__file__).parents[2]


def _spawn(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    t = settings.temporal
    env = {
        **os.environ,
        "AGENTDECK_DB__URL": settings.resolved_db_url,
        "AGENTDECK_DATA_DIR": str(settings.data_dir),
        "AGENTDECK_ENV": "test",
        "AGENTDECK_ENGINE": "temporal",
        "AGENTDECK_TEMPORAL__ADDRESS": t.address,
        "AGENTDECK_TEMPORAL__TASK_QUEUE": t.task_queue,
        "AGENTDECK_TEMPORAL__HEARTBEAT_TIMEOUT_S": str(t.heartbeat_timeout_s),
        "AGENTDECK_LLM__WARM_LOCAL_MODEL": "false",
        "AGENTDECK_RUNS__ALLOW_PRIVATE_NETWORK": "true",
        "AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS": '["127.0.0.1"]',
        "PYTHONPATH": str(_ROOT),
    }
    return subprocess.Popen(
        [sys.executable, str(_PROC)], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


async def _until(check: Any, limit_s: float, what: str) -> None:
    for _ in range(int(limit_s / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def _activity_worker_pid(client: Any, run_id: uuid.UUID) -> int:
    """The pid of the worker running the run's pending activity (identity `pid@host`)."""
    handle = client.get_workflow_handle(str(run_id))
    for _ in range(200):
        pending = (await handle.describe()).raw_description.pending_activities
        if pending and pending[0].last_worker_identity:
            return int(pending[0].last_worker_identity.split("@")[0])
        await asyncio.sleep(0.05)
    raise AssertionError("no pending activity")


async def test_sigkill_a_temporal_worker_mid_node(
    server_db: Settings, temporal_address: str, local_server: LocalServer, tmp_path: Path
) -> None:
    settings = temporal_settings(server_db, temporal_address)
    runtime = build_runtime(settings)
    executor = attach(runtime)
    try:
        async with transaction(runtime.sessionmaker) as session:
            signup = await AuthService(session, runtime).signup(
                email=unique_email("tcrash"), password=PASSWORD, name="C", org_name=None,
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
        local_server.log.delay_first["/s3"] = 20.0
        log = tmp_path / "workers.log"
        workers = {p.pid: p for p in (_spawn(settings, log), _spawn(settings, log))}
        try:
            started = "temporal.worker_started"
            await _until(lambda: log.read_text().count(started) == 2, 60, "workers")
            async with transaction(runtime.sessionmaker) as session:
                run = await service.create_run(session, principal, agent_id=agent["id"])
            await executor.settled()
            await _until(lambda: local_server.log.count("/s3") == 1, 30, "step s3 in flight")
            holder = workers[await _activity_worker_pid(await executor.client(), run.id)]
            holder.send_signal(signal.SIGKILL)
            holder.wait(5)
            await _until(lambda: local_server.log.count("/s3") == 2, 30, "step s3 again")
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
        counts = {f"/s{i}": local_server.log.count(f"/s{i}") for i in range(1, 6)}
        assert counts == {"/s1": 1, "/s2": 1, "/s3": 2, "/s4": 1, "/s5": 1}
        assert local_server.log.keys("/s3") == [f"{run.id}:s3", f"{run.id}:s3"]
        async with runtime.sessionmaker() as session:
            steps = await service.list_steps(session, principal, run.id)
        s3 = [(s.attempt, s.status) for s in steps if s.node_id == "s3"]
        assert s3 == [(1, "running"), (2, "completed")]
    finally:
        await runtime.engine.dispose()


class HeldModel:
    """The scripted model (examples/scripted_model.py) counting its calls by kind: `plan`
    (the supervisor's first turn), `specialist` (a child run's llm node), `merge` (the
    supervisor's turn after the tool results). The first `merge` call gets no answer until
    `release` is set: the worker making it is killed meanwhile."""

    def __init__(self) -> None:
        self.kinds: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].rstrip("/") != "/v1/chat/completions":
            await scripted_model.app(scope, receive, send)
            return
        body = await _read(receive)
        request = json.loads(body)
        messages = request.get("messages") or []
        if any(m.get("role") == "tool" for m in messages):
            kind = "merge"
        elif request.get("tools"):
            kind = "plan"
        else:
            kind = "specialist"
        self.kinds.append(kind)
        if kind == "merge" and self.kinds.count("merge") == 1:
            await self.release.wait()
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await scripted_model.app(scope, replay, send)


async def test_sigkill_mid_agent_loop_repeats_only_the_call_in_flight(
    server_db: Settings, temporal_address: str, tmp_path: Path
) -> None:
    """A worker killed during the supervisor's second model turn: the other worker makes
    that one call again; the first turn and both child runs (the tool calls) are not
    repeated, and the run completes with every step once."""
    settings = temporal_settings(server_db, temporal_address)
    model = HeldModel()
    log = tmp_path / "workers.log"
    async with (
        serving(model) as model_base,
        serve(settings, start_worker=False, real_models=True) as api,
        httpx.AsyncClient(base_url=api.url, timeout=60) as http,
    ):
        # after create_app, which sets the process's network policy
        with loopback_allowed(), models.override_allow_model_requests(True):
            deck = await make_deck(http, api.url, f"{model_base}/v1")
            for name in ("market-analyst", "risk-analyst", "supervisor"):
                await deck.import_example(name)
            workers = {p.pid: p for p in (_spawn(settings, log), _spawn(settings, log))}
            try:
                started = "temporal.worker_started"
                await _until(lambda: log.read_text().count(started) == 2, 60, "workers")
                thread = await deck.sdk.threads.create()
                tid = thread["thread_id"]
                created = await deck.sdk.runs.create(
                    tid, "launch-supervisor", input={"question": "Launch in Norway?"}
                )
                run_id = uuid.UUID(created["run_id"])
                await _until(lambda: "merge" in model.kinds, 60, "the second model turn")
                client = await Client.connect(temporal_address)
                holder = workers[await _activity_worker_pid(client, run_id)]
                holder.send_signal(signal.SIGKILL)
                holder.wait(5)
                await _until(lambda: model.kinds.count("merge") == 2, 30, "the turn again")
                await deck.sdk.runs.join(tid, str(run_id))
                run = await deck.get(f"/api/v1/runs/{run_id}")
                events = await deck.events(str(run_id))
            finally:
                model.release.set()
                await deck.sdk.aclose()
                for proc in workers.values():
                    if proc.poll() is None:
                        proc.terminate()
                for proc in workers.values():
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            assert run["status"] == "completed", (run["error"], log.read_text()[-3000:])
            assert sorted(model.kinds) == ["merge", "merge", "plan", "specialist", "specialist"]
            assert [t for t, _ in events].count("tool.called") == 2
            children = [d["run_id"] for t, d in events if t == "subagent.started"]
            assert len(children) == 2
            for child in children:
                steps = (await deck.get(f"/api/v1/runs/{child}/steps"))["items"]
                assert [(s["attempt"], s["status"]) for s in steps] == [(1, "completed")]
            (step,) = (await deck.get(f"/api/v1/runs/{run_id}/steps"))["items"]
            assert (step["attempt"], step["status"]) == (1, "completed")
