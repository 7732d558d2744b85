"""Validation time of large agent definitions: 1,000 / 5,000 / 10,000 chained nodes.

Prints, per size, the time to validate the definition in this process (what the agents API
runs: bounds, schema, graph and template checks) and, with ``--url``, the time of the POST
that creates the agent through a running server, with the slowest `/healthz` answered
while that POST ran (validation runs off the event loop, so other requests keep flowing).

Each node needs the one before it (`n{i}` needs `n{i-1}`). With ``--templates`` every node
also reads its predecessor's output through a template (`{{ steps.n{i-1}.output }}`).

The node-count limit answers 422 above the server's `agents.max_nodes` (default 2000), so
start the server for this benchmark with a higher limit:

    AGENTDECK_DATA_DIR=$(mktemp -d) AGENTDECK_AGENTS__MAX_NODES=20000 \\
        .venv/bin/agentdeck serve --port 8123 --no-worker &
    .venv/bin/python benchmarks/validate_large.py --url http://127.0.0.1:8123
    .venv/bin/python benchmarks/validate_large.py --url http://127.0.0.1:8123 --templates

Without ``--url`` only the in-process times are printed. Times are the best of ``--repeat``
runs (wall clock; CPU time of this process in brackets for the in-process column).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from typing import Any

import httpx

from agentdeck.engine.validate import parse_definition

SIZES = (1000, 5000, 10_000)


def chain(n: int, *, templates: bool = False) -> dict[str, Any]:
    """A definition of ``n`` transform nodes, each needing the one before."""
    nodes: list[dict[str, Any]] = [{"id": "n0", "type": "transform", "value": 0}]
    for i in range(1, n):
        value: Any = "{{ steps.n" + str(i - 1) + ".output }}" if templates else i
        nodes.append({"id": f"n{i}", "type": "transform", "needs": [f"n{i - 1}"], "value": value})
    return {"name": f"chain-{n}-{uuid.uuid4().hex[:8]}", "nodes": nodes}


def in_process(n: int, *, templates: bool, repeat: int) -> tuple[float, float]:
    """Best (wall ms, CPU ms) of validating a chain of ``n`` nodes."""
    data = chain(n, templates=templates)
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        parse_definition(data, max_nodes=max(SIZES))
        took = ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
        best = min(best, took)
    return best


async def _signup(client: httpx.AsyncClient) -> tuple[dict[str, str], str]:
    email = f"bench-{uuid.uuid4().hex[:12]}@example.org"
    resp = await client.post(
        "/api/v1/auth/signup",
        json={"email": email, "password": "benchmark password 1", "name": "Bench", "org_name": "B"},
    )
    resp.raise_for_status()
    headers = {"Authorization": f"Bearer {resp.json()['access_token']}"}
    spaces = (await client.get("/api/v1/spaces", headers=headers)).json()["items"]
    return headers, next(s["id"] for s in spaces if s["is_personal"])


async def _health_while(client: httpx.AsyncClient, done: asyncio.Event) -> float:
    """The slowest `/healthz` (ms) while ``done`` is unset; bounded to 2,000 probes."""
    worst = 0.0
    for _ in range(2000):
        if done.is_set():
            break
        start = time.perf_counter()
        (await client.get("/healthz")).raise_for_status()
        worst = max(worst, (time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.005)
    return worst


async def over_http(url: str, n: int, *, templates: bool, repeat: int) -> tuple[float, float]:
    """Best POST /api/v1/agents time (ms) and the slowest `/healthz` meanwhile (ms)."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=120) as client,
        httpx.AsyncClient(base_url=url, timeout=120) as probe,
    ):
        headers, space = await _signup(client)
        best, worst_health = float("inf"), 0.0
        for _ in range(repeat):
            body = json.dumps({"space_id": space, "definition": chain(n, templates=templates)})
            done = asyncio.Event()
            health = asyncio.create_task(_health_while(probe, done))
            start = time.perf_counter()
            resp = await client.post(
                "/api/v1/agents",
                content=body,
                headers={**headers, "Content-Type": "application/json"},
            )
            took = (time.perf_counter() - start) * 1000
            done.set()
            worst_health = max(worst_health, await health)
            if resp.status_code != 201:
                raise SystemExit(f"{n} nodes: HTTP {resp.status_code} {resp.text[:300]}")
            best = min(best, took)
        return best, worst_health


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running agentdeck server (see the docstring)")
    parser.add_argument("--templates", action="store_true", help="each node reads a template")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    kind = "templated" if args.templates else "plain"
    print(f"chained nodes ({kind}) | in-process ms (cpu) | HTTP POST ms | worst /healthz ms")
    for n in SIZES:
        wall, cpu = in_process(n, templates=args.templates, repeat=args.repeat)
        row = f"{n:>6} | {wall:8.1f} ({cpu:6.1f})"
        if args.url:
            post, health = asyncio.run(
                over_http(args.url, n, templates=args.templates, repeat=args.repeat)
            )
            row += f" | {post:8.1f} | {health:8.1f}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
