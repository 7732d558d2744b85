"""Settings > Members in headless chromium: invite someone into the organisation (they join
with the token on the sign-up form), change their organisation role, make a shared space,
add them to it by e-mail, change their space role, see the API's refusals on the row or
form they concern, remove them; another organisation's members never appear."""

from __future__ import annotations

import uuid

import pytest
from playwright.async_api import Browser, Page, expect

from tests.console.conftest import Served

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple"


def _email(who: str) -> str:
    return f"{who}-{uuid.uuid4().hex[:8]}@example.org"


async def sign_up(page: Page, email: str, invite: str | None = None) -> None:
    await page.goto("/")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    if invite:
        await page.get_by_label("Invitation token").fill(invite)
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("navigation", name="Main")).to_be_visible()


async def open_members(page: Page) -> None:
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Settings").click()
    await page.get_by_role("tab", name="Members").click()
    await expect(page.get_by_label("Members", exact=True)).to_be_visible()


async def test_space_members_and_roles(
    console: Page, browser: Browser, console_server: Served
) -> None:
    page = console
    owner, member, stranger = _email("owner"), _email("member"), _email("stranger")
    await sign_up(page, owner)
    await open_members(page)

    # Someone in another organisation (signed up on their own).
    elsewhere = await (await browser.new_context(base_url=console_server.url)).new_page()
    invited = await (await browser.new_context(base_url=console_server.url)).new_page()
    try:
        await sign_up(elsewhere, stranger)

        await page.get_by_label("Invite email").fill(member)
        await page.get_by_role("button", name="Invite", exact=True).click()
        token = await page.get_by_label("New invitation token").inner_text()
        await expect(page.get_by_label("Pending invitations")).to_contain_text(member)
        await sign_up(invited, member, invite=token)  # joins the owner's organisation

        await page.reload()
        org = page.get_by_label("Members", exact=True)
        await expect(org.locator("tr", has_text=member)).to_contain_text("member")
        await expect(page.get_by_label("Pending invitations")).to_have_count(0)

        await page.get_by_label("Space name").fill("Research")
        await page.get_by_role("button", name="Create space").click()
        research = page.get_by_label("Space Research")
        table = research.get_by_label("Members of Research")
        await expect(table.locator("tr", has_text=owner)).to_contain_text("owner")
        await expect(page.get_by_label("Space", exact=True)).to_contain_text("Research")

        add = research.get_by_label("Email of the member to add to Research")
        await add.fill(member)
        await research.get_by_label("Role in Research").select_option("viewer")
        await research.get_by_role("button", name="Add to space").click()
        await expect(research.get_by_label(f"Role of {member} in Research")).to_have_value("viewer")

        # Refusals, shown where they happened: a stranger cannot be added (not in the org),
        # a member cannot be added twice (the API's 409), the last owner cannot step down.
        await add.fill(stranger)
        await research.get_by_role("button", name="Add to space").click()
        await expect(research.get_by_role("alert")).to_contain_text("is not a member of")
        await add.fill(member)
        await research.get_by_role("button", name="Add to space").click()
        await expect(research.get_by_role("alert")).to_contain_text("already a member")
        await research.get_by_label(f"Role of {owner} in Research").select_option("viewer")
        mine = table.locator("tr", has_text=owner)
        await expect(mine.get_by_role("alert")).to_contain_text("at least one owner")
        await expect(research.get_by_label(f"Role of {owner} in Research")).to_have_value("owner")

        await research.get_by_label(f"Role of {member} in Research").select_option("editor")
        await expect(research.get_by_label(f"Role of {member} in Research")).to_have_value("editor")
        await invited.reload()  # the member sees the space with their new role
        await open_members(invited)
        await expect(invited.get_by_label("Space Research")).to_contain_text("your role: editor")

        await research.get_by_role("button", name=f"Remove {member} from Research").click()
        await expect(table.locator("tr", has_text=member)).to_have_count(0)

        await page.reload()  # what the server kept
        research = page.get_by_label("Space Research")
        await expect(
            research.get_by_label("Members of Research").locator("tbody tr")
        ).to_have_count(1)
        await invited.reload()
        await open_members(invited)
        await expect(invited.get_by_label("Space Research")).to_have_count(0)

        # An organisation admin manages every shared space without being one of its members.
        await page.get_by_label(f"Role of {member}", exact=True).select_option("admin")
        await expect(page.get_by_label(f"Role of {member}", exact=True)).to_have_value("admin")
        await page.reload()
        await expect(page.get_by_label(f"Role of {member}", exact=True)).to_have_value("admin")
        await invited.reload()
        await open_members(invited)
        await expect(invited.get_by_label("Space Research")).to_contain_text(
            "you manage it as organisation admin"
        )

        # Another organisation's members never appear, on either side.
        assert stranger not in await page.content()
        await open_members(elsewhere)
        await expect(
            elsewhere.get_by_label("Members", exact=True).locator("tbody tr")
        ).to_have_count(1)
        for email in (owner, member):
            assert email not in await elsewhere.content()
    finally:
        await elsewhere.context.close()
        await invited.context.close()
