"""Processes for the HTTP benchmarks (`http.py`, `soak.py`): the fake upstream, agentdeck
served embedded or scaled on PostgreSQL, the LangGraph dev server, and the /proc readings
of their CPU time and resident memory.

Every process is started here as a subprocess on 127.0.0.1 and stopped by its own pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).parent
VENV_BIN = Path(sys.executable).parent
START_TIMEOUT_S = 240.0
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")

CHAIN5_YAML = """\
name: chain5
description: Five transform nodes in a row.
inputs: {type: object, properties: {x: {type: string}}}
nodes:
""" + "".join(
    f"  - {{id: t{i}, type: transform, value: {{x: '{{{{ inputs.x }}}}', n: {i}}}"
    + (f", needs: [t{i - 1}]" if i > 1 else "")
    + "}\n"
    for i in range(1, 6)
)

# `stream: false`: one plain chat completion per node, as the LangGraph graph's httpx call.
SLEEP5_YAML = """\
name: sleep5
description: Five llm nodes in a row against the local fake model (200 ms each).
inputs: {type: object, properties: {x: {type: string}}}
nodes:
""" + "".join(
    f"  - {{id: m{i}, type: llm, model: fake/fake-model, stream: false,"
    f" prompt: 'step {i}: {{{{ inputs.x }}}}'" + (f", needs: [m{i - 1}]" if i > 1 else "") + "}\n"
    for i in range(1, 6)
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- /proc readings ----------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may hold spaces: split after its closing parenthesis
    return [str(pid), "comm", *raw[raw.rindex(")") + 2 :].split()]


def tree(roots: list[int]) -> list[int]:
    """The live pids of ``roots`` and all their descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[3]), []).append(int(entry))
    found, todo = [], [r for r in roots if Path(f"/proc/{r}").exists()]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def cpu_s(roots: list[int]) -> float:
    """User + system CPU seconds of the process trees (reaped children included)."""
    ticks = 0
    for pid in tree(roots):
        if (fields := _stat(pid)) is not None:
            ticks += sum(int(fields[i]) for i in (13, 14, 15, 16))
    return ticks / _CLK_TCK


def rss_bytes(roots: list[int]) -> int:
    total = 0
    for pid in tree(roots):
        if (fields := _stat(pid)) is not None:
            total += int(fields[23]) * _PAGE
    return total


class RssPeak:
    """Samples the trees' resident memory every ``every_s`` in a thread; ``peak`` is the
    largest sum seen between start and stop."""

    def __init__(self, roots: list[int], every_s: float = 0.1) -> None:
        self.roots, self.every_s, self.peak = roots, every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.roots))
            self._stop.wait(self.every_s)

    def __enter__(self) -> RssPeak:
        self.peak = rss_bytes(self.roots)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes(self.roots))


# --- processes ---------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""


def spawn(
    name: str, argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> Proc:
    handle = log.open("ab")
    popen = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )
    handle.close()
    return Proc(name, popen, log)


def stop(proc: Proc, grace_s: float = 20.0) -> None:
    """SIGTERM the process (by its pid), SIGKILL it after ``grace_s``."""
    if proc.popen.poll() is not None:
        return
    proc.popen.send_signal(signal.SIGTERM)
    try:
        proc.popen.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.popen.kill()
        proc.popen.wait(10)


def kill(proc: Proc) -> None:
    """SIGKILL the process by its pid and reap it."""
    if proc.popen.poll() is None:
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(10)


async def wait_for_log(procs: list[Proc], text: str, limit_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        for p in procs:
            if p.popen.poll() is not None:
                raise SystemExit(f"{p.name} exited ({p.popen.returncode}); see {p.log}")
        if all(text in p.log_text() for p in procs):
            return
        await asyncio.sleep(0.2)
    raise SystemExit(f"no {text!r} in the logs of {[p.name for p in procs]} in {limit_s} s")


async def wait_healthy(url: str, proc: Proc, path: str, limit_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + limit_s
    async with httpx.AsyncClient(timeout=5) as client:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise SystemExit(f"{proc.name} exited ({proc.popen.returncode}); see {proc.log}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url + path)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit(f"{proc.name} did not answer {path} in {limit_s} s; see {proc.log}")


def start_upstream(log: Path, delay_ms: float = 200.0) -> tuple[Proc, int]:
    """The fake model / step counter (`_fake_model.py`) on a free port."""
    port = free_port()
    argv = [sys.executable, str(HERE / "_fake_model.py"), "--port", str(port)]
    proc = spawn("upstream", [*argv, "--delay-ms", str(delay_ms)], dict(os.environ), log)
    deadline = time.monotonic() + 30
    while f"READY {port}" not in proc.log_text():
        if proc.popen.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the fake upstream did not start; see {log}")
        time.sleep(0.05)
    return proc, port


# --- PostgreSQL ----------------------------------------------------------------------------


async def create_database(base: str) -> str:
    """A new, empty database on the server of ``base`` (no database part); its URL."""
    import asyncpg

    name = f"agentdeck_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(base.replace("+asyncpg", "") + "/postgres")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{base}/{name}"


async def drop_database(url: str) -> None:
    import asyncpg

    base, name = url.rsplit("/", 1)
    conn = await asyncpg.connect(base.replace("+asyncpg", "") + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --- agentdeck ---------------------------------------------------------------------------


@dataclass
class Deck:
    """agentdeck's processes: API servers (their URLs) and the processes doing runs."""

    data_dir: Path
    env: dict[str, str]
    apis: list[Proc] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)

    @property
    def procs(self) -> list[Proc]:
        return [*self.apis, *self.workers]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            stop(proc)


def deck_env(
    data_dir: Path, upstream_port: int, db_url: str | None, extra: dict[str, str]
) -> dict[str, str]:
    env = {
        **os.environ,
        "AGENTDECK_DATA_DIR": str(data_dir),
        "AGENTDECK_NETWORK__ALLOWED_PRIVATE_HOSTS": json.dumps([f"127.0.0.1:{upstream_port}"]),
        **extra,
    }
    if db_url:
        env["AGENTDECK_DATABASE_URL"] = db_url
    return env


def agentdeck_bin() -> str:
    return str(VENV_BIN / "agentdeck")


async def start_deck(
    env: dict[str, str], data_dir: Path, *, apis: int, workers: int, warm_model: bool
) -> Deck:
    """``apis`` `agentdeck serve` processes (embedded worker when ``workers`` is 0, else
    `--no-worker`) and ``workers`` `agentdeck worker` processes. The first API process starts
    alone, so that the secrets it generates into the data dir are the others' too. With
    ``warm_model``, waits until every process that runs runs has the local model loaded."""
    deck = Deck(data_dir, env)
    for i in range(apis):
        port = free_port()
        argv = [agentdeck_bin(), "serve", "--host", "127.0.0.1", "--port", str(port)]
        if workers:
            argv.append("--no-worker")
        proc = spawn(f"serve{i}", argv, env, data_dir / f"serve{i}.log")
        deck.apis.append(proc)
        deck.urls.append(f"http://127.0.0.1:{port}")
        await wait_healthy(deck.urls[-1], proc, "/healthz")
    for i in range(workers):
        deck.workers.append(
            spawn(f"worker{i}", [agentdeck_bin(), "worker"], env, data_dir / f"worker{i}.log")
        )
    if workers:
        await wait_for_log(deck.workers, "worker.started")
    if warm_model and local_model_installed():
        await wait_for_log(deck.workers or deck.apis, "llm.local_model_warm")
    return deck


def local_model_installed() -> bool:
    from agentdeck.catalog.service import local_model_available

    return bool(local_model_available())


def migrate(env: dict[str, str], log: Path) -> None:
    with log.open("ab") as handle:
        subprocess.run(
            [agentdeck_bin(), "migrate"],
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            check=True,
        )


@dataclass
class Tenant:
    key: str
    headers: dict[str, str]
    space_id: str


async def setup_tenant(url: str, upstream_port: int, agents: list[str]) -> Tenant:
    """Sign up (an org with a personal space), add the fake model as an `openai_compatible`
    provider named `fake`, import the agents (YAML) and make an API key for them."""
    async with httpx.AsyncClient(base_url=url + "/api/v1", timeout=60) as client:
        signup = await client.post(
            "/auth/signup",
            json={"email": f"bench-{secrets.token_hex(4)}@example.org",
                  "password": "correct horse battery", "name": "Bench", "org_name": "Bench"},
        )  # fmt: skip
        signup.raise_for_status()
        headers = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        spaces = (await client.get("/spaces", headers=headers)).json()["items"]
        space = next(s["id"] for s in spaces if s["is_personal"])
        provider = await client.post(
            "/providers",
            json={"name": "fake", "kind": "openai_compatible", "api_key": "sk-bench",
                  "base_url": f"http://127.0.0.1:{upstream_port}/v1", "models": ["fake-model"]},
            headers=headers,
        )  # fmt: skip
        _check(provider, "provider")
        for source in agents:
            imported = await client.post(
                "/agents/import", params={"space_id": space}, content=source.encode(),
                headers={**headers, "Content-Type": "application/yaml"},
            )  # fmt: skip
            _check(imported, "agent import")
        key = await client.post(
            "/api-keys", json={"name": "bench", "scopes": ["read", "run", "write"]},
            headers=headers,
        )  # fmt: skip
        _check(key, "API key")
        return Tenant(key.json()["key"], headers, space)


async def warm_embedder(url: str, tenant: Tenant, limit_s: float = START_TIMEOUT_S) -> None:
    """Ingest one small document with the default (local) embedding model, so the worker that
    runs it has the embedder loaded, as on a server that has been used."""
    async with httpx.AsyncClient(
        base_url=url + "/api/v1", timeout=60, headers=tenant.headers
    ) as client:
        kb = await client.post(
            "/knowledge-bases", json={"name": "warm", "space_id": tenant.space_id}
        )
        _check(kb, "knowledge base")
        doc = await client.post(
            f"/knowledge-bases/{kb.json()['id']}/documents",
            json={"title": "warm", "text": "A short text so that the embedder loads."},
        )
        _check(doc, "document")
        path = f"/knowledge-bases/{kb.json()['id']}/documents/{doc.json()['id']}"
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            status = (await client.get(path)).json()["status"]
            if status == "ready":
                return
            if status == "failed":
                raise SystemExit(f"warming the embedder failed: {(await client.get(path)).text}")
            await asyncio.sleep(0.5)
        raise SystemExit("the warm-up document was not ingested in time")


def _check(resp: httpx.Response, what: str) -> None:
    if resp.status_code >= 400:
        raise SystemExit(f"{what}: {resp.status_code} {resp.text}")


def new_data_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))


# --- the LangGraph dev server --------------------------------------------------------------


def langgraph_cli() -> str:
    """The `langgraph` CLI: this venv's (the `bench` extra), or the one named by
    AGENTDECK_BENCH_LANGGRAPH (a separate venv: the extra pins packages agentdeck upgrades)."""
    found = Path(os.environ.get("AGENTDECK_BENCH_LANGGRAPH") or VENV_BIN / "langgraph")
    if not found.exists():
        raise SystemExit(
            "no `langgraph` CLI: pip install -e '.[bench]' (langgraph-cli[inmem]), or set "
            "AGENTDECK_BENCH_LANGGRAPH to one in another venv"
        )
    return str(found)


async def start_langgraph(upstream_port: int, log: Path, jobs: int = 1000) -> tuple[Proc, str]:
    """`langgraph dev` (in-memory runtime) serving a copy of benchmarks/graphs on a free
    port. The copy sits beside ``log``, so the state it saves on shutdown (`.langgraph_api/`)
    stays out of the checkout and no run starts with an earlier run's threads."""
    graphs = log.parent / "graphs"
    shutil.copytree(HERE / "graphs", graphs, ignore=shutil.ignore_patterns(".langgraph_api"))
    port = free_port()
    env = {
        **os.environ,
        "FAKE_MODEL_URL": f"http://127.0.0.1:{upstream_port}/v1",
        "LANGSMITH_TRACING": "false",
        "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    }
    argv = [
        langgraph_cli(), "dev", "--no-browser", "--no-reload", "--n-jobs-per-worker", str(jobs),
        "--host", "127.0.0.1", "--port", str(port),
    ]  # fmt: skip
    proc = spawn("langgraph", argv, env, log, cwd=graphs)
    url = f"http://127.0.0.1:{port}"
    await wait_healthy(url, proc, "/ok")
    return proc, url


def describe(value: Any) -> str:
    return json.dumps(value, default=str)[:300]
