"""The website crawler against a small site on a real local HTTP server (127.0.0.1)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from agentdeck.rag.crawl import (
    CrawlError,
    CrawlOptions,
    canonical_url,
    crawl,
    crawl_all,
    path_allowed,
    validate_start_url,
)
from tests.crawl_site import Route, Site, page, serve

FAST = CrawlOptions(delay=0, allow_private=True, max_depth=10, max_pages=100)


def _routes() -> dict[str, Route]:
    chain = {f"/chain/{i}": page(f"Chain {i}", f"Link {i} of a deep chain.", [f"/chain/{i + 1}"])
             for i in range(1, 8)}  # fmt: skip
    return {
        "/robots.txt": Route(
            "User-agent: agentdeck\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n",
            content_type="text/plain",
        ),
        "/": page(
            "Home",
            "Welcome to the municipal library of Exampletown.",
            [
                "/about",
                "/about#team",
                "docs/intro",
                "/private/secret",
                "http://external.invalid/page",
                "/missing",
                "/download",
                "/chain/1",
                "/moved",
                "/away",
                "mailto:desk@example.org",
            ],
        ),
        "/about": page("About", "Opening hours are nine to five on weekdays.", ["/", "./"]),
        "/docs/intro": page("Intro", "How to borrow books with a library card.", ["../docs/faq"]),
        "/docs/faq": page("FAQ", "Fines are waived for children under twelve.", ["/docs/intro"]),
        "/private/secret": page("Secret", "The staff room code."),
        "/download": Route(b"\x00\x01binary" * 100, content_type="application/octet-stream"),
        "/moved": Route("", status=301, headers={"Location": "/moved-here"}),
        "/moved-here": page("Moved", "This page moved here from elsewhere."),
        "/away": Route("", status=302, headers={"Location": "http://external.invalid/"}),
        **chain,
    }


@pytest.fixture
def site() -> Iterator[Site]:
    with serve(_routes()) as running:
        yield running


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def _path(site: Site, url: str) -> str:
    return url.removeprefix(site.base)


async def test_crawl_follows_same_host_links_and_reports_each_url(
    site: Site, client: httpx.AsyncClient
) -> None:
    report = await crawl_all(client, site.base + "/", FAST)

    pages = {_path(site, p.url): p for p in report.pages}
    assert {"/", "/about", "/docs/intro", "/docs/faq", "/moved-here"} <= set(pages)
    assert "Opening hours are nine to five" in pages["/about"].text
    assert pages["/about"].title == "About"
    assert pages["/about"].depth == 1 and pages["/docs/faq"].depth == 2
    assert pages["/moved-here"].depth == 1  # a redirect target keeps the depth of its link
    assert b"<title>About</title>" in pages["/about"].html
    assert all(p.changed and len(p.content_hash) == 64 for p in report.pages)

    skipped = {(_path(site, s.url), s.reason) for s in report.skipped}
    assert ("/private/secret", "robots") in skipped
    assert ("/download", "not_html") in skipped
    assert ("/away", "offsite_redirect") in skipped
    errors = {_path(site, e.url): e for e in report.errors}
    assert errors["/missing"].error == "http_status" and errors["/missing"].status_code == 404

    # robots.txt first, each URL once (fragments dropped, ./ and ../ resolved), nothing
    # disallowed and nothing off-site requested, with our user agent
    assert site.paths[0] == "/robots.txt"
    assert len(site.paths) == len(set(site.paths))
    assert "/private/secret" not in site.paths
    assert all("agentdeck" in agent for _, _, agent in site.log)


async def test_max_depth_stops_the_chain(site: Site, client: httpx.AsyncClient) -> None:
    report = await crawl_all(client, site.base + "/", CrawlOptions(delay=0, allow_private=True,
                                                                   max_depth=3))  # fmt: skip
    chain = sorted(_path(site, p.url) for p in report.pages if "/chain/" in p.url)
    assert chain == ["/chain/1", "/chain/2", "/chain/3"]
    assert "/chain/4" not in site.paths


async def test_max_pages_counts_requests(site: Site, client: httpx.AsyncClient) -> None:
    report = await crawl_all(client, site.base + "/", CrawlOptions(delay=0, allow_private=True,
                                                                   max_pages=3))  # fmt: skip
    assert len(site.paths) == 1 + 3  # robots.txt + three pages
    assert len(report.pages) + len(report.skipped) + len(report.errors) >= 3


async def test_include_and_exclude_globs_on_the_path(site: Site, client: httpx.AsyncClient) -> None:
    options = CrawlOptions(delay=0, allow_private=True, include=["/docs/*", "/chain/*"],
                           exclude=["/chain/[3-9]", "*faq"])  # fmt: skip
    report = await crawl_all(client, site.base + "/", options)
    assert sorted(_path(site, p.url) for p in report.pages) == [
        "/", "/chain/1", "/chain/2", "/docs/intro",
    ]  # fmt: skip
    assert "/about" not in site.paths and "/docs/faq" not in site.paths


def test_path_allowed() -> None:
    assert path_allowed("/a/b", [], [])
    assert path_allowed("/docs/x/y.html", ["/docs/*"], [])
    assert not path_allowed("/blog/x", ["/docs/*"], [])
    assert not path_allowed("/docs/old/x", ["/docs/*"], ["/docs/old/*"])


async def test_known_hashes_mark_unchanged_pages_and_a_change_is_seen(
    site: Site, client: httpx.AsyncClient
) -> None:
    first = await crawl_all(client, site.base + "/", FAST)
    known = {p.url: p.content_hash for p in first.pages}

    site.routes["/about"] = page("About", "Opening hours are now ten to six on weekdays.")
    second = await crawl_all(client, site.base + "/", FAST, known_hashes=known)

    assert [_path(site, p.url) for p in second.changed] == ["/about"]
    assert "ten to six" in second.changed[0].text
    assert {p.url for p in second.unchanged} == set(known) - {site.base + "/about"}
    # unchanged pages still lead to their links: the whole site was walked again
    assert {p.url for p in second.pages} == set(known)


async def test_menu_only_changes_do_not_change_the_hash(
    site: Site, client: httpx.AsyncClient
) -> None:
    body = "A long article about the history of the library and its many collections. " * 20
    site.routes["/"] = Route(
        f"<html><head><title>Art</title></head><body><nav><a href='/x'>Menu A</a></nav>"
        f"<article><h1>History</h1><p>{body}</p></article></body></html>"
    )
    first = await crawl_all(client, site.base + "/", CrawlOptions(delay=0, allow_private=True,
                                                                  max_pages=1))  # fmt: skip
    site.routes["/"] = Route(str(site.routes["/"].body).replace("Menu A", "Menu B (new)"))
    second = await crawl_all(
        client, site.base + "/", CrawlOptions(delay=0, allow_private=True, max_pages=1),
        known_hashes={first.pages[0].url: first.pages[0].content_hash},
    )  # fmt: skip
    assert second.pages[0].changed is False


async def test_too_large_and_timeout_are_per_page_errors(
    site: Site, client: httpx.AsyncClient
) -> None:
    site.routes["/"] = page("Home", "Start here.", ["/big", "/slow", "/chunked-big", "/ok"])
    site.routes["/big"] = page("Big", "x" * 50_000)
    site.routes["/slow"] = Route(page("Slow", "late").body, sleep=1.5)
    site.routes["/chunked-big"] = Route(page("Big", "y" * 50_000).body, send_length=False)
    site.routes["/ok"] = page("OK", "This page is fine and arrives after the failures.")
    options = CrawlOptions(delay=0, allow_private=True, max_bytes=10_000, timeout=0.5)

    report = await crawl_all(client, site.base + "/", options)

    errors = {_path(site, e.url): e.error for e in report.errors}
    assert errors == {"/big": "too_large", "/slow": "timeout", "/chunked-big": "too_large"}
    assert "/ok" in {_path(site, p.url) for p in report.pages}


async def test_politeness_delay_between_requests(site: Site, client: httpx.AsyncClient) -> None:
    await crawl_all(client, site.base + "/about", CrawlOptions(delay=0.25, allow_private=True,
                                                               max_pages=3))  # fmt: skip
    times = [t for t, _, _ in site.log]
    assert len(times) == 4
    assert all(b - a >= 0.2 for a, b in itertools.pairwise(times))  # server-side times


async def test_robots_crawl_delay_is_respected(site: Site, client: httpx.AsyncClient) -> None:
    # urllib.robotparser reads whole seconds only
    site.routes["/robots.txt"] = Route("User-agent: agentdeck\nCrawl-delay: 1\n",
                                       content_type="text/plain")  # fmt: skip
    await crawl_all(client, site.base + "/about", CrawlOptions(delay=0, allow_private=True,
                                                               max_pages=1))  # fmt: skip
    times = [t for t, _, _ in site.log]
    assert len(times) == 2
    # server-side arrival times: the first request may be logged a little after it was sent
    assert times[1] - times[0] >= 0.9


async def test_missing_robots_allows_all_and_broken_robots_disallows_all(
    site: Site, client: httpx.AsyncClient
) -> None:
    del site.routes["/robots.txt"]
    report = await crawl_all(client, site.base + "/", FAST)
    assert site.base + "/private/secret" in {p.url for p in report.pages}

    site.routes["/robots.txt"] = Route("oops", status=503, content_type="text/plain")
    site.log.clear()
    report = await crawl_all(client, site.base + "/", FAST)
    assert report.pages == []
    assert report.errors[0].url == site.base + "/robots.txt"
    assert [s.reason for s in report.skipped] == ["robots"]
    assert site.paths == ["/robots.txt"]


async def test_noindex_and_nofollow(site: Site, client: httpx.AsyncClient) -> None:
    site.routes["/"] = Route(
        "<html><head><meta name='robots' content='noindex'></head><body>"
        "<a href='/about'>about</a><a rel='nofollow' href='/docs/intro'>intro</a></body></html>"
    )
    site.routes["/about"] = Route(
        "<html><head><meta name='ROBOTS' content='nofollow'></head><body><p>Hours.</p>"
        "<a href='/docs/faq'>faq</a></body></html>"
    )
    report = await crawl_all(client, site.base + "/", FAST)
    assert [(_path(site, s.url), s.reason) for s in report.skipped] == [("/", "noindex")]
    assert [_path(site, p.url) for p in report.pages] == ["/about"]
    assert site.paths == ["/robots.txt", "/", "/about"]


async def test_private_addresses_are_refused_unless_allowed(
    site: Site, client: httpx.AsyncClient
) -> None:
    for url in (site.base + "/", site.base.replace("127.0.0.1", "localhost") + "/"):
        with pytest.raises(CrawlError) as caught:
            await crawl_all(client, url, CrawlOptions(delay=0))
        assert caught.value.reason == "private_address"
    assert site.paths == []  # refused before any request


async def test_events_stream_as_the_crawl_goes(site: Site, client: httpx.AsyncClient) -> None:
    seen = []
    async for event in crawl(client, site.base + "/", FAST):
        seen.append(event.kind)
        if len(seen) == 2:
            break
    assert len(seen) == 2
    assert len(site.paths) <= 4


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("example.org/page", "scheme"),
        ("http://", "invalid_url"),
        ("http://user:pw@example.org/", "invalid_url"),
        ("http://example.org:99999/", "invalid_url"),
        ("http://example.org/" + "a" * 3000, "invalid_url"),
    ],
)
def test_bad_start_urls(url: str, reason: str) -> None:
    with pytest.raises(CrawlError) as caught:
        validate_start_url(url)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://Example.ORG", "http://example.org/"),
        ("http://example.org:80/a/./b/../c#frag", "http://example.org/a/c"),
        ("https://example.org:443/docs/", "https://example.org/docs/"),
        ("https://example.org:8443/x?b=2&a=1", "https://example.org:8443/x?b=2&a=1"),
        ("http://example.org/%7euser/a%2fb%20c", "http://example.org/~user/a%2Fb%20c"),
        ("http://example.org//double//slash", "http://example.org/double/slash"),
        ("mailto:a@example.org", None),
    ],
)
def test_canonical_url(url: str, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


def test_canonical_url_resolves_relative_links() -> None:
    assert canonical_url("../b?q=1#x", "http://h.example/a/c/d") == "http://h.example/a/b?q=1"
    assert canonical_url("//other.example/p", "https://h.example/") == "https://other.example/p"


async def test_requests_go_to_the_checked_address_with_the_real_host_name() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/robots.txt":
            return httpx.Response(404)
        if request.url.path == "/":
            return httpx.Response(
                200,
                html='<html><body><p>Hello docs.</p><a href="/next">next</a>'
                '<a href="https://docs.example.org/abs">abs</a></body></html>',
            )
        return httpx.Response(200, html="<html><body><p>Another page.</p></body></html>")

    async def resolve(host: str, port: int) -> list[str]:
        assert (host, port) == ("docs.example.org", 443)
        return ["93.184.216.34"]

    options = CrawlOptions(delay=0, resolver=resolve)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        report = await crawl_all(http, "https://docs.example.org/", options)

    assert [p.url for p in report.pages] == [
        "https://docs.example.org/", "https://docs.example.org/next",
        "https://docs.example.org/abs",
    ]  # fmt: skip
    assert {r.url.host for r in seen} == {"93.184.216.34"}
    assert {r.headers["host"] for r in seen} == {"docs.example.org"}
    assert {r.extensions["sni_hostname"] for r in seen} == {"docs.example.org"}


@pytest.mark.parametrize(
    ("addresses", "reason"),
    [
        (["93.184.216.34", "10.1.2.3"], "private_address"),
        (["::ffff:127.0.0.1"], "private_address"),
        (["169.254.169.254"], "private_address"),
        (["fd00::1"], "private_address"),
        ([], "dns"),
        (None, "dns"),
    ],
)
async def test_a_host_with_any_private_address_is_refused(
    addresses: list[str] | None, reason: str
) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        if addresses is None:
            raise OSError("no such host")
        return addresses

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request may be sent: {request.url}")

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        with pytest.raises(CrawlError) as caught:
            await crawl_all(http, "http://rebind.example/", CrawlOptions(resolver=resolve))
    assert caught.value.reason == reason
