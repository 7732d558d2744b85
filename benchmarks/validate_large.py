"""Saving large agent definitions: 1,000 / 5,000 / 10,000 chained nodes, as JSON and YAML.

Prints, per size, the time of the work the agents API does to save a definition, in this
process: for JSON the body's parse (`json.loads`) and `agent.service.validated`; for YAML
`validated` on the text (the bounded YAML load). `validated` is what the API runs in a
worker thread: bounds, the schema, the graph, templates and the stored JSON form. This
process imports the whole app first, so the garbage collector has a server's heap to walk.

With ``--url`` it also prints, per size, the time of `POST /api/v1/agents` (JSON body) and
of `POST /api/v1/agents/import` (the YAML text) against that server, each with the slowest
`/healthz` answered while it ran (the work runs off the event loop, so other requests keep
flowing). The server's times include its database writes.

Each node needs the one before it (`n{i}` needs `n{i-1}`). With ``--templates`` every node
also reads its predecessor's output through a template (`{{ steps.n{i-1}.output }}`).

The node-count limit answers 422 above the server's `agents.max_nodes` (default 2000), so
start the server for this benchmark with a higher limit:

    AGENTDECK_DATA_DIR=$(mktemp -d) AGENTDECK_AGENTS__MAX_NODES=20000 \\
        .venv/bin/agentdeck serve --host 127.0.0.1 --port 8123 --no-worker &
    .venv/bin/python benchmarks/validate_large.py --url http://127.0.0.1:8123
    .venv/bin/python benchmarks/validate_large.py --url http://127.0.0.1:8123 --templates

Times are the best of ``--repeat`` runs (wall clock; the CPU time of this process in
brackets for the in-process columns).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import yaml

import agentdeck.app  # noqa: F401  (the server's modules, so the heap is a server's)
from agentdeck.agent.service import validated

SIZES = (1000, 5000, 10_000)
KNOWN: dict[str, Any] = {"known_models": {"default"}, "known_tools": set(), "known_agents": set()}


def chain(n: int, *, templates: bool = False) -> dict[str, Any]:
    """A definition of ``n`` transform nodes, each needing the one before."""
    nodes: list[dict[str, Any]] = [{"id": "n0", "type": "transform", "value": 0}]
    for i in range(1, n):
        value: Any = "{{ steps.n" + str(i - 1) + ".output }}" if templates else i
        nodes.append({"id": f"n{i}", "type": "transform", "needs": [f"n{i - 1}"], "value": value})
    return {"name": f"chain-{n}-{uuid.uuid4().hex[:8]}", "nodes": nodes}


def as_yaml(definition: dict[str, Any]) -> str:
    """The definition as an exported agent's YAML (block style, in the author's order)."""
    return yaml.safe_dump(definition, sort_keys=False, allow_unicode=True)


def _best(work: Callable[[], object], repeat: int) -> tuple[float, float]:
    best = (float("inf"), float("inf"))
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        work()
        best = min(best, ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000))
    return best


def in_process(n: int, *, templates: bool, repeat: int) -> dict[str, tuple[float, float]]:
    """Best (wall ms, CPU ms) of saving a chain of ``n`` nodes from JSON and from YAML."""
    definition = chain(n, templates=templates)
    body, text = json.dumps(definition), as_yaml(definition)
    limit = max(SIZES)

    def from_json() -> None:
        validated(definition=json.loads(body), max_nodes=limit, **KNOWN)

    def from_yaml() -> None:
        validated(source=text, max_nodes=limit, **KNOWN)

    return {"json": _best(from_json, repeat), "yaml": _best(from_yaml, repeat)}


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


async def _timed(
    probe: httpx.AsyncClient, request: Awaitable[httpx.Response], what: str
) -> tuple[float, float]:
    """(ms, slowest /healthz ms meanwhile) of one request; exits unless it answers 201."""
    done = asyncio.Event()
    health = asyncio.create_task(_health_while(probe, done))
    start = time.perf_counter()
    resp = await request
    took = (time.perf_counter() - start) * 1000
    done.set()
    worst = await health
    if resp.status_code != 201:
        raise SystemExit(f"{what}: HTTP {resp.status_code} {resp.text[:300]}")
    return took, worst


async def over_http(
    url: str, n: int, *, templates: bool, repeat: int
) -> dict[str, tuple[float, float]]:
    """Best (ms, slowest /healthz ms) of POST /agents (JSON) and POST /agents/import (YAML)."""
    async with (
        httpx.AsyncClient(base_url=url, timeout=120) as client,
        httpx.AsyncClient(base_url=url, timeout=120) as probe,
    ):
        headers, space = await _signup(client)
        best = {"json": (float("inf"), 0.0), "yaml": (float("inf"), 0.0)}
        for _ in range(repeat):
            body = json.dumps({"space_id": space, "definition": chain(n, templates=templates)})
            text = as_yaml(chain(n, templates=templates)).encode()
            requests = {
                "json": client.post(
                    "/api/v1/agents",
                    content=body,
                    headers={**headers, "Content-Type": "application/json"},
                ),
                "yaml": client.post(
                    "/api/v1/agents/import",
                    params={"space_id": space},
                    content=text,
                    headers={**headers, "Content-Type": "application/yaml"},
                ),
            }
            for kind, request in requests.items():
                took, health = await _timed(probe, request, f"{n} nodes ({kind})")
                best[kind] = (min(best[kind][0], took), max(best[kind][1], health))
        return best


def _row(
    n: int, local: dict[str, tuple[float, float]], remote: dict[str, tuple[float, float]]
) -> str:
    cells = [f"{wall:7.1f} ({cpu:6.1f})" for wall, cpu in (local["json"], local["yaml"])]
    cells += [f"{took:7.1f} ({health:6.1f})" for took, health in remote.values()]
    return f"{n:>6} | " + " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running agentdeck server (see the docstring)")
    parser.add_argument("--templates", action="store_true", help="each node reads a template")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    kind = "templated" if args.templates else "plain"
    head = f"chained nodes ({kind}) | in-process ms (cpu): JSON | YAML"
    if args.url:
        head += " | HTTP ms (worst /healthz ms): POST /agents | POST /agents/import"
    print(head)
    for n in SIZES:
        local = in_process(n, templates=args.templates, repeat=args.repeat)
        remote: dict[str, tuple[float, float]] = {}
        if args.url:
            remote = asyncio.run(
                over_http(args.url, n, templates=args.templates, repeat=args.repeat)
            )
        print(_row(n, local, remote), flush=True)


if __name__ == "__main__":
    main()
