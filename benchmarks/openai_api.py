"""The OpenAI-compatible surface: what /v1/chat/completions adds over the upstream itself.

Starts the fake OpenAI-compatible model (`_fake_model.py`, no delay, its own process) and
`agentdeck serve` (SQLite, embedded worker) on loopback, with an alias `bench` -> the fake
model. Then, with the official `openai` SDK for both sides, N sequential calls each way:

- the upstream directly vs /v1/chat/completions on the alias, without and with `stream`
  (the whole stream read): p50 and p99 of each, what agentdeck adds at p50 and p99, and
  agentdeck's CPU time per call (from /proc: the part of the added time that is its own
  work, whatever else the machine runs);
- time to the first streamed token of an `agent:` model (an llm node on the fake model),
  next to the same agent's whole non-streamed answer.

Each call's message differs, so the gateway's response cache never answers.

    .venv/bin/python benchmarks/openai_api.py [--calls 300]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from openai import AsyncOpenAI

sys.path.insert(0, str(Path(__file__).parent))
from _servers import (
    cpu_s,
    deck_env,
    migrate,
    new_data_dir,
    setup_tenant,
    start_deck,
    start_upstream,
    stop,
)

AGENT = """
name: bench-chat
nodes:
  - id: answer
    type: llm
    model: fake/fake-model
    prompt: "{{ inputs.message }}"
"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _timed(n: int, call: Callable[[int], Awaitable[None]], warmup: int = 20) -> list[float]:
    for i in range(warmup):
        await call(-i - 1)
    out = []
    for i in range(n):
        start = time.perf_counter()
        await call(i)
        out.append((time.perf_counter() - start) * 1000)
    return out


def _row(name: str, ms: list[float]) -> None:
    print(f"  {name:<34} p50 {statistics.median(ms):7.2f} ms   p99 {_pct(ms, 0.99):7.2f} ms")


def _added(direct: list[float], via: list[float], cpu_ms: float) -> None:
    p50 = statistics.median(via) - statistics.median(direct)
    p99 = _pct(via, 0.99) - _pct(direct, 0.99)
    target = "(target: p50 <= 2 ms)"
    print(f"  {'added by agentdeck':<34} p50 {p50:7.2f} ms   p99 {p99:7.2f} ms   {target}")
    print(f"  {'agentdeck CPU per call':<34}     {cpu_ms:7.2f} ms")


async def main(calls: int) -> None:  # noqa: PLR0915 (one script, read top to bottom)
    data_dir = new_data_dir("agentdeck-openai-bench-")
    upstream, port = start_upstream(data_dir / "upstream.log", delay_ms=0.0)
    # The offline model is not used here: loading it in the background would hold the GIL
    # during the first minute of the measurements.
    quiet = {"AGENTDECK_LOG_LEVEL": "WARNING", "AGENTDECK_LLM__WARM_LOCAL_MODEL": "false"}
    env = deck_env(data_dir, port, None, quiet)
    migrate(env, data_dir / "migrate.log")
    deck = await start_deck(env, data_dir, apis=1, workers=0, warm_model=False)
    try:
        url = deck.urls[0]
        tenant = await setup_tenant(url, port, [AGENT])
        async with httpx.AsyncClient(base_url=url + "/api/v1") as http:
            alias = await http.put(
                "/models/aliases/bench", json={"models": ["fake/fake-model"]},
                headers=tenant.headers,
            )  # fmt: skip
            alias.raise_for_status()
        direct = AsyncOpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-bench")
        deck_client = AsyncOpenAI(base_url=f"{url}/v1", api_key=tenant.key, max_retries=0)

        def chat(client: AsyncOpenAI, model: str) -> Callable[[int], Awaitable[None]]:
            async def call(i: int) -> None:
                await client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": f"hello {i}"}]
                )

            return call

        def stream(client: AsyncOpenAI, model: str) -> Callable[[int], Awaitable[None]]:
            async def call(i: int) -> None:
                chunks = await client.chat.completions.create(
                    model=model, messages=[{"role": "user", "content": f"hello {i}"}],
                    stream=True, stream_options={"include_usage": True},
                )  # fmt: skip
                async for _ in chunks:
                    pass

            return call

        print(f"{calls} sequential calls each (after 20 warm-up calls), openai SDK both ways")
        results: dict[str, list[float]] = {}
        server = [p.pid for p in deck.procs]
        for label, make in (("non-streaming", chat), ("streaming", stream)):
            print(label)
            results[f"{label} direct"] = up = await _timed(calls, make(direct, "fake-model"))
            through = make(deck_client, "bench")
            await _timed(20, through, 0)  # warm-up, outside the CPU reading
            cpu_before = cpu_s(server)
            results[f"{label} /v1"] = via = await _timed(calls, through, 0)
            cpu_ms = (cpu_s(server) - cpu_before) * 1000 / calls
            _row("upstream directly", up)
            _row("agentdeck /v1, alias `bench`", via)
            _added(up, via, cpu_ms)

        # Attribution: the same gateway call through the platform's own playground route.
        async with httpx.AsyncClient(base_url=url, timeout=60) as raw:

            async def playground(i: int) -> None:
                resp = await raw.post(
                    "/api/v1/llm/chat",
                    json={"model": "bench", "messages": [{"role": "user", "content": f"p {i}"}]},
                    headers={"Authorization": f"Bearer {tenant.key}"},
                )
                resp.raise_for_status()

            print("attribution (non-streaming)")
            _row("/api/v1/llm/chat, alias `bench`", await _timed(calls, playground))

        agent_calls = max(20, calls // 5)
        ttft: list[float] = []
        whole: list[float] = []
        for i in range(agent_calls + 5):
            start = time.perf_counter()
            chunks = await deck_client.chat.completions.create(
                model="agent:bench-chat",
                messages=[{"role": "user", "content": f"agent {i}"}], stream=True,
            )  # fmt: skip
            first: float | None = None
            async for chunk in chunks:
                if first is None and chunk.choices and chunk.choices[0].delta.content:
                    first = (time.perf_counter() - start) * 1000
            if i >= 5 and first is not None:
                ttft.append(first)
            start = time.perf_counter()
            await deck_client.chat.completions.create(
                model="agent:bench-chat", messages=[{"role": "user", "content": f"whole {i}"}]
            )
            if i >= 5:
                whole.append((time.perf_counter() - start) * 1000)
        print(f"agent:bench-chat ({agent_calls} runs each, after 5 warm-up runs)")
        _row("time to first streamed token", ttft)
        _row("whole answer, not streamed", whole)
        await direct.close()
        await deck_client.close()
    finally:
        deck.stop()
        stop(upstream)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(main(parser.parse_args().calls))
