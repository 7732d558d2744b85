"""The console's run view shows who produced what: the supervisor's step lists its child
runs (one per specialist), and a child run links back to its parent. Debian's chromium,
headless, against the served app with the committed console build."""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.examples.conftest import Deck
from tests.examples.test_supervisor import QUESTION, SPECIALISTS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not HAVE_CHROMIUM:
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    context = await browser.new_context(base_url=base_url)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()


async def test_run_view_links_supervisor_and_specialist_runs(deck: Deck, page: Page) -> None:
    for name in (*SPECIALISTS, "supervisor"):
        await deck.import_example(name)
    run = await deck.run("launch-supervisor", {"question": QUESTION})
    assert run["status"] == "completed", run["error"]

    await page.goto("/")
    await page.get_by_label("Email").fill(deck.tenant.email)
    await page.get_by_label("Password").fill(deck.tenant.password)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()

    await page.goto(f"/runs/{run['id']}")
    await expect(page.get_by_label("Run status")).to_have_text("completed")
    await expect(page.get_by_label("Parent run")).to_have_count(0)
    children = page.get_by_label("Sub-agent runs of supervise")
    for agent in SPECIALISTS:
        await expect(children.get_by_role("listitem").filter(has_text=agent)).to_contain_text(
            "completed"
        )
    await (
        children.get_by_role("listitem").filter(has_text="risk-analyst").get_by_role("link").click()
    )
    await page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    assert run["id"] not in page.url
    await expect(page.get_by_role("heading", level=1)).to_contain_text("risk-analyst")
    await expect(page.get_by_label("Run output")).to_contain_text("The risk analyst:")
    await page.get_by_label("Parent run").click()
    await page.wait_for_url(f"**/runs/{run['id']}")
    await expect(page.get_by_label("Sub-agent runs of supervise")).to_be_visible()
