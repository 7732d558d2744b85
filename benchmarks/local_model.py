"""The offline model through the public surface, as a person meets it after `make serve`.

    .venv/bin/python benchmarks/local_model.py [--documents N] [--host process|inline]

Starts `agentdeck serve` on a free loopback port with a new data directory, waits for
/healthz, signs up, makes an API key, then times `POST /api/v1/llm/chat` with "Say hello in
French": cold (the first request right after /healthz answers, while the model may still be
warming up), then warm, as JSON and as a stream (time to the first `delta` event, and how
long after the server's start that was). With ``--documents N`` it also uploads N documents
within a second to a knowledge base on the local embedding model and waits for each to reach
``ready`` (issue 11 item 15).

``--host`` is ``AGENTDECK_MODELS__HOST``: ``process`` (the default) runs the models in the
server's model host, a child process started first thing, so the model loads while the
server starts; ``inline`` loads them in the serving process (as before the host). The server's
and the host's resident memory are printed after the warm request.

The converted model lives in the user cache (`agentdeck.modelhost.smollm2.cache_dir`); delete
it to measure the very first start on a machine. Every request goes to 127.0.0.1 only, and
every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

PROMPT = {"messages": [{"role": "user", "content": "Say hello in French"}], "cache": False}
START_TIMEOUT_S = 120.0
CALL_TIMEOUT_S = 300.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _healthy(client: httpx.AsyncClient, server: asyncio.subprocess.Process) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < START_TIMEOUT_S:
        if server.returncode is not None:
            raise SystemExit(f"agentdeck serve exited with {server.returncode}")
        try:
            if (await client.get("/healthz")).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("agentdeck serve did not answer /healthz in time")


async def _key(client: httpx.AsyncClient) -> dict[str, str]:
    signup = await client.post(
        "/api/v1/auth/signup",
        json={
            "email": "bench@example.org",
            "password": "correct horse battery staple",
            "name": "Bench",
            "org_name": "Bench",
        },
    )
    signup.raise_for_status()
    token = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    key = await client.post(
        "/api/v1/api-keys",
        json={"name": "bench", "scopes": ["read", "write", "run"]},
        headers=token,
    )
    key.raise_for_status()
    return {"X-Api-Key": key.json()["key"]}


async def _chat(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    resp = await client.post("/api/v1/llm/chat", json=PROMPT, headers=headers)
    resp.raise_for_status()
    return time.perf_counter() - started, resp.json()


async def _stream(client: httpx.AsyncClient, headers: dict[str, str]) -> tuple[float, float, str]:
    """(seconds to the first delta, seconds to the end, the text)."""
    started = time.perf_counter()
    first: float | None = None
    text: list[str] = []
    event = ""
    body = {**PROMPT, "stream": True}
    async with client.stream("POST", "/api/v1/llm/chat", json=body, headers=headers) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if line.startswith("event:"):
                event = line.removeprefix("event:").strip()
            elif line.startswith("data:") and event == "delta":
                first = first if first is not None else time.perf_counter() - started
                text.append(json.loads(line.removeprefix("data:"))["text"])
    return (
        first if first is not None else float("nan"),
        time.perf_counter() - started,
        "".join(text),
    )


async def _documents(client: httpx.AsyncClient, headers: dict[str, str], count: int) -> None:
    spaces = (await client.get("/api/v1/spaces", headers=headers)).json()["items"]
    space = next(s["id"] for s in spaces if s["is_personal"])
    kb = await client.post(
        "/api/v1/knowledge-bases", json={"name": "bench", "space_id": space}, headers=headers
    )
    kb.raise_for_status()
    url = f"/api/v1/knowledge-bases/{kb.json()['id']}/documents"
    started = time.perf_counter()
    ids = []
    for n in range(count):
        text = f"Note {n}: the lighthouse keeper logs the weather at dawn and trims the lamp."
        resp = await client.post(url, json={"title": f"note {n}", "text": text}, headers=headers)
        resp.raise_for_status()
        ids.append(resp.json()["id"])
    print(f"uploaded {count} documents in {time.perf_counter() - started:.2f} s")
    statuses: dict[str, str] = {}
    while time.perf_counter() - started < CALL_TIMEOUT_S:
        statuses = {
            i: (await client.get(f"{url}/{i}", headers=headers)).json()["status"] for i in ids
        }
        if all(s in ("ready", "failed") for s in statuses.values()):
            break
        await asyncio.sleep(0.5)
    elapsed = time.perf_counter() - started
    print(f"documents after {elapsed:.1f} s: {sorted(statuses.values())}")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _memory(server: int) -> str:
    """Resident memory of the server and of its model host (its `modelhost.child`)."""
    parts = [f"server {_rss_mib(server):.0f} MiB"]
    for entry in os.listdir("/proc"):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) != server:
                continue
            if b"agentdeck.modelhost.child" in Path(f"/proc/{entry}/cmdline").read_bytes():
                parts.append(f"model host {_rss_mib(int(entry)):.0f} MiB")
        except (OSError, ValueError):
            continue
    return ", ".join(parts)


async def _served(job: str, documents: int, host: str) -> None:
    """One fresh `agentdeck serve`: the first request right after /healthz, then a warm one."""
    port = _free_port()
    data_dir = Path(tempfile.mkdtemp(prefix="agentdeck-bench-"))
    env = {
        **os.environ,
        "AGENTDECK_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "AGENTDECK_MODELS__HOST": host,
    }
    log = (data_dir / "serve.log").open("wb")
    agentdeck = Path(sys.executable).with_name("agentdeck")
    command = [str(agentdeck), "serve", "--host", "127.0.0.1", "--port", str(port)]
    launched = time.perf_counter()
    server = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=log, stderr=asyncio.subprocess.STDOUT
    )
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", timeout=CALL_TIMEOUT_S
        ) as client:
            up = await _healthy(client, server)
            print(f"[{job}] /healthz ok {up:.1f} s after start (log: {data_dir}/serve.log)")
            headers = await _key(client)
            if job == "documents":
                await _documents(client, headers, documents)
            for when in ("cold", "warm"):
                if job == "chat":
                    seconds, body = await _chat(client, headers)
                    tokens, text = body["usage"]["output_tokens"], body["message"]
                    print(f"[chat] {when}: answer {seconds:.2f} s, {tokens} tokens: {text!r}")
                elif job == "stream":
                    sent = time.perf_counter() - launched
                    first, total, text = await _stream(client, headers)
                    print(
                        f"[stream] {when}: first token {first:.2f} s "
                        f"({sent + first:.1f} s after the server started), answer {total:.2f} s"
                    )
            print(f"[{job}] memory: {_memory(server.pid)}")
    finally:
        server.terminate()
        try:
            await asyncio.wait_for(server.wait(), 30)
        except TimeoutError:
            server.kill()
            await server.wait()
        log.close()


async def main(documents: int, host: str) -> None:
    """A server for the JSON answer, one for the stream (each first request is cold), and
    with ``documents`` one for the uploads."""
    print(f"models in: {host}")
    await _served("chat", 0, host)
    await _served("stream", 0, host)
    if documents:
        await _served("documents", documents, host)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=0, help="also upload N documents")
    parser.add_argument("--host", choices=("process", "inline"), default="process")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.documents, arguments.host))
