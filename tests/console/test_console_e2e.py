"""The console end to end in headless chromium against a real agentdeck: sign up, import an
agent, run it from the form, watch its steps and tokens, approve it in the inbox, read its
output and cost; versions, drafts, conflicts and diffs; knowledge; API keys; tenancy."""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import urlparse

import pytest
from playwright.async_api import Page, expect

from tests.console.conftest import Served

pytestmark = pytest.mark.browser

_users = itertools.count(1)

HELPER = """name: helper
description: Answers, then asks a person
inputs:
  type: object
  properties:
    question: {type: string, title: Question}
  required: [question]
nodes:
  - id: ask
    type: llm
    prompt: "{{ inputs.question }}"
  - id: review
    type: human
    needs: [ask]
    message: Send this answer?
  - id: final
    type: transform
    needs: [ask, review]
    value:
      answer: "{{ steps.ask.output }}"
"""

ASKER = """name: asker
nodes:
  - id: review
    type: human
    message: Ship it?
"""

VERSIONED = """name: versioned
nodes:
  - id: first
    type: transform
    value: one
"""


async def sign_up(page: Page) -> str:
    email = f"user{next(_users)}@example.org"
    await page.goto("/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("correct horse battery staple")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    nav = page.get_by_role("navigation", name="Main")
    for link in ("Agents", "Runs", "Approvals", "Knowledge", "Tools", "Settings"):
        await expect(nav.get_by_role("link", name=link)).to_be_visible()
    return email


async def import_agent(page: Page, yaml: str) -> str:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Agents").click()
    await page.get_by_role("button", name="Import YAML").click()
    await page.get_by_label("YAML to import").fill(yaml)
    await page.get_by_role("button", name="Import", exact=True).click()
    await page.wait_for_url(re.compile(r"/agents/[0-9a-f-]{36}$"))
    await expect(page.locator(".graph[data-graph-ready=true]").first).to_be_visible()
    return page.url.rsplit("/", 1)[1]


def graph_node(page: Page, node_id: str) -> Any:
    return page.locator(f'.split:not(.hidden) .react-flow__node[data-id="{node_id}"]').first


async def test_sign_in_with_the_account_just_made(console: Page) -> None:
    email = await sign_up(console)
    await console.get_by_role("button", name="Sign out").click()
    await console.get_by_label("Email").fill(email)
    await console.get_by_label("Password").fill("wrong password")
    await console.get_by_role("button", name="Sign in").click()
    await expect(console.get_by_role("alert")).to_be_visible()
    await console.get_by_label("Password").fill("correct horse battery staple")
    await console.get_by_role("button", name="Sign in").click()
    await expect(console.get_by_role("heading", name="Agents")).to_be_visible()


async def test_build_run_approve_and_read_the_cost(console: Page, console_server: Served) -> None:
    page = console
    await sign_up(page)
    await import_agent(page, HELPER)
    for node in ("ask", "review", "final"):
        await expect(graph_node(page, node)).to_be_visible()

    console_server.gate.close()
    await page.get_by_role("tab", name="Run").click()
    await page.get_by_label("Question").fill("What is six times seven?")
    await page.get_by_label("Question").press("Control+Enter")
    await page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}$"))
    steps = page.get_by_label("Steps")
    await expect(steps.locator(".step.s-running", has_text="ask")).to_be_visible()
    await expect(page.get_by_label("Following live")).to_be_visible()
    console_server.gate.open()  # the browser is watching: let the model's tokens stream
    await expect(page.get_by_label("Streamed tokens of ask")).to_have_text(
        "The answer is forty-two."
    )
    await expect(page.get_by_label("Run status")).to_have_text("interrupted")
    await expect(
        steps.locator(".step", has_text="ask").filter(has_text="completed")
    ).to_be_visible()

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    card = page.get_by_label("Approval for helper")
    await expect(card).to_contain_text("Send this answer?")
    await page.keyboard.press("a")  # approve the selected card with the keyboard
    await expect(page.get_by_role("status")).to_contain_text("Answered")
    await expect(page.get_by_text("Nothing waits for you.")).to_be_visible()
    await page.get_by_role("link", name="Follow the run").click()

    await expect(page.get_by_label("Run status")).to_have_text("completed")
    await expect(page.get_by_label("Run output")).to_contain_text("forty-two")
    await expect(page.get_by_label("Run cost")).to_have_text(re.compile(r"^\$\d+\.\d+$"))
    await expect(page.get_by_label("Run tokens")).to_have_text(
        re.compile(r"^[1-9]\d* in / [1-9]\d* out$")
    )
    step = steps.locator(".step", has_text="ask").first
    await step.locator(".steprow").click()
    await expect(step.locator(".stepdetail")).to_contain_text("What is six times seven?")

    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    await expect(page.locator("tbody tr")).to_have_count(2)
    await page.get_by_label("Status").select_option("completed")
    await expect(page.locator("tbody tr")).to_have_count(1)


async def test_the_inbox_shows_a_new_interrupted_run_live(console: Page) -> None:
    page = console
    await sign_up(page)
    agent_id = await import_agent(page, ASKER)
    paths: list[str] = []
    page.on("request", lambda r: paths.append(urlparse(r.url).path))
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    await expect(page.get_by_label("Inbox live")).to_be_visible()
    await expect(page.get_by_text("Nothing waits for you.")).to_be_visible()

    # The run starts through the API, after the page is open; the page is not reloaded.
    await page.evaluate(
        """async (agentId) => {
            const s = JSON.parse(localStorage.getItem('agentdeck.session'));
            const headers = {
                'Content-Type': 'application/json', Authorization: `Bearer ${s.access_token}`,
            };
            const thread = await (await fetch('/api/v1/threads', {
                method: 'POST', headers, body: '{}',
            })).json();
            const r = await fetch(`/api/v1/threads/${thread.thread_id}/runs`, {
                method: 'POST', headers, body: JSON.stringify({assistant_id: agentId}),
            });
            if (r.status !== 200) throw new Error(await r.text());
        }""",
        agent_id,
    )
    card = page.get_by_label("Approval for asker")
    await expect(card).to_contain_text("Ship it?")
    await page.keyboard.press("r")  # reject it with the keyboard: it leaves the inbox live
    await expect(page.get_by_role("status")).to_contain_text("Answered")
    await expect(page.get_by_text("Nothing waits for you.")).to_be_visible()
    await expect(card).to_have_count(0)

    # Live from the feed alone: one stream, and the runs were never listed (no polling).
    assert paths.count("/api/v1/approvals/stream") == 1, paths
    assert not [p for p in paths if p.startswith("/api/v1/runs")], paths


async def test_versions_drafts_conflicts_diffs_and_restore(console: Page) -> None:
    page = console
    await sign_up(page)
    agent_id = await import_agent(page, VERSIONED)
    editor = page.locator(".cm-content")
    await editor.click()
    await page.keyboard.press("Control+End")
    await page.keyboard.insert_text(
        '  - id: second\n    type: transform\n    value: "{{ steps.first.output }}"\n'
    )
    await expect(graph_node(page, "second")).to_be_visible()  # the live graph follows the YAML

    await page.reload()  # the draft survives
    await expect(page.get_by_text("Your unsaved draft was restored")).to_be_visible()
    await expect(graph_node(page, "second")).to_be_visible()

    await editor.press("Control+s")  # the server refuses: `first` is not upstream of `second`
    errors = page.get_by_label("Validation errors")
    await expect(errors).to_contain_text("not upstream")
    await expect(graph_node(page, "second")).to_have_class(re.compile(r"\berror\b"))
    await expect(page.locator(".cm-lintRange-error").first).to_be_visible()

    await graph_node(page, "second").click()  # jump to its YAML and fix it
    await page.keyboard.press("End")
    await page.keyboard.insert_text("\n    needs: [first]")
    await editor.press("Control+s")
    await expect(page.get_by_role("status").filter(has_text="Saved as version 2")).to_be_visible()

    # Someone else saves version 3 meanwhile: our next save is refused, the draft kept.
    three = "name: versioned\nnodes:\n  - id: first\n    type: transform\n    value: three\n"
    await page.evaluate(
        """async ([id, source]) => {
            const s = JSON.parse(localStorage.getItem('agentdeck.session'));
            const r = await fetch(`/api/v1/agents/${id}/versions`, {
                method: 'POST',
                headers: {
                    'Content-Type': 'application/json',
                    Authorization: `Bearer ${s.access_token}`,
                },
                body: JSON.stringify({source}),
            });
            if (r.status !== 201) throw new Error(await r.text());
        }""",
        [agent_id, three],
    )
    await editor.click()
    await page.keyboard.press("Control+End")
    await page.keyboard.insert_text("  - id: mine\n    type: transform\n    value: 4\n")
    await editor.press("Control+s")
    await expect(page.get_by_role("alert")).to_contain_text("version 3 was saved by someone else")
    await page.get_by_role("button", name="Load version 3").click()
    await expect(graph_node(page, "mine")).to_have_count(0)

    await page.get_by_role("tab", name="History").click()
    await page.get_by_label("Older version").select_option("1")
    await page.get_by_label("Newer version").select_option("2")
    await expect(page.get_by_label("Graph changes")).to_contain_text("added: second")
    await expect(page.get_by_label("YAML diff")).to_contain_text("id: second")
    await expect(page.locator('.history .react-flow__node[data-id="second"]')).to_have_class(
        re.compile(r"\badded\b")
    )
    await page.get_by_role("button", name="Restore v1 as a new version").click()
    await expect(
        page.get_by_role("status").filter(has_text="Restored version 1 as version 4")
    ).to_be_visible()
    await page.get_by_role("tab", name="Edit").click()
    await expect(graph_node(page, "first")).to_be_visible()
    await expect(graph_node(page, "second")).to_have_count(0)
    await expect(page.locator(".badge")).to_have_text("v4")


async def test_upload_a_document_and_search_it(console: Page) -> None:
    page = console
    await sign_up(page)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    await page.get_by_label("New knowledge base").fill("handbook")
    await page.get_by_role("button", name="Create knowledge base").click()
    await page.get_by_label("Upload a document").set_input_files(
        files=[
            {
                "name": "hours.txt",
                "mimeType": "text/plain",
                "buffer": b"Opening hours\n\nThe office opens at nine and closes at five.\n",
            }
        ]
    )
    docs = page.get_by_label("Documents")
    await expect(docs.locator("tr", has_text="hours")).to_contain_text("ready", timeout=30_000)
    await page.get_by_label("Search query").fill("when does the office open")
    await page.get_by_role("button", name="Search", exact=True).click()
    results = page.get_by_label("Search results")
    await expect(results).to_contain_text("opens at nine")
    await expect(results.locator(".scores").first).to_contain_text("fused")
    await expect(results.locator(".cite").first).to_contain_text("hours")


async def test_an_api_key_is_shown_once(console: Page) -> None:
    page = console
    await sign_up(page)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    await page.get_by_role("tab", name="API keys").click()
    await page.get_by_label("Key name").fill("ci")
    await page.get_by_role("button", name="Create API key").click()
    key = page.get_by_label("API key", exact=True)
    await expect(key).to_have_text(re.compile(r"^ad_\S{20,}$"))
    secret = await key.inner_text()
    await expect(page.get_by_label("API keys").locator("tr", has_text="ci")).to_be_visible()
    await page.reload()
    await expect(page.get_by_label("API keys").locator("tr", has_text="ci")).to_be_visible()
    assert secret not in await page.content()


async def test_another_orgs_resources_never_appear(
    console: Page, browser: Any, console_server: Served
) -> None:
    page = console
    await sign_up(page)
    agent_id = await import_agent(page, VERSIONED)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Knowledge").click()
    await page.get_by_label("New knowledge base").fill("secret-kb")
    await page.get_by_role("button", name="Create knowledge base").click()
    await expect(page.get_by_label("Knowledge bases")).to_contain_text("secret-kb")

    other = await (await browser.new_context(base_url=console_server.url)).new_page()
    try:
        await sign_up(other)
        await expect(other.get_by_text("No agents yet")).to_be_visible()
        await other.keyboard.press("Control+k")
        await other.get_by_label("Command", exact=True).fill("versioned")
        await expect(
            other.get_by_role("dialog", name="Command palette").get_by_role("option")
        ).to_have_count(0)
        await other.keyboard.press("Escape")
        await other.goto(f"/agents/{agent_id}")
        await expect(other.get_by_role("alert")).to_be_visible()
        await expect(other.get_by_text("versioned")).to_have_count(0)
        await other.goto("/knowledge")
        await expect(other.get_by_text("Create a knowledge base to add documents.")).to_be_visible()
        await expect(other.get_by_text("secret-kb")).to_have_count(0)
        await other.goto("/runs")
        await expect(other.get_by_text("No runs.")).to_be_visible()
    finally:
        await other.context.close()


async def test_command_palette_reaches_pages_and_agents(console: Page) -> None:
    page = console
    await sign_up(page)
    agent_id = await import_agent(page, VERSIONED)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Runs").click()
    await page.keyboard.press("Control+k")
    await page.get_by_label("Command", exact=True).fill("versi")
    # The palette loads the agents when it opens: Enter picks the agent once it is listed.
    palette = page.get_by_role("dialog", name="Command palette")
    await expect(palette.get_by_role("option").first).to_contain_text("versioned")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/agents/{agent_id}")
    await page.keyboard.press("Control+k")
    await page.get_by_label("Command", exact=True).fill("audit")
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("tab", name="Audit log")).to_have_attribute(
        "aria-selected", "true"
    )
