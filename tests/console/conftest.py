"""Browser tests of the console: a real agentdeck (API, in-process worker, the committed
console build) served by uvicorn on a loopback port in the tests' event loop, with a fake model
whose tokens the test releases, driven by Debian's chromium through Playwright.

Failures keep a screenshot and a Playwright trace under test-artifacts/<test>/.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart
from pydantic_ai.models.function import AgentInfo, FunctionModel

from agentdeck.app import create_app
from agentdeck.config import ApiSettings, AuthSettings, DatabaseSettings, LLMSettings, Settings
from agentdeck.migrations import upgrade_to_head_async
from tests.knowledge.support import use_hashing

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
TOKENS = ("The ", "answer ", "is ", "forty-two.")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives the console in headless chromium")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"console_rep_{report.when}", report)
    return report


class TokenGate:
    """The fake model streams its tokens only once the test opens the gate, so the browser
    is watching when they arrive (they are not replayed afterwards)."""

    def __init__(self) -> None:
        self._open = asyncio.Event()
        self._open.set()

    def open(self) -> None:
        self._open.set()

    def close(self) -> None:
        self._open.clear()

    async def wait(self) -> None:
        await asyncio.wait_for(self._open.wait(), 30)


GATE = TokenGate()


def _reply(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
    return ModelResponse(parts=[TextPart("".join(TOKENS))])


async def _stream(messages: list[ModelMessage], info: AgentInfo) -> AsyncIterator[str]:
    await GATE.wait()
    for piece in TOKENS:
        yield piece


def gated_model_factory(provider: Any, model: str) -> FunctionModel:
    return FunctionModel(_reply, stream_function=_stream)


class Served:
    def __init__(self, url: str, app: Any) -> None:
        self.url = url
        self.app = app
        self.gate = GATE


@pytest.fixture(scope="session")
async def console_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """agentdeck on 127.0.0.1:<port> with its own SQLite database and worker, in the tests'
    event loop."""
    data_dir = tmp_path_factory.mktemp("console")
    url = f"sqlite+aiosqlite:///{data_dir / 'console.db'}"
    await upgrade_to_head_async(url)
    settings = Settings(
        env="test",
        data_dir=data_dir,
        db=DatabaseSettings(url=url),
        auth=AuthSettings(argon2_time_cost=1, argon2_memory_kib=1024),
        api=ApiSettings(),
        llm=LLMSettings(warm_local_model=False),
    )
    app = create_app(settings, start_worker=True, configure_logs=False)
    app.state.runtime.llm_model_factory = gated_model_factory
    use_hashing(app)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(600):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)  # start-up of the server, not a test's synchronisation
    assert server.started, "uvicorn did not start"
    try:
        yield Served(f"http://127.0.0.1:{port}", app)
    finally:
        GATE.open()  # let a model call still waiting end
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's chromium, headless (no downloaded browsers)."""
    if not HAVE_CHROMIUM:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        await b.close()


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = (getattr(request.node, f"console_rep_{when}", None) for when in ("setup", "call"))
    return any(r is not None and r.failed for r in reports)


@pytest.fixture
async def console(
    console_server: Served, browser: Browser, request: pytest.FixtureRequest
) -> AsyncIterator[Page]:
    """A fresh browser context on the served console, traced; on failure the trace and a
    screenshot are kept under test-artifacts/<test>/."""
    context = await browser.new_context(
        base_url=console_server.url, viewport={"width": 1400, "height": 900}
    )
    context.set_default_timeout(15_000)
    await context.tracing.start(screenshots=True, snapshots=True)
    page = await context.new_page()
    yield page
    if _failed(request):
        out = ARTIFACTS / re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)
        out.mkdir(parents=True, exist_ok=True)
        for n, p in enumerate(context.pages):
            await p.screenshot(path=str(out / f"page{n}.png"), full_page=True)
        await context.tracing.stop(path=str(out / "trace.zip"))
    else:
        await context.tracing.stop()
    await context.close()
