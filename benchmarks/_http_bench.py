"""The scenarios, servers and report of `benchmarks/http.py` (run that; its docstring says
what is measured). Kept apart from it because that file, named like the standard library's
`http`, stands in for it when imported (see there)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

import _servers as srv

SCENARIOS = ["sequential", "first_event", "chain5_100", "sleep5_1000"]
SERVERS = ["langgraph", "sqlite", "postgres"]
MiB = 1024 * 1024


@dataclass
class Counts:
    sequential: int = 200
    first_event: int = 200
    chain5_clients: int = 100
    chain5_runs: int = 1000
    sleep5_clients: int = 1000
    timeout_s: float = 120.0


QUICK = Counts(20, 20, 10, 100, 50, 60.0)


@dataclass
class Target:
    """A server under test: where its API is, its process trees, its credential."""

    name: str
    urls: list[str]
    pids: list[int]
    api_key: str | None
    clients: list[LangGraphClient] = field(default_factory=list)

    def client(self, i: int, timeout_s: float) -> LangGraphClient:
        return get_client(
            url=self.urls[i % len(self.urls)],
            api_key=self.api_key,
            timeout=httpx.Timeout(timeout_s, connect=30.0, pool=30.0),
        )


@dataclass
class Result:
    scenario: str
    server: str
    latencies_ms: list[float]
    wall_s: float
    errors: int
    cpu_s: float
    peak_rss: int
    first_error: str = ""
    error_kinds: Counter[str] = field(default_factory=Counter)

    @property
    def runs(self) -> int:
        return len(self.latencies_ms) + self.errors

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    @property
    def per_s(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_ms_per_run(self) -> float:
        return self.cpu_s * 1000 / max(1, self.runs)


def _ok(values: Any) -> bool:
    return isinstance(values, dict) and "__error__" not in values


async def _wait(client: LangGraphClient, graph: str, i: int) -> float:
    started = time.perf_counter()
    values = await client.runs.wait(None, graph, input={"x": f"hello {i}"})
    if not _ok(values):
        raise RuntimeError(f"run failed: {srv.describe(values)}")
    return (time.perf_counter() - started) * 1000


async def _first_event(client: LangGraphClient, _graph: str, i: int) -> float:
    """Time to the first `updates` event; the stream is read to its end."""
    started = time.perf_counter()
    first: float | None = None
    async for part in client.runs.stream(
        None, "chain5", input={"x": f"hello {i}"}, stream_mode="updates"
    ):
        if part.event == "updates" and first is None:
            first = (time.perf_counter() - started) * 1000
        if part.event == "error":
            raise RuntimeError(f"stream error: {srv.describe(part.data)}")
    if first is None:
        raise RuntimeError("no updates event")
    return first


Once = Callable[[LangGraphClient, str, int], Awaitable[float]]


async def _measure(
    target: Target, scenario: str, clients: int, runs: int, once: Once, graph: str, c: Counts
) -> Result:
    """``runs`` runs spread over ``clients`` concurrent clients, each its own SDK client."""
    pool = [target.client(i, c.timeout_s) for i in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    kinds: Counter[str] = Counter()
    next_run = iter(range(runs))

    async def client_loop(client: LangGraphClient) -> None:
        for i in next_run:
            try:
                latencies.append(await once(client, graph, i))
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}"[:300])
                status = getattr(getattr(exc, "response", None), "status_code", None)
                kinds[type(exc).__name__ + (f" {status}" if status else "")] += 1

    cpu_before = srv.cpu_s(target.pids)
    with srv.RssPeak(target.pids) as rss:
        started = time.perf_counter()
        await asyncio.gather(*(client_loop(client) for client in pool))
        wall = time.perf_counter() - started
    cpu = srv.cpu_s(target.pids) - cpu_before
    for client in pool:
        await client.aclose()
    first = (errors or [""])[0]
    return Result(scenario, target.name, latencies, wall, len(errors), cpu, rss.peak, first, kinds)


async def _warm(target: Target) -> None:
    client = target.client(0, 120)
    try:
        for i in range(5):
            await _wait(client, "chain5", i)
            await _first_event(client, "chain5", i)
        await _wait(client, "sleep5", 0)
    finally:
        await client.aclose()


async def run_scenarios(target: Target, scenarios: list[str], c: Counts) -> list[Result]:
    await _warm(target)
    plan: dict[str, tuple[int, int, Once, str]] = {
        "sequential": (1, c.sequential, _wait, "chain5"),
        "first_event": (1, c.first_event, _first_event, "chain5"),
        "chain5_100": (c.chain5_clients, c.chain5_runs, _wait, "chain5"),
        "sleep5_1000": (c.sleep5_clients, c.sleep5_clients, _wait, "sleep5"),
    }
    results = []
    for name in scenarios:
        clients, runs, once, graph = plan[name]
        result = await _measure(target, name, clients, runs, once, graph, c)
        print(f"  {target.name:<9} {name:<12} {_line(result)}", flush=True)
        if result.first_error:
            print(f"    errors by kind: {dict(result.error_kinds)}", flush=True)
            print(f"    first error: {result.first_error}", flush=True)
        results.append(result)
    return results


# --- servers -------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def langgraph_server(upstream: int, work: Path) -> AsyncIterator[Target]:
    proc, url = await srv.start_langgraph(upstream, work / "langgraph.log")
    try:
        yield Target("langgraph", [url], [proc.pid], None)
    finally:
        srv.stop(proc)


@contextlib.asynccontextmanager
async def agentdeck_server(
    kind: str, upstream: int, work: Path, pg: str, models: bool, extra: dict[str, str]
) -> AsyncIterator[Target]:
    data_dir = work / f"agentdeck-{kind}"
    data_dir.mkdir()
    if not models:
        extra = {"AGENTDECK_LLM__WARM_LOCAL_MODEL": "false", **extra}
    db_url = await srv.create_database(pg) if kind == "postgres" else None
    env = srv.deck_env(data_dir, upstream, db_url, extra)
    deck: srv.Deck | None = None
    try:
        if db_url:
            srv.migrate(env, data_dir / "migrate.log")
            deck = await srv.start_deck(env, data_dir, apis=2, workers=2, warm_model=models)
        else:
            deck = await srv.start_deck(env, data_dir, apis=1, workers=0, warm_model=models)
        tenant = await srv.setup_tenant(deck.urls[0], upstream, [srv.CHAIN5_YAML, srv.SLEEP5_YAML])
        if models:
            await srv.warm_embedder(deck.urls[0], tenant)
        urls = [u + "/api/v1" for u in deck.urls]
        yield Target(f"ad-{kind}", urls, deck.pids, tenant.key)
    finally:
        if deck is not None:
            deck.stop()
        if db_url:
            await srv.drop_database(db_url)


# --- report ----------------------------------------------------------------------------------


def _line(r: Result) -> str:
    return (
        f"p50 {r.pct(50):8.1f} ms  p99 {r.pct(99):8.1f} ms  {r.per_s:7.1f} runs/s  "
        f"wall {r.wall_s:6.1f} s  errors {r.errors:4d}/{r.runs:<5d} "
        f"CPU {r.cpu_ms_per_run:6.1f} ms/run  peak RSS {r.peak_rss / MiB:6.0f} MiB"
    )


def _mark(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _targets(r: Result, by: dict[tuple[str, str], Result]) -> list[str]:
    """Issue 13's targets for an agentdeck result."""
    out: list[str] = []
    if r.scenario in ("sequential", "first_event"):
        out.append(f"p50 <= 5 ms: {_mark(r.pct(50) <= 5)}")
    elif r.scenario == "chain5_100":
        lg = by.get(("chain5_100", "langgraph"))
        if lg is not None and lg.per_s:
            ratio = r.per_s / lg.per_s
            out.append(f">= 4x LangGraph runs/s ({ratio:.1f}x): {_mark(ratio >= 4)}")
    elif r.scenario == "sleep5_1000":
        out.append(f"wall <= 2 s: {_mark(r.wall_s <= 2)}")
        out.append(f"0 errors: {_mark(r.errors == 0)}")
        out.append(f"RSS <= 400 MiB: {_mark(r.peak_rss <= 400 * MiB)}")
    lite = by.get((r.scenario, "ad-sqlite"))
    if r.server == "ad-postgres" and lite is not None:
        if r.scenario == "sleep5_1000":
            ratio = r.wall_s / lite.wall_s
        elif r.scenario == "chain5_100":
            ratio = lite.per_s / r.per_s if r.per_s else float("inf")
        else:
            ratio = r.pct(50) / lite.pct(50)
        out.append(f"within 1.5x of SQLite ({ratio:.2f}x): {_mark(ratio <= 1.5)}")
    return out


def report(results: list[Result]) -> None:
    by = {(r.scenario, r.server): r for r in results}
    print("\n" + "=" * 100)
    print(f"{'scenario':<12} {'server':<11} {'p50 ms':>8} {'p99 ms':>8} {'runs/s':>8} "
          f"{'wall s':>7} {'errors':>8} {'CPU ms/run':>10} {'peak RSS':>9}  targets")  # fmt: skip
    for scenario in SCENARIOS:
        for server in ("langgraph", "ad-sqlite", "ad-postgres"):
            r = by.get((scenario, server))
            if r is None:
                continue
            goals = "; ".join(_targets(r, by)) if server != "langgraph" else ""
            print(
                f"{scenario:<12} {server:<11} {r.pct(50):8.1f} {r.pct(99):8.1f} {r.per_s:8.1f} "
                f"{r.wall_s:7.1f} {r.errors:>3d}/{r.runs:<4d} {r.cpu_ms_per_run:10.1f} "
                f"{r.peak_rss / MiB:5.0f} MiB  {goals}"
            )


async def main(args: argparse.Namespace) -> None:
    counts = QUICK if args.quick else Counts()
    if args.timeout:
        counts.timeout_s = args.timeout
    scenarios = [s for s in args.scenarios.split(",") if s]
    servers = [s for s in args.servers.split(",") if s]
    if unknown := {*scenarios} - {*SCENARIOS} | {*servers} - {*SERVERS}:
        raise SystemExit(f"unknown scenario or server: {sorted(unknown)}")
    extra = dict(kv.split("=", 1) for kv in args.agentdeck_env)
    work = srv.new_data_dir("agentdeck-bench-http-")
    print(f"work dir {work}; scenarios {scenarios}; servers {servers}; {counts}", flush=True)
    upstream, port = srv.start_upstream(work / "upstream.log")
    results: list[Result] = []
    try:
        for server in servers:
            started = time.perf_counter()
            if server == "langgraph":
                cm = langgraph_server(port, work)
            else:
                cm = agentdeck_server(server, port, work, args.pg, not args.no_models, extra)
            async with cm as target:
                print(f"{target.name}: ready in {time.perf_counter() - started:.1f} s", flush=True)
                results.extend(await run_scenarios(target, scenarios, counts))
    finally:
        srv.stop(upstream)
        report(results)
        print(f"\n(logs in {work}; the machine is shared, so the numbers are noisy)")


def cli(description: str) -> None:
    """Parse the command line and run the benchmark."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small counts (a smoke test)")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--servers", default=",".join(SERVERS))
    parser.add_argument("--pg", default=srv.PG_DEFAULT, help="PostgreSQL server (no database)")
    parser.add_argument("--no-models", action="store_true", help="do not warm the local models")
    parser.add_argument("--timeout", type=float, default=0, help="per-request timeout, s")
    parser.add_argument(
        "--agentdeck-env", action="append", default=[], metavar="K=V",
        help="extra AGENTDECK_* settings for every agentdeck process",
    )  # fmt: skip
    arguments = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main(arguments))
    except ImportError:
        asyncio.run(main(arguments))
