"""Load with faults: runs on PostgreSQL with two workers, one SIGKILLed and restarted on a beat.

    .venv/bin/python benchmarks/soak.py [--runs 10000] [--seconds 180] [--kill-every 30]
        [--drain 600] [--pg URL] [--quick]

A new database on `--pg` (`agentdeck migrate`), one `agentdeck serve --no-worker` and two
`agentdeck worker` processes. The agent `soak` has three `http` nodes in a row, each a POST
to a step-counting server on 127.0.0.1 (`_fake_model.py`'s `/count/<node>`), which counts
the calls per `Idempotency-Key` (`<run id>:<node id>`, the same on every attempt of a step).
Clients create `--runs` runs (a thread, then a background run on it) at an even pace over
`--seconds`; every `--kill-every` seconds worker 0 is SIGKILLed and started again. Then the
script waits up to `--drain` seconds for every run to end, and prints the tally:

- runs lost: acknowledged (201) but unknown to the API, or ended failed or cancelled;
- finished steps repeated: a step called again although an attempt of it had completed
  (journal attempts from `GET /runs/{id}/steps` against the server's call counts);
- runs not in a final status at the end;
plus, as information, steps re-run because their worker died mid-call (allowed), runs whose
steps were not all called, and create requests that failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

import _servers as srv

FINAL = {"completed", "failed", "cancelled", "interrupted"}
NODES = ["s1", "s2", "s3"]
CLIENTS = 32


def _agent(upstream: int) -> str:
    lines = ["name: soak", "description: Three counted HTTP steps in a row.", "nodes:"]
    for i, node in enumerate(NODES):
        needs = f", needs: [{NODES[i - 1]}]" if i else ""
        url = f"http://127.0.0.1:{upstream}/count/{node}"
        lines.append(f"  - {{id: {node}, type: http, method: POST, url: '{url}'{needs}}}")
    return "\n".join(lines) + "\n"


@dataclass
class Load:
    acknowledged: list[str] = field(default_factory=list)
    create_errors: Counter[str] = field(default_factory=Counter)
    kills: int = 0


async def _create(api: httpx.AsyncClient, i: int, load: Load) -> None:
    try:
        thread = await api.post("/threads", json={})
        thread.raise_for_status()
        run = await api.post(
            f"/threads/{thread.json()['thread_id']}/runs",
            json={"assistant_id": "soak", "input": {"i": i}},
        )
        run.raise_for_status()
        load.acknowledged.append(run.json()["run_id"])
    except httpx.HTTPStatusError as exc:
        load.create_errors[f"{exc.response.status_code}"] += 1
    except httpx.HTTPError as exc:
        load.create_errors[type(exc).__name__] += 1


async def _submit(api: httpx.AsyncClient, runs: int, seconds: float, load: Load) -> None:
    """``runs`` creations at an even pace over ``seconds``, at most CLIENTS at once."""
    gate = asyncio.Semaphore(CLIENTS)
    started = time.monotonic()
    tasks = []

    async def one(i: int) -> None:
        async with gate:
            await _create(api, i, load)

    for i in range(runs):
        delay = started + i * seconds / runs - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i)))
        if i % 1000 == 999:
            print(f"  {i + 1} runs submitted at {time.monotonic() - started:.0f} s", flush=True)
    await asyncio.gather(*tasks)


async def _killer(deck: srv.Deck, every_s: float, stop: asyncio.Event, load: Load) -> None:
    """SIGKILL worker 0 every ``every_s`` and start a new one in its place."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), every_s)
            return
        except TimeoutError:
            pass
        old = deck.workers[0]
        srv.kill(old)
        load.kills += 1
        argv = [srv.agentdeck_bin(), "worker"]
        deck.workers[0] = srv.spawn("worker0", argv, deck.env, old.log)
        print(f"  killed worker pid {old.pid}; started pid {deck.workers[0].pid}", flush=True)


async def _statuses(api: httpx.AsyncClient) -> dict[str, str]:
    """Every run's status, by paging through GET /runs."""
    found: dict[str, str] = {}
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 200} | ({"cursor": cursor} if cursor else {})
        page = await api.get("/runs", params=params)
        page.raise_for_status()
        body = page.json()
        found.update({r["id"]: r["status"] for r in body["items"]})
        cursor = body.get("next_cursor")
        if not cursor:
            return found


async def _drain(api: httpx.AsyncClient, ids: list[str], limit_s: float) -> dict[str, str]:
    deadline = time.monotonic() + limit_s
    while True:
        statuses = await _statuses(api)
        open_runs = sum(1 for i in ids if statuses.get(i) not in FINAL)
        if not open_runs or time.monotonic() > deadline:
            return statuses
        print(f"  {open_runs} runs not final yet", flush=True)
        await asyncio.sleep(5)


async def _step_audit(
    api: httpx.AsyncClient, statuses: dict[str, str], ids: list[str], calls: dict[str, int]
) -> tuple[int, int, int, list[str]]:
    """(finished steps repeated, unfinished steps re-run, completed runs missing a call,
    examples) from the journal's attempts and the server's call counts."""
    repeated = rerun = incomplete = 0
    examples: list[str] = []
    for run_id in ids:
        if statuses.get(run_id) == "completed" and any(
            calls.get(f"{run_id}:{n}", 0) == 0 for n in NODES
        ):
            incomplete += 1
    suspects = sorted({key.rsplit(":", 1)[0] for key, n in calls.items() if n > 1})
    for run_id in suspects:
        steps = (await api.get(f"/runs/{run_id}/steps")).json()["items"]
        for node in NODES:
            n = calls.get(f"{run_id}:{node}", 0)
            if n <= 1:
                continue
            attempts = sorted((s["attempt"], s["status"]) for s in steps if s["node_id"] == node)
            completed_before_last = sum(1 for _, st in attempts[:-1] if st == "completed")
            if completed_before_last or n > len(attempts):
                repeated += n - 1
                if len(examples) < 5:
                    examples.append(f"{run_id}:{node} called {n}x, attempts {attempts}")
            else:
                rerun += n - 1
    return repeated, rerun, incomplete, examples


async def main(args: argparse.Namespace) -> None:
    work = srv.new_data_dir("agentdeck-bench-soak-")
    print(f"work dir {work}; {args.runs} runs over {args.seconds} s, kill every "
          f"{args.kill_every} s, drain up to {args.drain} s", flush=True)  # fmt: skip
    upstream, port = srv.start_upstream(work / "upstream.log")
    data_dir = work / "agentdeck"
    data_dir.mkdir()
    db_url = await srv.create_database(args.pg)
    env = srv.deck_env(data_dir, port, db_url, {"AGENTDECK_LLM__WARM_LOCAL_MODEL": "false"})
    deck: srv.Deck | None = None
    load = Load()
    try:
        srv.migrate(env, data_dir / "migrate.log")
        deck = await srv.start_deck(env, data_dir, apis=1, workers=2, warm_model=False)
        tenant = await srv.setup_tenant(deck.urls[0], port, [_agent(port)])
        limits = httpx.Limits(max_connections=CLIENTS, max_keepalive_connections=CLIENTS)
        async with httpx.AsyncClient(
            base_url=deck.urls[0] + "/api/v1", headers={"X-Api-Key": tenant.key},
            timeout=httpx.Timeout(60, pool=600), limits=limits,
        ) as api:  # fmt: skip
            stop = asyncio.Event()
            killer = asyncio.create_task(_killer(deck, args.kill_every, stop, load))
            started = time.monotonic()
            await _submit(api, args.runs, args.seconds, load)
            submitted = time.monotonic() - started
            stop.set()
            await killer
            statuses = await _drain(api, load.acknowledged, args.drain)
            ended = time.monotonic() - started
            async with httpx.AsyncClient(timeout=60) as plain:
                calls = json.loads((await plain.get(f"http://127.0.0.1:{port}/counts")).content)
            audit = await _step_audit(api, statuses, load.acknowledged, calls)
        _tally(load, statuses, audit, submitted, ended)
    finally:
        if deck is not None:
            deck.stop()
        srv.stop(upstream)
        await srv.drop_database(db_url)
        print(f"(logs in {work})")


def _tally(
    load: Load,
    statuses: dict[str, str],
    audit: tuple[int, int, int, list[str]],
    submitted_s: float,
    ended_s: float,
) -> None:
    ids = load.acknowledged
    missing = sum(1 for i in ids if i not in statuses)
    ended_badly = Counter(statuses[i] for i in ids if statuses.get(i) in {"failed", "cancelled"})
    not_final = Counter(statuses[i] for i in ids if i in statuses and statuses[i] not in FINAL)
    repeated, rerun, incomplete, examples = audit
    lost = missing + sum(ended_badly.values())
    print("\n" + "=" * 72)
    print(f"runs acknowledged          {len(ids):>7}   (create errors: {dict(load.create_errors)})")
    print(f"submitted in               {submitted_s:>7.1f} s; all ended after {ended_s:.1f} s")
    print(f"worker SIGKILLs            {load.kills:>7}")
    print(f"runs lost                  {lost:>7}   {_verdict(lost)} (missing {missing}, "
          f"ended {dict(ended_badly)})")  # fmt: skip
    print(f"finished steps repeated    {repeated:>7}   {_verdict(repeated)}")
    print(f"runs not final at the end  {sum(not_final.values()):>7}   "
          f"{_verdict(sum(not_final.values()))} {dict(not_final)}")  # fmt: skip
    print(f"(info) steps re-run after a kill mid-call: {rerun}; completed runs with a step "
          f"never called: {incomplete}")  # fmt: skip
    for example in examples:
        print(f"  repeated: {example}")


def _verdict(n: int) -> str:
    return "PASS" if n == 0 else "FAIL"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--kill-every", type=float, default=30.0)
    parser.add_argument("--drain", type=float, default=600.0)
    parser.add_argument("--pg", default=srv.PG_DEFAULT, help="PostgreSQL server (no database)")
    parser.add_argument("--quick", action="store_true", help="300 runs over 30 s, kill every 10 s")
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.runs, arguments.seconds, arguments.kill_every = 300, 30.0, 10.0
    asyncio.run(main(arguments))
