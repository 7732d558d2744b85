"""Profile agentdeck's server while clients create, wait for and stream chain5 runs.

    .venv/bin/python benchmarks/profile_http.py [--seconds 30] [--clients 4] [--no-models]
        [--out benchmarks/profiles/before-sqlite.txt]

Starts `agentdeck serve` (SQLite, a new data dir, the local model warm unless `--no-models`)
as `benchmarks/http.py` does, then runs `py-spy record` on it while `--clients` loops do,
over and over through `langgraph-sdk`: create a thread, `runs.create` chain5 on it,
`runs.join` it, then `runs.stream` a new chain5 run (`updates`) and `runs.wait` a stateless
one. Writes the top of the profile: functions by inclusive and by self time (share of the
server's samples), and the server CPU per run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import time
from collections import Counter
from pathlib import Path

from langgraph_sdk import get_client
from langgraph_sdk.client import LangGraphClient

import _servers as srv

TOP = 45


async def _loop(client: LangGraphClient, until: float, done: list[int]) -> None:
    i = 0
    while time.monotonic() < until:
        thread = await client.threads.create()
        run = await client.runs.create(thread["thread_id"], "chain5", input={"x": f"c{i}"})
        await client.runs.join(thread["thread_id"], run["run_id"])
        async for _ in client.runs.stream(None, "chain5", input={"x": f"s{i}"}):
            pass
        await client.runs.wait(None, "chain5", input={"x": f"w{i}"})
        done[0] += 3
        i += 1


# The launcher's frames are in every sample of the main thread: left out of the tables.
_LAUNCH = ("typer/", "click/", "<module>", "agentdeck/cli.py", "agentdeck/server.py",
           "uvicorn/server.py", "uvicorn/_compat.py", "asyncio/runners.py")  # fmt: skip


def _area(frame: str) -> str:
    """The package a frame's code lives in (agentdeck's to the subpackage)."""
    where = frame.rpartition("(")[2]
    parts = where.split("/")
    if parts[0] == "agentdeck" and len(parts) > 2:
        return "/".join(parts[:2])
    return parts[0].split(".py")[0] if len(parts) > 1 else "(stdlib) " + where.split(".py")[0]


def _summarise(raw: Path, title: str, cpu_ms: float) -> str:
    """Inclusive and self shares per function, and self share per package, from py-spy's
    folded stacks."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = [f for f in stack.split(";") if not any(k in f for k in _LAUNCH)]
        total += n
        if not frames:
            continue
        own[frames[-1]] += n
        areas[_area(frames[-1])] += n
        for frame in set(frames):
            inclusive[frame] += n
    out = [
        title,
        f"server CPU per run: {cpu_ms:.1f} ms; {total} samples. SQLAlchemy's async session",
        "runs statements in greenlets, whose frames py-spy shows without their callers.",
        "",
    ]
    tables = [("self time per package", areas, 25), ("inclusive time", inclusive, TOP),
              ("self time", own, TOP)]  # fmt: skip
    for name, table, top in tables:
        out.append(f"--- top {top} by {name} (% of samples) ---")
        out.extend(f"{n * 100 / total:6.1f}%  {frame}" for frame, n in table.most_common(top))
        out.append("")
    return "\n".join(out)


def _git_head() -> str:
    git = ["git", "rev-parse", "--short", "HEAD"]
    return subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()


def _write(raw: Path, out: Path, title: str, cpu_ms: float) -> str:
    text = _summarise(raw, title, cpu_ms)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    return text


async def main(args: argparse.Namespace) -> None:
    work = srv.new_data_dir("agentdeck-bench-profile-")
    upstream, port = srv.start_upstream(work / "upstream.log")
    data_dir = work / "agentdeck"
    data_dir.mkdir()
    extra = {} if not args.no_models else {"AGENTDECK_LLM__WARM_LOCAL_MODEL": "false"}
    env = srv.deck_env(data_dir, port, None, extra)
    deck = await srv.start_deck(env, data_dir, apis=1, workers=0, warm_model=not args.no_models)
    try:
        tenant = await srv.setup_tenant(deck.urls[0], port, [srv.CHAIN5_YAML])
        if not args.no_models:
            await srv.warm_embedder(deck.urls[0], tenant)
        url = deck.urls[0] + "/api/v1"
        clients = [get_client(url=url, api_key=tenant.key) for _ in range(args.clients)]
        await _loop(clients[0], time.monotonic() + 3, [0])  # warm-up
        raw = work / "profile.folded"
        spy = await asyncio.create_subprocess_exec(
            str(srv.VENV_BIN / "py-spy"), "record", "--pid", str(deck.apis[0].pid),
            "--format", "raw", "--function", "--gil", "--rate", "200",
            "--duration", str(args.seconds), "-o", str(raw),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        done = [0]
        cpu_before = srv.cpu_s(deck.pids)
        until = time.monotonic() + args.seconds
        await asyncio.gather(*(_loop(c, until, done) for c in clients))
        cpu_ms = (srv.cpu_s(deck.pids) - cpu_before) * 1000 / max(1, done[0])
        await asyncio.wait_for(spy.wait(), 60)
        for client in clients:
            await client.aclose()
        title = (
            f"agentdeck serve (SQLite, models {'off' if args.no_models else 'warm'}), "
            f"{args.clients} clients x (thread + runs.create + runs.join, runs.stream, "
            f"runs.wait) of chain5 for {args.seconds} s: {done[0]} runs; py-spy --gil at "
            "200 Hz (samples of the thread holding the GIL)"
        )
        head = _git_head()
        load = os.getloadavg()[0]
        title += f"\ncode: the working tree at {head}; machine load average {load:.1f} (2 cores)"
        print(_write(raw, Path(args.out), title, cpu_ms))
    finally:
        deck.stop()
        srv.stop(upstream)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--no-models", action="store_true")
    parser.add_argument("--out", default="benchmarks/profiles/before-sqlite.txt")
    asyncio.run(main(parser.parse_args()))
