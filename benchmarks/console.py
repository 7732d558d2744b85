"""Console speed in headless chromium against `agentdeck serve`.

Prints:

- the first page load (the sign-in form usable, from navigation start) in a fresh browser
  context each time (cold cache), and again with a warm cache;
- per graph size (default 200, 500, 1,000 nodes in layers of 10, each node needing two of
  the layer before): the time from opening the agent's editor to its graph painted (a
  visible node and drawn edges in a graph marked ready, timed after the next frame), split
  into the time the API calls ended (Resource Timing) and what came after (YAML parse,
  layout, CodeMirror and React Flow); and, timed inside the page, the frame that first shows
  the graph (the animation frame after the commit that marks it ready) and the one that
  first shows the YAML editor (a large definition's editor is built just after the graph is
  painted, so the first figure also holds the tasks queued before the page could be timed);
- typing in the YAML editor of that agent: keystrokes per second and the longest main-thread
  task meanwhile (a task over 50 ms is a visible stall).

It starts its own `agentdeck serve` (temporary data directory, no worker) unless given
``--url``; it needs chromium (`apt-get install -y chromium`) and the `playwright` package
(dev extra). Nothing is downloaded.

    .venv/bin/python benchmarks/console.py
    .venv/bin/python benchmarks/console.py --sizes 500 --repeat 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def layered_agent(n: int, width: int = 10) -> str:
    """YAML of ``n`` transform nodes in layers of ``width``; each needs two of the layer
    before (a DAG like a real fan-out/fan-in agent, not a bare chain)."""
    lines = [f"name: bench-{n}", "nodes:"]
    for i in range(n):
        layer, pos = divmod(i, width)
        lines += [f"  - id: n{i}", "    type: transform", f"    value: {i}"]
        if layer:
            base = (layer - 1) * width
            needs = sorted({base + pos, base + (pos + 1) % width})
            lines.append("    needs: [" + ", ".join(f"n{j}" for j in needs) + "]")
    return "\n".join(lines) + "\n"


@contextlib.contextmanager
def served(url: str | None) -> Iterator[str]:
    if url:
        yield url.rstrip("/")
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data = tempfile.mkdtemp(prefix="agentdeck-console-bench-")
    env = {**os.environ, "AGENTDECK_DATA_DIR": data, "AGENTDECK_LLM__WARM_LOCAL_MODEL": "false"}
    exe = Path(sys.executable).with_name("agentdeck")
    cmd = [str(exe), "serve", "--host", "127.0.0.1", "--port", str(port), "--no-worker"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit("agentdeck serve did not start")
        yield base
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(data, ignore_errors=True)


def sign_up(base: str) -> dict[str, Any]:
    body = {"email": f"bench-{uuid.uuid4().hex[:8]}@example.org", "password": "x" * 12}
    r = httpx.post(f"{base}/api/v1/auth/signup", json={**body, "name": "Bench"}, timeout=30)
    r.raise_for_status()
    tokens: dict[str, Any] = r.json()
    return tokens


def create_agent(base: str, token: str, yaml: str) -> str:
    h = {"Authorization": f"Bearer {token}"}
    space = httpx.get(f"{base}/api/v1/spaces", headers=h, timeout=30).json()["items"][0]["id"]
    r = httpx.post(
        f"{base}/api/v1/agents/import",
        params={"space_id": space},
        content=yaml,
        headers={**h, "Content-Type": "application/yaml"},
        timeout=120,
    )
    r.raise_for_status()
    agent_id: str = r.json()["id"]
    return agent_id


def first_load(browser: Browser, base: str, repeat: int) -> tuple[list[float], list[float]]:
    cold: list[float] = []
    warm: list[float] = []
    for _ in range(repeat):
        context = browser.new_context(base_url=base)
        page = context.new_page()
        for bucket in (cold, warm):  # the first visit fills the cache, the reload uses it
            if bucket is cold:
                page.goto("/", wait_until="commit")
            else:
                page.reload(wait_until="commit")
            page.get_by_label("Email").wait_for(state="visible")
            bucket.append(page.evaluate("performance.now()"))
        context.close()
    return cold, warm


# In the page: the time of the animation frame after the graph is marked ready, and after
# the editor's content appears (the frames that paint them).
FRAMES = """
window.__frames = {};
new MutationObserver(() => {
    const at = (name, selector) => {
        if (name in window.__frames || !document.querySelector(selector)) return;
        window.__frames[name] = null;
        requestAnimationFrame(() => { window.__frames[name] = performance.now(); });
    };
    at('graph', '.graph[data-graph-ready=true]');
    at('editor', '.cm-content');
}).observe(document, {subtree: true, childList: true, attributes: true,
                      attributeFilter: ['data-graph-ready']});
"""
FRAMES_DONE = "() => ['graph', 'editor'].every(k => typeof window.__frames[k] === 'number')"


def _session_context(browser: Browser, base: str, tokens: dict[str, Any]) -> Any:
    context = browser.new_context(base_url=base, viewport={"width": 1400, "height": 900})
    session = {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"]}
    stored = json.dumps(json.dumps(session))
    context.add_init_script(f"localStorage.setItem('agentdeck.session', {stored})")
    context.add_init_script(FRAMES)
    return context


# The graph is shown: a node that is not hidden (React Flow hides a node until it knows its
# size) and edges (React Flow's, or the console's edge layer with its lines drawn), in a
# graph that says it is ready.
GRAPH_SHOWN = """() => {
    const g = document.querySelector('.graph[data-graph-ready=true]');
    if (!g || !g.querySelector('.react-flow__edge, .graph-edges path.e[d^="M"]')) return false;
    for (const n of g.querySelectorAll('.react-flow__node'))
        if (getComputedStyle(n).visibility !== 'hidden') return true;
    return false;
}"""


def graph_open(page: Page, agent_id: str) -> tuple[float, float, int, float, float]:
    """(total ms from navigation to the graph painted, ms spent on API calls before it,
    nodes drawn: those in view, the frames that showed the graph and the editor)."""
    page.goto(f"/agents/{agent_id}", wait_until="commit")
    page.wait_for_function(GRAPH_SHOWN, polling="raf", timeout=60_000)
    # The frame with the graph is drawn after this animation frame: time the task after it.
    total = page.evaluate(
        "new Promise(r => requestAnimationFrame(() => setTimeout(() => r(performance.now()))))"
    )
    api_done = page.evaluate(
        """Math.max(0, ...performance.getEntriesByType('resource')
            .filter(e => e.name.includes('/api/v1/agents/')).map(e => e.responseEnd))"""
    )
    drawn: int = page.evaluate("document.querySelectorAll('.graph .react-flow__node').length")
    page.wait_for_function(FRAMES_DONE, polling="raf", timeout=60_000)
    frames: dict[str, float] = page.evaluate("window.__frames")
    return total, api_done, drawn, frames["graph"], frames["editor"]


def typing(page: Page, chars: int = 60) -> tuple[float, float]:
    """(keystrokes per second, longest main-thread task in ms while typing)."""
    page.evaluate(
        """window.__long = 0; new PerformanceObserver(l => { for (const e of l.getEntries())
            window.__long = Math.max(window.__long, e.duration); }).observe({type: 'longtask'});"""
    )
    page.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    t0 = time.perf_counter()
    page.keyboard.type("# typing " + "x" * (chars - 9), delay=0)
    page.wait_for_timeout(400)  # let the debounced re-parse and re-layout land
    elapsed = time.perf_counter() - t0 - 0.4
    longest: float = page.evaluate("window.__long")
    return chars / max(elapsed, 1e-6), longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="a running agentdeck (default: start one)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 500, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit("needs chromium: apt-get install -y chromium")
    with served(args.url) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        cold, warm = first_load(browser, base, args.repeat)
        print(f"console at {base} (chromium headless, {os.cpu_count()} CPUs)")
        print(
            f"first page load, cold cache: median {statistics.median(cold):.0f} ms, "
            f"max {max(cold):.0f} ms; warm: median {statistics.median(warm):.0f} ms"
        )
        tokens = sign_up(base)
        print(
            "nodes  graph painted from navigation (median/max)  after the definition arrived"
            "  typing (keys/s, longest task)  nodes drawn  frame showing graph / editor"
            " (median)"
        )
        for n in args.sizes:
            agent_id = create_agent(base, tokens["access_token"], layered_agent(n))
            totals: list[float] = []
            apis: list[float] = []
            graphs: list[float] = []
            editors: list[float] = []
            for _ in range(args.repeat):
                context = _session_context(browser, base, tokens)
                page = context.new_page()
                total, api, drawn, graph_at, editor_at = graph_open(page, agent_id)
                totals.append(total)
                apis.append(api)
                graphs.append(graph_at)
                editors.append(editor_at)
                context.close()
            context = _session_context(browser, base, tokens)
            page = context.new_page()
            graph_open(page, agent_id)
            keys, longest = typing(page)
            context.close()
            after = [t - a for t, a in zip(totals, apis, strict=True)]
            print(
                f"{n:5d}  {statistics.median(totals):7.0f} / {max(totals):5.0f} ms"
                f"                        {statistics.median(after):5.0f} / {max(after):5.0f} ms"
                f"            {keys:5.0f}, {longest:4.0f} ms         {drawn:5d}"
                f"        {statistics.median(graphs):5.0f} / {statistics.median(editors):5.0f} ms"
            )
        browser.close()


if __name__ == "__main__":
    main()
