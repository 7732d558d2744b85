"""The issue's "done when", in one pass: a knowledge base gets a PDF, a DOCX, a Markdown file
and a small website; each reaches `ready`, and hybrid search answers with page and heading
citations. (An agent citing these passages is `tests/run/test_retrieval_port.py`.)

Runs on SQLite and on PostgreSQL (CI runs both); embeddings come from the registry's
hashing seam, the rest is real: HTTP API, job handlers, loaders, the crawler against a
local site, the store.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.crawl_site import Site, page, serve
from tests.knowledge.support import KB, drain
from tests.rag.docs import make_docx, make_pdf

HANDBOOK_MD = (
    "# Handbook\n\n## Expenses\n\nReceipts for travel expenses are due within thirty days.\n\n"
    "## Parking\n\nVisitor parking is behind the north entrance.\n"
)


@pytest.fixture
def site() -> Iterator[Site]:
    with serve(
        {
            "/": page("Cafeteria", "The cafeteria serves soup every Tuesday.", ["/menu"]),
            "/menu": page("Menu", "Lentil soup, barley bread and apple cake."),
        }
    ) as running:
        yield running


@pytest.fixture(autouse=True)
def _allow_local_crawls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENTDECK_CRAWL__ALLOW_PRIVATE_URLS", "true")


async def test_documents_and_a_website_become_searchable_with_citations(
    client: httpx.AsyncClient, app: Any, kb: KB, site: Site
) -> None:
    pdf = make_pdf(["Chapter one: the archive opens at eight.", "Fire doors must stay shut."])
    uploads = [
        await kb.upload("rules.pdf", pdf, "application/pdf"),
        await kb.upload(
            "handbook.docx",
            make_docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
        await kb.upload("handbook.md", HANDBOOK_MD.encode(), "text/markdown"),
    ]
    assert [u.status_code for u in uploads] == [202, 202, 202], [u.text for u in uploads]
    source = await client.post(
        f"{kb.url}/sources", json={"start_url": site.base + "/", "delay_s": 0},
        headers=kb.tenant.headers,
    )  # fmt: skip
    assert source.status_code == 201, source.text
    crawl = await client.post(
        f"{kb.url}/sources/{source.json()['id']}/crawl", headers=kb.tenant.headers
    )
    assert crawl.status_code == 202, crawl.text

    await drain(app.state.runtime.sessionmaker)

    listed = await client.get(f"{kb.url}/documents", headers=kb.tenant.headers)
    documents = listed.json()["items"]
    assert len(documents) == 5  # three files and two pages
    assert {d["status"] for d in documents} == {"ready"}, documents

    [fire] = await kb.search("fire doors shut", mode="hybrid", top_k=1)
    assert fire["document_title"] == "rules.pdf" and fire["page"] == 2
    assert "Fire doors" in fire["text"] and fire["end"] > fire["start"]
    [receipts] = await kb.search("travel expenses receipts", mode="hybrid", top_k=1)
    assert receipts["heading"] == "Expenses" and "thirty days" in receipts["text"]
    [drills] = await kb.search("fire drills every quarter", mode="hybrid", top_k=1)
    assert drills["heading"] == "Fire drills"  # the DOCX heading path is kept
    [soup] = await kb.search("lentil soup menu", mode="hybrid", top_k=1)
    assert soup["source_url"] == site.base + "/menu"
